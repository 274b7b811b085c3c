"""Background task workers: a fleet of processes that upload videos submitted with ``.delay``.

A web app or a queue consumer that receives one video at a time does not need a flow per
video on a schedule: it calls ``upload_video_task.delay(...)`` and returns; any process
running ``prefect task serve --module prefect_firework.workers`` (as many as you like, on as
many machines) picks the run up, uploads, and stores the ``Video`` where the submitter can
read it with ``future.result()``::

    # on each worker machine
    prefect task serve --module prefect_firework.workers --limit 4

    # anywhere with access to the same Prefect API and result storage
    from prefect_firework.workers import upload_video_task

    future = upload_video_task.delay("s3://media/launch.mp4", "X6Xqd6W", "Launch day",
                                     credentials="firework")
    video = future.result()

Every task in this module is served by that command: ``upload_video_task`` and
``import_video_task`` (one whole video each: they run the ``upload_video`` / ``import_video``
flow inside the task, with its preflight, parallel multipart parts, resume cache and retries)
and the single-request building blocks ``get_video`` and ``update_video``. Any other task of
``prefect_firework.tasks`` can be served the same way (``--module prefect_firework.tasks``):
their parameters and results are small picklable models, ids and URIs.

Requirements (Prefect's, for every background task):

- a Prefect server or Cloud, ``PREFECT_API_URL`` set on submitters and workers (task
  workers do not work with the ephemeral API);
- parameters travel through the *task scheduling storage* and results through the *result
  storage*: both must be the same for submitters and workers. On one machine the default
  (``~/.prefect/storage``) is shared; across machines set
  ``PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK`` and ``PREFECT_DEFAULT_RESULT_STORAGE_BLOCK``
  to a shared block (e.g. ``s3-bucket/firework-results``) everywhere;
- pass ``credentials`` as a saved block's *name*: parameters are written to that storage,
  and a name keeps the secret in the Prefect API, never in a file;
- the same version of prefect-firework on both sides: a run is matched to a served task by
  the task's key, which includes a hash of its code.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import task
from prefect.cache_policies import CachePolicy

from prefect_firework._redact import display_name
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows._import import import_video
from prefect_firework.flows._upload import upload_video
from prefect_firework.models import Video, VideoImport
from prefect_firework.tasks import get_video, update_video

__all__ = [
    "WORKER_TASKS",
    "get_video",
    "import_video_task",
    "serve_workers",
    "update_video",
    "upload_video_task",
]


class ThisRunOnly(CachePolicy):
    """Key a task's persisted result by its own run id: stored for the submitter to read,
    never reused by another run.

    A task worker gives tasks without a cache policy Prefect's ``DEFAULT`` one (inputs, code
    and run id), which would hash the credentials and, inside a flow, share a result between
    two uploads of the same file. Two ``.delay`` calls are two intents to upload; whether a
    file was uploaded before is the batch ledger's business, not a cache's.
    """

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return f"prefect-firework-run-{task_ctx.task_run.id}" if task_ctx else None


def _source_name(parameters: dict[str, Any]) -> str:
    return display_name(parameters.get("source") or parameters.get("url") or "")


@task(
    name="upload_video_task",
    cache_policy=ThisRunOnly(),
    persist_result=True,
    task_run_name=lambda parameters: f"upload-video-{_source_name(parameters)}",  # type: ignore[arg-type]
)
def upload_video_task(
    source: str,
    channel_id: str,
    caption: str,
    metadata: dict[str, Any] | None = None,
    credentials: FireworkCredentials | str | None = None,
    strategy: Literal["auto", "single", "multipart"] = "auto",
    part_size: int | None = None,
    max_concurrency: int = 8,
    transport_params: dict[str, Any] | None = None,
    verify_md5: bool = True,
) -> Video:
    """Upload one video, as the ``upload_video`` flow does, from inside one task run.

    The flow runs nested in the task (its parts are tasks on the worker's threads), so a
    worker process uploads one video with the flow's parallelism, resume and retries, and the
    task's result is the created ``Video``. Not retried as a whole: the flow's steps retry
    what is safe to retry, and a blind second attempt could create the video twice.
    """
    return upload_video(
        source,
        channel_id,
        caption,
        metadata=metadata,
        credentials=credentials,
        strategy=strategy,
        part_size=part_size,
        max_concurrency=max_concurrency,
        transport_params=transport_params,
        verify_md5=verify_md5,
    )


@task(
    name="import_video_task",
    cache_policy=ThisRunOnly(),
    persist_result=True,
    task_run_name=lambda parameters: f"import-video-{_source_name(parameters)}",  # type: ignore[arg-type]
)
def import_video_task(
    url: str,
    channel_id: str,
    caption: str,
    metadata: dict[str, Any] | None = None,
    mode: Literal["sync", "async"] = "async",
    wait: bool = True,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    credentials: FireworkCredentials | str | None = None,
) -> Video | VideoImport:
    """Import one video from a public URL, as the ``import_video`` flow does."""
    return import_video(
        url,
        channel_id,
        caption,
        metadata=metadata,
        mode=mode,
        wait=wait,
        poll_interval=poll_interval,
        timeout=timeout,
        credentials=credentials,
    )


#: what ``prefect task serve --module prefect_firework.workers`` and :func:`serve_workers` serve
WORKER_TASKS = (upload_video_task, import_video_task, get_video, update_video)


def serve_workers(*, limit: int | None = 10, timeout: float | None = None) -> None:
    """Serve :data:`WORKER_TASKS` in this process until stopped (SIGTERM or Ctrl-C).

    ``limit`` bounds the task runs this process executes at once (each upload runs up to its
    ``max_concurrency`` part uploads on top of that); ``timeout`` stops serving after that
    many seconds.
    """
    from prefect.task_worker import serve  # the worker machinery only where it serves

    serve(*WORKER_TASKS, limit=limit, timeout=timeout)
