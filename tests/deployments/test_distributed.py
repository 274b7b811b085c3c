"""Distributed execution: what tasks receive and return pickles and stays small, and
``upload_videos`` on a Dask cluster of worker processes gives what the thread runner gives."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from typing import Any

import distributed
import pandas as pd
import pytest
from deployments_support import MIB, manifest_rows, write_csv
from flow_results import results_of
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from prefect_firework.batch._ledger import Ledger
from prefect_firework.flows import get_videos, update_videos, upload_videos
from prefect_firework.flows.deployments import upload_manifest
from prefect_firework.runners import cluster_task_runner
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

#: a task's pickled parameters or result above this would be carrying data, not references
#: (the largest here, the presigned URLs of a 2-part multipart initiate, is about 2 KiB)
SMALL = 4 * 1024


class PicklingTaskRunner(ThreadPoolTaskRunner):
    """A thread runner that pickles every task's parameters and result the way a process or
    cluster runner must, and records their sizes: what Dask or Ray would have to ship."""

    def __init__(self, max_workers: int = 16, seen: list[tuple[str, str, int]] | None = None):
        super().__init__(max_workers=max_workers)
        self.seen: list[tuple[str, str, int]] = [] if seen is None else seen
        self.futures: list[tuple[str, Any]] = []

    def duplicate(self) -> PicklingTaskRunner:
        return type(self)(self._max_workers, self.seen)

    def submit(self, task, parameters, wait_for=None, dependencies=None):  # type: ignore[override]
        payload = pickle.dumps(parameters)
        pickle.loads(payload)
        self.seen.append((task.name, "parameters", len(payload)))
        future = super().submit(task, parameters, wait_for, dependencies)

        def returned(done: Any) -> None:
            done.wait()  # already finished: settles its final state
            state = done.state
            value = state.result(raise_on_failure=False) if state.is_completed() else None
            self.seen.append((task.name, "result", len(pickle.dumps(value))))

        future.add_done_callback(returned)
        return future


def test_task_parameters_and_results_pickle_and_stay_small(sb, credentials, tmp_path):
    served = tmp_path / "served"
    make_mp4(served / "imported.mp4", 4, size=70_000, seed=3)
    base = sb.serve_files(served).rstrip("/")
    rows = manifest_rows(sb, tmp_path / "media", 2, prefix="small")
    big = make_mp4(tmp_path / "media" / "big.mp4", 4, size=11 * MIB, seed=4)
    rows.append({"source": str(big), "channel_id": sb.channel_id, "caption": "big"})
    rows.append({"url": f"{base}/imported.mp4", "channel_id": sb.channel_id, "caption": "sync"})
    rows.append(
        {"url": f"{base}/imported.mp4", "channel_id": sb.channel_id, "caption": "a", "async": True}
    )
    runner = PicklingTaskRunner()

    uploaded = upload_videos.with_options(task_runner=runner)(
        pd.DataFrame(rows),
        credentials=credentials,
        ledger=Ledger(tmp_path / "ledger"),
        multipart_threshold=8 * MIB,
        transport_params={"client_kwargs": {"S3.Client": {"region_name": "us-east-1"}}},
    )
    assert list(uploaded["status"]) == ["created"] * 3 + ["imported"] * 2, uploaded["error"]
    ids = list(uploaded["video_id"])
    updates = pd.DataFrame({"video_id": ids, "description": "updated"})
    assert set(
        update_videos.with_options(task_runner=runner)(updates, credentials=credentials)["status"]
    ) == {"updated"}
    fetched = get_videos.with_options(task_runner=runner)(ids, credentials=credentials)
    assert list(fetched["description"]) == ["updated"] * 5

    tasks = {name for name, _, _ in runner.seen}
    assert tasks >= {
        "upload_single",
        "create_multipart_upload",
        "upload_part",
        "complete_multipart_upload",
        "create_video",
        "update_video",
        "get_video",
    }
    results = [entry for entry in runner.seen if entry[1] == "result"]
    assert len(results) == len(runner.seen) / 2, "every submitted task ended with a result"
    large = [entry for entry in runner.seen if entry[2] > SMALL]
    assert large == [], f"pickles larger than {SMALL} bytes"


@pytest.fixture
def cluster(api_env) -> Iterator[distributed.LocalCluster]:
    """Two worker processes on 127.0.0.1; they inherit PREFECT_API_URL (set by ``api_env``
    before they start) and PREFECT_HOME, so they report to the test server and share its
    result storage on this machine."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local


