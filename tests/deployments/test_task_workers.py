"""Background task workers: ``prefect task serve --module prefect_firework.workers`` in a
subprocess, ``upload_video_task.delay(...)`` here, the video in the sandbox and the ``Video``
back through shared result storage."""

from __future__ import annotations

import inspect
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deployments_support import BIN, REPO, stop_process, wait_for
from prefect.filesystems import LocalFileSystem
from prefect.settings import (
    PREFECT_DEFAULT_RESULT_STORAGE_BLOCK,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK,
    temporary_settings,
)
from prefect.tasks import Task

import prefect_firework.workers as workers
from prefect_firework.models import Video
from prefect_firework.sandbox.media import make_mp4
from prefect_firework.workers import WORKER_TASKS, upload_video_task

pytestmark = pytest.mark.prefect_server


@pytest.fixture
def shared_storage(tmp_path, monkeypatch, api_env) -> Iterator[Path]:
    """One result and parameter storage for submitter and worker, as a fleet would share a
    bucket: a saved LocalFileSystem block under tmp, named in both processes' settings."""
    root = tmp_path / "shared-results"
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    LocalFileSystem(basepath=str(root)).save(name)
    slug = f"local-file-system/{name}"
    settings = {
        "PREFECT_DEFAULT_RESULT_STORAGE_BLOCK": slug,
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK": slug,
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)  # for the worker process
    with temporary_settings(  # for this process, whose settings are already loaded
        updates={
            PREFECT_DEFAULT_RESULT_STORAGE_BLOCK: slug,
            PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK: slug,
            PREFECT_RESULTS_PERSIST_BY_DEFAULT: True,
        }
    ):
        yield root


@pytest.fixture
def task_worker(shared_storage, tmp_path) -> Iterator[Path]:
    """``prefect task serve`` as documented, stopped (SIGTERM to its pid) at the end."""
    log = tmp_path / "task-worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "prefect"), "task", "serve", "--module", "prefect_firework.workers"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: (
                "Subscribing to runs of task(s)" in log.read_text() or process.poll() is not None
            ),
            timeout=90,
            what="the task worker to subscribe",
        )
        assert process.poll() is None, log.read_text()[-3000:]
        yield log
    finally:
        stop_process(process)


def test_the_worker_module_serves_exactly_the_worker_tasks():
    served = {obj.name for _, obj in inspect.getmembers(workers) if isinstance(obj, Task)}
    assert served == {t.name for t in WORKER_TASKS}
    assert served >= {"upload_video_task", "import_video_task", "get_video", "update_video"}


def test_a_delayed_upload_runs_on_a_task_worker(sb, block_name, tmp_path, task_worker):
    source = make_mp4(tmp_path / "delayed.mp4", 4, size=90_000, seed=11)

    future = upload_video_task.delay(
        str(source), sb.channel_id, "delayed upload", credentials=block_name
    )
    video = future.result(timeout=120)

    assert isinstance(video, Video)
    assert video.caption == "delayed upload"
    assert [(v["id"], v["caption"]) for v in sb.videos()] == [(video.id, "delayed upload")]
    log = task_worker.read_text()
    assert f"Received task run: {future.task_run_id}" in log
    # the result came back through the shared storage, under the run's own key
    stored = [p.name for p in (tmp_path / "shared-results").iterdir()]
    assert f"prefect-firework-run-{future.task_run_id}" in stored, stored
