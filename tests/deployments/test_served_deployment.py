"""A deployment run for real: created from our flow, served by a Runner in a background thread,
triggered with ``run_deployment`` for a past scheduled time, executed in the Runner's
subprocess against the sandbox with credentials from a saved block name."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pandas as pd
import pytest
from deployments_support import captions, manifest_rows, wait_for, write_csv
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.runner import Runner

from prefect_firework.flows.deployments import upload_manifest

pytestmark = pytest.mark.prefect_server


class ServedRunner:
    """A Runner polling every second in its own thread and event loop."""

    def __init__(self) -> None:
        # no schedule to pause on shutdown: the test deployment runs when triggered
        self.runner = Runner(
            name=f"test-{uuid.uuid4().hex[:8]}", query_seconds=1, limit=2, pause_on_shutdown=False
        )
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="test-runner", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.runner.start())
        except BaseException as exc:  # surfaced by the fixture, not lost in the thread
            self.errors.append(exc)

    def serve(self, deployment: RunnerDeployment) -> UUID:
        """Register ``deployment`` with the API and start serving it."""
        deployment_id = self.runner.add_deployment(deployment)
        self.thread.start()
        wait_for(lambda: self.runner.started or self.errors, timeout=60, what="the runner")
        assert not self.errors, self.errors
        return deployment_id

    def stop(self) -> None:
        if self.thread.ident is None:
            return
        if self.runner.started:
            self.runner.execute_in_background(self.runner.astop).result(timeout=60)
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the runner did not stop"
        assert not self.errors, self.errors


@pytest.fixture
def served(api_env) -> Iterator[ServedRunner]:
    runner = ServedRunner()
    try:
        yield runner
    finally:
        runner.stop()


def test_served_nightly_deployment_uploads_the_scheduled_days_manifest(
    served: ServedRunner, sb, block_name, tmp_path
):
    day = dt.date(2024, 11, 27)  # the scheduled start is the 28th; days_ago=1 -> the 27th
    manifests = tmp_path / "manifests"
    rows = manifest_rows(sb, tmp_path / "media", 3, prefix="nightly")
    write_csv(rows, manifests / f"{day}.csv")
    write_csv(manifest_rows(sb, tmp_path / "other", 1, prefix="wrong-day"), manifests / "x.csv")

    deployment = upload_manifest.to_deployment(
        f"nightly-{uuid.uuid4().hex[:8]}",
        entrypoint_type=EntrypointType.MODULE_PATH,
        parameters={
            "manifest": str(manifests / "{date}.csv"),
            "credentials": block_name,
            "days_ago": 1,
            "ledger": str(tmp_path / "ledger"),
        },
    )
    deployment_id = served.serve(deployment)

    flow_run: FlowRun = run_deployment(
        deployment_id,
        scheduled_time=dt.datetime(2024, 11, 28, 2, 0, tzinfo=dt.timezone.utc),
        timeout=180,
        poll_interval=0.5,
        as_subflow=False,
    )

    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    assert captions(sb) == [f"nightly{i}" for i in range(3)]
    results = pd.read_csv(manifests / f"{day}.results.csv")
    assert list(results["status"]) == ["created"] * 3
    assert sorted(results["video_id"]) == sorted(v["id"] for v in sb.videos())
    # the batch's artifacts are on the run `prefect deployment run` prints, not one level down
    kinds = {(a.type, a.key) for a in _artifacts_of(flow_run.id)}
    assert {
        ("progress", "upload-videos-progress"),
        ("table", "upload-videos-results"),
        ("markdown", "upload-videos-summary"),
    } <= kinds, kinds
    table = next(a for a in _artifacts_of(flow_run.id) if a.type == "table")
    assert sorted(row["video_id"] for row in json.loads(table.data)) == sorted(
        results["video_id"]
    )


def _artifacts_of(flow_run_id: UUID) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