def _worker_pids(cluster: distributed.LocalCluster) -> set[int]:
    with distributed.Client(cluster, set_as_default=False) as client:
        return set(client.run(os.getpid).values())


def _executed(cluster: distributed.LocalCluster) -> dict[str, int]:
    with distributed.Client(cluster, set_as_default=False) as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


def test_upload_videos_on_dask_workers_matches_the_thread_runner(
    sb, credentials, block_name, tmp_path, cluster
):
    def manifest(prefix: str) -> pd.DataFrame:
        rows = manifest_rows(sb, tmp_path / prefix, 8, prefix=prefix)
        for i in range(2):  # two multipart rows: parts are tasks too
            path = make_mp4(tmp_path / prefix / f"big{i}.mp4", 4, size=11 * MIB + i, seed=40 + i)
            rows.append(
                {"source": str(path), "channel_id": sb.channel_id, "caption": f"{prefix}-big{i}"}
            )
        return pd.DataFrame(rows)

    options = {"credentials": credentials, "multipart_threshold": 8 * MIB}
    threads = results_of(
        upload_videos, manifest("thread"), ledger=Ledger(tmp_path / "l1"), **options
    )
    assert len(sb.videos()) == 10
    before = sum(_executed(cluster).values())

    on_dask = upload_videos.with_options(
        task_runner=DaskTaskRunner(address=cluster.scheduler_address)
    )(manifest("dask"), ledger=Ledger(tmp_path / "l2"), **options)

    def outcome(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
        return list(frame[["row", "status", "strategy", "bytes"]].itertuples(index=False))

    assert outcome(on_dask) == outcome(threads)
    assert set(on_dask["status"]) == {"created"}, on_dask["error"]
    assert len(sb.videos()) == 20
    created = {v["id"]: v["caption"] for v in sb.videos()}
    assert sorted(created[v] for v in on_dask["video_id"]) == sorted(
        [f"dask{i}" for i in range(8)] + ["dask-big0", "dask-big1"]
    )
    # the tasks really ran in the worker processes: 8 rows x 2 tasks (upload_single, create)
    # + 2 rows x 5 (initiate, 2 parts, complete, create); preflight is no task run
    executed = _executed(cluster)
    assert len(executed) == 2
    # two worker *processes*, neither of them this one: every task crossed a process boundary,
    # so its parameters and result were pickled
    pids = _worker_pids(cluster)
    assert len(pids) == 2 and os.getpid() not in pids, pids
    assert sum(executed.values()) - before >= 8 * 2 + 2 * 5, executed

    # the deployment flow's cluster_address parameter reaches the same cluster
    rows = manifest_rows(sb, tmp_path / "deployed", 2, prefix="deployed")
    write_csv(rows, tmp_path / "manifests" / "2026-11-27.csv")
    summary = upload_manifest(
        str(tmp_path / "manifests" / "{date}.csv"),
        credentials=block_name,
        date="2026-11-27",
        ledger=str(tmp_path / "l3"),
        cluster_address=cluster.scheduler_address,
    )
    assert summary["statuses"] == {"created": 2}
    assert summary["output"] == str(tmp_path / "manifests" / "2026-11-27.results.csv")
    assert sum(_executed(cluster).values()) - before >= 8 * 2 + 2 * 5 + 2 * 2
    assert len(sb.videos()) == 22


def test_cluster_addresses_pick_the_runner():
    runner = cluster_task_runner(" tcp://127.0.0.1:8786 ")
    assert isinstance(runner, DaskTaskRunner)
    assert runner.address == "tcp://127.0.0.1:8786"
    try:
        import prefect_ray  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"prefect-firework\[ray\]"):
            cluster_task_runner("ray://head:10001")
    else:  # the ray extra is in the lock (test_ray.py runs upload_videos on a Ray cluster)
        assert type(cluster_task_runner("ray://head:10001")).__name__ == "RayTaskRunner"
    with pytest.raises(ValueError, match="cluster address"):
        cluster_task_runner("  ")
