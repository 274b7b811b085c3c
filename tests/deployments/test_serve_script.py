"""``python deployments/serve.py`` as a user runs it: a subprocess that registers the three
deployments and serves them; the on-demand ones, triggered with ``run_deployment``, import a
URL manifest and then update the imported video, against the sandbox."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from deployments_support import SERVE_SCRIPT, stop_process, wait_for, write_csv
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.deployments import run_deployment

from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

NAMES = ["nightly-manifest-upload", "url-imports", "video-updates"]
DAY = "2026-11-27"


def _served_deployments(since: dt.datetime) -> list[str]:
    """Deployments registered (or re-registered: another test may have deployed the same
    names to a work pool) since ``since``."""
    with get_client(sync_client=True) as client:
        found = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=NAMES))
        )
    return sorted(d.name for d in found if d.updated and d.updated >= since)


@pytest.fixture
def serve_script(api_env, block_name, tmp_path) -> Iterator[Path]:
    """The script serving manifests under ``tmp_path``; stopped by SIGTERM to its pid."""
    log = tmp_path / "serve.log"
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, str(SERVE_SCRIPT)),
                *("--credentials", block_name, "--bucket", str(tmp_path), "--limit", "2"),
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: _served_deployments(started) == NAMES or process.poll() is not None,
            timeout=90,
            what="serve.py to register its deployments",
        )
        assert process.poll() is None, log.read_text()[-3000:]
        yield tmp_path
    finally:
        stop_process(process)


def test_serve_script_runs_url_imports_then_video_updates(sb, serve_script: Path):
    make_mp4(serve_script / "public" / "teaser.mp4", 4, size=80_000, seed=5)
    base = sb.serve_files(serve_script / "public").rstrip("/")
    url_row = {"url": f"{base}/teaser.mp4", "channel_id": sb.channel_id, "caption": "teaser"}
    write_csv([url_row], serve_script / "imports" / f"{DAY}.csv")

    imported = run_deployment(
        "import-manifest/url-imports",
        parameters={"date": DAY},
        timeout=180,
        poll_interval=0.5,
        as_subflow=False,
    )
    assert imported.state is not None and imported.state.is_completed(), imported.state
    import_results = pd.read_csv(serve_script / "imports" / f"{DAY}.results.csv")
    assert list(import_results["status"]) == ["imported"]
    video_id = import_results["video_id"][0]
    assert [v["id"] for v in sb.videos()] == [video_id]

    write_csv(
        [{"video_id": video_id, "description": "now on sale"}],
        serve_script / "updates" / f"{DAY}.csv",
    )
    updated = run_deployment(
        "update-manifest/video-updates",
        parameters={"date": DAY},
        timeout=180,
        poll_interval=0.5,
        as_subflow=False,
    )
    assert updated.state is not None and updated.state.is_completed(), updated.state
    assert sb.video(video_id)["description"] == "now on sale"
    update_results = pd.read_csv(serve_script / "updates" / f"{DAY}.results.csv")
    assert list(update_results["status"]) == ["updated"]
