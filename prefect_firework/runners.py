"""Task runners for the flows beyond the default thread pool: Dask or Ray, picked from an address.

What a task runner needs of the flows (references, not data; the pacer and the ledger stay in
the flow's process) and what several machines need: docs/ARCHITECTURE.md ("Running beyond one
thread pool").
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
