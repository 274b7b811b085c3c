"""Async URL imports: the job, and the worker that runs it.

The worker downloads the URL, stores the file, creates the video (``video_id`` appears while
the job is still ``running``), waits the transcoding delay, then marks the job ``completed``;
any failure marks it ``errored`` with a message. A reset or stop abandons running jobs.
"""

from __future__ import annotations

from typing import Any

from prefect_firework.sandbox.api._auth import Principal
from prefect_firework.sandbox.api._errors import ApiError
from prefect_firework.sandbox.api._videos import fetch_poster, new_video
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._fetch import download_video
from prefect_firework.sandbox.engine._ids import new_id
from prefect_firework.sandbox.engine._ingest import from_download
from prefect_firework.sandbox.engine._state import VideoImport
from prefect_firework.sandbox.engine._webhooks import notify_import_failed, notify_video

__all__ = ["start_import"]


def start_import(
    core: Core,
    principal: Principal,
    *,
    channel_id: str,
    url: str,
    meta: dict[str, Any],
    store_id: str | None,
) -> VideoImport:
    """Create a running job and hand it to a worker thread."""
    with core.state.locked() as state:
        job = VideoImport(
            id=new_id(),
            business_id=principal.business_id,
            channel_id=channel_id,
            url=url,
            created_at=state.now(),
            generation=state.generation,
        )
        state.imports[job.id] = job
    core.executor.submit(_run, core, job, principal, meta, store_id)
    return job


def _current(core: Core, job: VideoImport) -> bool:
    """False once the sandbox was reset or is stopping: the job's results must be dropped."""
    return not core.stopping.is_set() and core.state.generation == job.generation


def _run(
    core: Core, job: VideoImport, principal: Principal, meta: dict[str, Any], store_id: str | None
) -> None:
    try:
        download = download_video(core.http, job.url, core.config, core.stopping)
        try:
            poster = fetch_poster(core, meta)
            video_id = new_id()
            media = from_download(
                core, download, url=job.url, channel_id=job.channel_id, video_id=video_id
            )
        finally:
            download.file.close()
        if not _current(core, job):
            return
        video = new_video(
            core,
            principal,
            video_id=video_id,
            channel_id=job.channel_id,
            meta=meta,
            store_id=store_id,
            media=media,
            poster=poster,
            source="import",
            import_id=job.id,
        )
        with core.state.locked():
            job.video_id = video.id
        if core.stopping.wait(core.config.transcoding_delay) or not _current(core, job):
            return
        with core.state.locked() as state:
            job.status = "completed"
            job.completed_at = state.now()
        notify_video(core, "video_created", video, import_job=job)
    except ApiError as exc:
        _fail(core, job, exc.message)
    except Exception as exc:  # a sandbox bug must still end the job, not leave it running
        _fail(core, job, f"Import failed: {type(exc).__name__}: {exc}")


def _fail(core: Core, job: VideoImport, message: str) -> None:
    with core.state.locked():
        job.status = "errored"
        job.error = message
    if _current(core, job):
        notify_import_failed(core, job)
