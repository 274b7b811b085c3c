"""Background task workers: processes that upload videos submitted with ``.delay``.

``prefect task serve --module prefect_firework.workers`` serves ``upload_video_task``,
``import_video_task``, ``get_video`` and ``update_video``; a web app calls
``upload_video_task.delay(...)`` and reads ``future.result()``. Requirements (a Prefect server,
shared scheduling and result storage, credentials by block name): docs/ARCHITECTURE.md
("Background task workers") and the README.
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

    Args:
        source: The video file: a local path or any URI smart-open reads, as the worker
            sees it.
        channel_id: The encoded id of the channel to upload to.
        caption: The video's caption (required, not blank).
        metadata: Other metadata fields (description, hashtags, product_ids, ...).
        credentials: A saved ``FireworkCredentials`` block's name (what ``.delay`` should
            pass: parameters are stored until a worker runs them), a block, or None for the
            worker's ``FIREWORK_*`` settings.
        strategy: ``auto`` (by size), ``single`` (one presigned POST) or ``multipart``.
        part_size: Bytes per multipart part (default: chosen from the size and concurrency).
        max_concurrency: Parts uploaded at once.
        transport_params: smart-open transport parameters for reading ``source`` (stored
            with the submitted run, like every parameter).
        verify_md5: Check each part's integrity (Content-MD5 or its ETag).

    Returns:
        The created ``Video``.
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
    """Import one video from a public URL, as the ``import_video`` flow does.

    Args:
        url: The public http(s) URL Firework downloads the video from.
        channel_id: The encoded id of the channel to create the video on.
        caption: The video's caption (required, not blank).
        metadata: Other metadata fields (description, hashtags, product_ids, ...).
        mode: ``sync`` (Firework downloads within the request, small files) or ``async``
            (the default: an import job in the background).
        wait: With ``async``: poll until the import is ``completed`` and return the video;
            False returns the import job as soon as it is created.
        poll_interval: Seconds between polls of the import (``async`` with ``wait``).
        timeout: Seconds to wait for the import in all (``async`` with ``wait``).
        credentials: A saved ``FireworkCredentials`` block's name (what ``.delay`` should
            pass: parameters are stored until a worker runs them), a block, or None for the
            worker's ``FIREWORK_*`` settings.

    Returns:
        The created ``Video``, or the ``VideoImport`` job with ``async`` and ``wait=False``.
    """
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
