"""``import_video``: let Firework fetch a video from a URL, sync (201) or async (202, polled)."""

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

    The URL is checked against the API's rules (http/https, a dotted hostname, a path) before
    any request.

    Args:
        url: The public http(s) URL Firework downloads the video from.
        channel_id: The encoded id of the channel to create the video on.
        caption: The video's caption (required, not blank).
        metadata: Other metadata fields (description, hashtags, product_ids, ...).
        mode: ``sync``: Firework downloads within the request and returns the video (fine
            for small files); ``async`` (the default, recommended for large files): it
            imports in the background and the flow gets the import job.
        wait: With ``async``: poll the import until it is ``completed`` and return the
            video; False returns the import job as soon as it is created.
        poll_interval: Seconds between polls of the import (``async`` with ``wait``).
        timeout: Seconds to wait for the import in all (``async`` with ``wait``).
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        The created ``Video``, or the ``VideoImport`` job with ``async`` and ``wait=False``.

    Raises:
        ValueError: The URL, ``mode`` or the metadata is refused before any request.
        ImportFailedError: The import ended ``errored`` (the error names the import id).
        ImportTimeoutError: The import had not finished within ``timeout`` seconds.
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
