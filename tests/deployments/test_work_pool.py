"""The README's path, command by command: create a process work pool, ``prefect deploy`` the
nightly deployment from deployments/prefect.yaml, start a worker (from a directory with no
source tree: the entry point is a module of the installed package), and the triggered run
uploads the day's manifest into the sandbox with credentials from a saved block."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest
from deployments_support import PREFECT_YAML, captions, manifest_rows, run_cli, write_csv
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
from prefect.deployments import run_deployment

pytestmark = pytest.mark.prefect_server


def test_prefect_yaml_deploys_and_a_process_worker_runs_the_nightly_upload(
    sb, block_name, tmp_path, api_env, monkeypatch
):
    monkeypatch.setenv("PREFECT_CLI_PROMPT", "false")
    pool = f"firework-process-{uuid.uuid4().hex[:8]}"
    manifests = tmp_path / "manifests"
    write_csv(
        manifest_rows(sb, tmp_path / "media", 2, prefix="pooled"), manifests / "2026-11-27.csv"
    )

    # steps 3 and 4 of the README as written: every deployment of the file, into the file's
    # pool (which no worker polls here: url-imports is due at once, on an S3 manifest)
    idle = "firework-process"
    run_cli(["prefect", "work-pool", "create", idle, "--type", "process", "--overwrite"])
    run_cli(["prefect", "deploy", "--prefect-file", str(PREFECT_YAML), "--all"])
    with get_client(sync_client=True) as client:
        deployed = {
            d.name: d
            for d in client.read_deployments(
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[idle]))
            )
        }
    assert sorted(deployed) == ["nightly-manifest-upload", "url-imports", "video-updates"]
    assert [s.schedule.interval for s in deployed["url-imports"].schedules] == [
        dt.timedelta(minutes=15)
    ]
    assert deployed["video-updates"].schedules == []

    run_cli(["prefect", "work-pool", "create", pool, "--type", "process"])
    run_cli(
        [
            "prefect",
            "deploy",
            "--prefect-file",
            str(PREFECT_YAML),
            "--name",
            "nightly-manifest-upload",
            "--pool",
            pool,
            "--param",
            f"manifest={manifests}/{{date}}.csv",
            "--param",
            f"credentials={block_name}",
            "--param",
            f"ledger={tmp_path / 'ledger'}",
        ]
    )
    flow_run = run_deployment(
        "upload-manifest/nightly-manifest-upload",
        parameters={"date": "2026-11-27"},
        timeout=0,
        as_subflow=False,
    )
    workdir = tmp_path / "worker"
    workdir.mkdir()
    # --run-once with --limit waits for the run it picked up before exiting
    run_cli(
        ["prefect", "worker", "start", "--pool", pool, "--run-once", "--limit", "1"],
        cwd=workdir,
        timeout=240,
    )

    with get_client(sync_client=True) as client:
        finished = client.read_flow_run(flow_run.id)
        deployment = client.read_deployment(finished.deployment_id)
    assert finished.state is not None and finished.state.is_completed(), finished.state
    assert deployment.work_pool_name == pool
    assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
    assert captions(sb) == ["pooled0", "pooled1"]
    results = pd.read_csv(manifests / "2026-11-27.results.csv")
    assert list(results["status"]) == ["created", "created"]
