"""``upload_videos`` on Ray: ``RayTaskRunner`` (prefect-ray) against a local Ray cluster that the
test starts (``ray start --head`` on 127.0.0.1) and stops. The flow connects as a driver to the
head's address (``host:port``). Ray Client (``ray://``) is not what this test uses: its
per-connection server (ports 23000 and up) failed to start twice in full-suite runs on the
loaded 2-core machine while passing alone, and a flaky test is a failing one.

A manifest of file rows (small and multipart) and URL rows (sync and async) makes exactly one
video per row; the tasks ran in the cluster's worker processes (Ray's state API lists them),
while the pacer and the ledger stayed in the flow's process (the ledger's entries are in the
flow's local directory, and the tasks never received either)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

# Imported here, at collection, before any test imports prefect_ray: prefect-ray imports ray
# lazily (importlib's LazyLoader), and a ray first loaded that way under pytest lacks
# ray.util.client, which Ray Client's ray.init("ray://...") needs (see runners.py)
import ray  # noqa: F401
from components import free_port, wait_until
from deployments_support import MIB, manifest_rows

from prefect_firework.batch._ledger import Ledger
from prefect_firework.flows import upload_videos
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

BIN = Path(sys.executable).parent


@pytest.fixture
def ray_cluster(api_env, tmp_path_factory) -> Iterator[dict[str, str]]:
    """A one-node Ray cluster on 127.0.0.1 with 2 CPUs, every port picked free. Its workers
    inherit PREFECT_API_URL (set by ``api_env`` before it starts) and PREFECT_HOME."""
    temp = Path(f"/tmp/ray-{os.getpid()}")  # short: Ray's socket paths must fit 107 bytes
    ports = {name: free_port() for name in ("gcs", "client", "dashboard", "agent", "metrics")}
    process = subprocess.Popen(
        [
            str(BIN / "ray"), "start", "--head", "--block",
            "--node-ip-address", "127.0.0.1",
            "--port", str(ports["gcs"]),
            "--ray-client-server-port", str(ports["client"]),
            "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(ports["dashboard"]),
            "--dashboard-agent-listen-port", str(ports["agent"]),
            "--metrics-export-port", str(ports["metrics"]),
            "--num-cpus", "2",
            "--disable-usage-stats",
            "--temp-dir", str(temp),
        ],
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        from ray.util.state import list_nodes

        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        wait_until(lambda: list_nodes(address=dashboard), timeout=120, what="the Ray head")
        yield {"address": f"127.0.0.1:{ports['gcs']}", "dashboard": dashboard}
    finally:
        process.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_upload_videos_on_a_ray_cluster_makes_one_video_per_row(
    sb, credentials, tmp_path, ray_cluster
):
    from prefect_ray import RayTaskRunner
    from ray.util.state import list_tasks

    served = tmp_path / "served"
    make_mp4(served / "imported.mp4", 4, size=70_000, seed=3)
    base = sb.serve_files(served).rstrip("/")
    rows = manifest_rows(sb, tmp_path / "media", 3, prefix="ray")
    big = make_mp4(tmp_path / "media" / "big.mp4", 4, size=11 * MIB, seed=4)
    rows.append({"source": str(big), "channel_id": sb.channel_id, "caption": "big"})
    rows.append({"url": f"{base}/imported.mp4", "channel_id": sb.channel_id, "caption": "sync"})
    rows.append(
        {"url": f"{base}/imported.mp4", "channel_id": sb.channel_id, "caption": "a", "async": True}
    )
    ledger = Ledger(tmp_path / "ledger")

    results = upload_videos.with_options(
        task_runner=RayTaskRunner(address=ray_cluster["address"])
    )(pd.DataFrame(rows), credentials=credentials, ledger=ledger, multipart_threshold=8 * MIB)

    assert list(results["status"]) == ["created"] * 4 + ["imported"] * 2, results["error"]
    videos = sb.videos()
    assert len(videos) == 6, "exactly one video per row"
    assert sorted(v["caption"] for v in videos) == sorted(r["caption"] for r in rows)
    assert set(results["video_id"]) == {v["id"] for v in videos}
    # the ledger stayed in the flow's process: its entries are in the local directory
    entries = list((tmp_path / "ledger").rglob("entries/*.json"))
    assert len(entries) == 6, entries
    # the tasks ran in the cluster: 3 x (upload_single, create) + (initiate, 2 parts,
    # complete, create) + 2 creates + the import poll
    finished = list_tasks(
        address=ray_cluster["dashboard"], filters=[("state", "=", "FINISHED")], limit=1000
    )
    assert len(finished) >= 3 * 2 + 5 + 2, [t.name for t in finished]
    pids = {t.worker_pid for t in finished}
    assert os.getpid() not in pids and pids, pids
