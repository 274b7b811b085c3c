"""``import_video``: let Firework fetch a video from a URL, sync or async (spec 6.3)."""

from __future__ import annotations

from typing import Any, Literal

from prefect import get_run_logger

from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.flows._flow import firework_flow
from prefect_firework.flows._upload import build_metadata
from prefect_firework.models import Video, VideoImport, validate_import_url
from prefect_firework.tasks import create_video, get_video, wait_for_video_import

__all__ = ["import_video"]


@firework_flow(name="import_video", log_prints=True)
def import_video(
    url: str,
    channel_id: str,
    caption: str,
    *,
    metadata: dict[str, Any] | None = None,
    mode: Literal["sync", "async"] = "async",
    wait: bool = True,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    credentials: FireworkCredentials | str | None = None,
) -> Video | VideoImport:
    """Create a video from a public URL.

    The URL is checked against the spec's rules (http/https, a dotted hostname, a path) before
    any request. ``mode="sync"`` returns the video (Firework downloads within the request;
    fine for small files). ``mode="async"`` (the default, recommended for large files) returns
    the import job, or with ``wait=True`` polls it every ``poll_interval`` s until it is
    ``completed`` and returns the video; an ``errored`` import raises with the import id.
    """
    if mode not in ("sync", "async"):
        raise ValueError(f"mode must be 'sync' or 'async', not {mode!r}")
    logger = get_run_logger()
    video_metadata = build_metadata(channel_id, caption, metadata)
    validate_import_url(url)
    credentials = resolve_credentials(credentials)  # once per run, not once per task
    if mode == "sync":
        return create_video(video_metadata, url=url, credentials=credentials)
    job = create_video(video_metadata, url=url, asynchronous=True, credentials=credentials)
    logger.info("Import %s started (%s)", job.id, job.status)  # type: ignore[union-attr]
    if not wait:
        return job
    finished = wait_for_video_import(
        job.id, poll_interval=poll_interval, timeout=timeout, credentials=credentials
    )
    return get_video(finished.video_id, credentials=credentials)  # type: ignore[arg-type]
