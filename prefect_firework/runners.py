"""Running the batch flows' tasks on other processes or machines, and what that requires.

The batch flows (``upload_videos``, ``import_videos``, ``update_videos``, ``get_videos``) and
``upload_video`` default to a bounded ``ThreadPoolTaskRunner`` (16 threads; ``max_concurrency``
bounds the task runs in flight). Any Prefect task runner can take its place::

    from prefect_dask import DaskTaskRunner          # pip install 'prefect-firework[dask]'
    from prefect_ray import RayTaskRunner            # pip install 'prefect-firework[ray]'
    from prefect_firework.flows._batch import upload_videos

    dask = upload_videos.with_options(task_runner=DaskTaskRunner(address="tcp://scheduler:8786"))
    ray = upload_videos.with_options(task_runner=RayTaskRunner(address="ray://head:10001"))
    results = dask("s3://media/manifests/2026-11-27.parquet", credentials="firework",
                   max_concurrency=64, max_uploads_in_flight=32)

or, from a deployment, the ``cluster_address`` parameter of ``upload-manifest``
(:func:`cluster_task_runner` picks Dask or Ray from the address).

What makes this work
--------------------
- **Tasks get references, not data.** Every task receives and returns small picklable values:
  the credentials block (or its name), pydantic models, URIs, ids, part ranges, ETags, under
  4 KiB each (``tests/deployments/test_distributed.py`` pickles every one). Bytes move from
  the source to S3 inside the part task, on whichever machine runs it. ``transport_params``
  must be plain JSON-like data (``{"client_kwargs": {...}}``), not a live boto3 client.
- **The pacer and the ledger stay in the flow's process.** The flow's driver asks the pacer for
  a create slot and takes the ledger's lock *between* task runs, in the flow run's own process;
  tasks never touch them. So one flow run is paced and idempotent however its tasks are spread.

What it requires
----------------
- Every task machine reaches the sources (``s3://``, ``gs://``, ``https://`` or a shared file
  system; a local path exists only where it was written), the Firework API, and the Prefect
  API (``PREFECT_API_URL``; and the credentials block, when passed by name). The flow's own
  machine reads them too: the batch flows preflight each file row there (a plain call, not a
  task run: it sends nothing to Firework), as they read the manifest and write the ledger.
- Resume after a crash needs the part results where the next run looks: set
  ``PREFECT_DEFAULT_RESULT_STORAGE_BLOCK`` to a shared block (e.g. ``s3-bucket/firework``) on
  every machine. Without it a rerun simply uploads the parts again.
- **Several flow runs at once** (several deployments, workers or machines on the same
  channels) need the shared versions of the pacer and the ledger:

  - ``shared_rate_limit=True`` and one Prefect global concurrency limit per channel, so all
    runs draw from one 20-per-5-minutes budget:
    ``prefect gcl create firework-create-<channel_id> --limit 1 --slot-decay-per-second 0.0612``
  - the ledger on shared storage (``ledger="s3-bucket/firework-ledger"``), so a run on one
    machine sees what a run on another created. Its default per-key locks are file locks on
    one machine: runs of the *same manifest* on several machines at once need a distributed
    lock manager (``Ledger(S3Bucket.load(...), lock_manager=RedisLockManager(...))`` from
    prefect-redis) or, simpler, ``concurrency_limit: 1`` on the deployment, as prefect.yaml
    sets, so two runs of it never overlap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

__all__ = ["cluster_task_runner"]


def cluster_task_runner(address: str) -> TaskRunner[Any]:
    """A task runner connected to an existing cluster: a ``ray://head:10001`` address gives a
    ``RayTaskRunner``, any other (``tcp://scheduler:8786``, ``tls://...``) a ``DaskTaskRunner``.

    The runners are imported here, not at module top: prefect-dask and prefect-ray are the
    optional ``dask`` and ``ray`` extras, and a missing one is named in the error.
    """
    address = address.strip()
    if not address:
        raise ValueError("a cluster address is required, e.g. tcp://scheduler:8786")
    if address.startswith("ray://"):
        try:
            # ray itself first: prefect-ray imports it lazily (importlib's LazyLoader), and a
            # ray loaded that way can lack ray.util.client, which ray.init("ray://...") needs
            import ray  # noqa: F401
            from prefect_ray import RayTaskRunner
        except ImportError as exc:
            raise RuntimeError(
                f"{address!r} is a Ray address and needs prefect-ray on every machine: "
                "pip install 'prefect-firework[ray]'"
            ) from exc
        return RayTaskRunner(address=address)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:  # pragma: no cover - the dev environment has the extra
        raise RuntimeError(
            f"{address!r} is a Dask address and needs prefect-dask on every machine: "
            "pip install 'prefect-firework[dask]'"
        ) from exc
    return DaskTaskRunner(address=address)
