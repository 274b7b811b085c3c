"""``upload_video``: one video from any storage into Firework, streamed, parallel, resumable.

preflight -> (single presigned POST | multipart initiate -> parts in parallel -> complete)
-> create the video from the S3 key. Every step is a task; this module only composes them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Mapping
from typing import Any

from prefect import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from prefect_firework import _defaults
from prefect_firework.batch._driver import Blocking, Call, run_pipeline
from prefect_firework.batch._ledger import Ledger
from prefect_firework.batch._steps import (
    MultipartUploadFailed,
    Strategy,
    Uploaded,
    choose_strategy,
    upload_steps,
)
from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.flows._flow import firework_flow
from prefect_firework.models import Video, VideoMetadata
from prefect_firework.sources import SourceInfo
from prefect_firework.tasks import create_video
from prefect_firework.tasks._policy import create_outcome
from prefect_firework.tasks.sources import preflight_source

__all__ = [
    "MAX_WORKERS",
    "MultipartUploadFailed",
    "build_metadata",
    "choose_strategy",
    "upload_video",
]

#: threads in the flow's runner; ``max_concurrency`` bounds how many parts run at once
MAX_WORKERS = _defaults.FLOW_WORKERS


def build_metadata(
    channel_id: str, caption: str, metadata: Mapping[str, Any] | VideoMetadata | None
) -> VideoMetadata:
    """Validate the video's metadata up front, so bad input fails before any byte moves."""
    if isinstance(metadata, VideoMetadata):
        return metadata.model_copy(update={"channel_id": channel_id, "caption": caption})
    return VideoMetadata(channel_id=channel_id, caption=caption, **dict(metadata or {}))


@firework_flow(name="upload_video", task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def upload_video(
    source: str,
    channel_id: str,
    caption: str,
    *,
    metadata: dict[str, Any] | None = None,
    credentials: FireworkCredentials | str | None = None,
    strategy: Strategy = "auto",
    part_size: int | None = None,
    max_concurrency: int = 8,
    transport_params: dict[str, Any] | None = None,
    verify_md5: bool = True,
    ledger: Ledger | None = None,
) -> Video:
    """Upload one video from ``source`` (local path, s3://, gs://, azure://, http(s)://...).

    The metadata and the source are checked (type, size, duration) before anything is sent;
    at or below ~100 MB the file goes in one presigned POST, above it in parallel multipart
    parts streamed straight from the source, ``max_concurrency`` at a time (up to the
    runner's ``MAX_WORKERS`` threads; ``upload_video.with_options(task_runner=...)`` raises
    that). A rerun after a failure uploads only the parts still missing; once an upload has
    become a video (or may have), the next call uploads afresh. Each call creates a video:
    for reruns that skip what is done, use ``upload_videos``.

    Args:
        source: The video file: a local path or any URI smart-open reads.
        channel_id: The encoded id of the channel to upload to.
        caption: The video's caption (required, not blank).
        metadata: Other metadata fields (description, hashtags, product_ids, ...).
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        strategy: ``auto`` (by size), ``single`` (one presigned POST) or ``multipart``.
        part_size: Bytes per multipart part (default: chosen from the size and concurrency).
        max_concurrency: Parts uploaded at once.
        transport_params: smart-open transport parameters for reading ``source``.
        verify_md5: Check each part's ETag against the MD5 of the bytes sent.
        ledger: Where spent multipart uploads are recorded (default: Prefect's result
            storage), so a finished upload is never resumed into a second video.

    Returns:
        The created ``Video``.
    """
    logger = get_run_logger()
    video_metadata = build_metadata(channel_id, caption, metadata)
    source = os.fspath(source)
    credentials = resolve_credentials(credentials)  # once per run, not once per task
    info = preflight_source(source, transport_params=transport_params)
    spent = ledger or Ledger()
    steps = upload_steps(
        source,
        info,
        channel_id=channel_id,
        credentials=credentials,
        strategy=strategy,
        part_size=part_size,
        max_concurrency=max_concurrency,
        transport_params=transport_params,
        verify_md5=verify_md5,
        spent=spent.upload_spent,
    )
    pipeline = _create_from_upload(steps, info, video_metadata, credentials, spent, logger)
    video = run_pipeline(pipeline, max_tasks=max(1, max_concurrency))  # type: ignore[arg-type]
    logger.info("Created video %s from %s", video.id, info.filename)
    return video


def _create_from_upload(
    steps: Generator[Any, Any, Uploaded],
    info: SourceInfo,
    metadata: VideoMetadata,
    credentials: FireworkCredentials,
    spent: Ledger,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> Generator[Any, Any, Video]:
    """The upload's steps, then the create from its S3 key.

    A multipart upload is recorded spent before the create (it may become a video from here
    on) and given back only when the create certainly made nothing.
    """
    uploaded = yield from steps
    logger.info(
        "Uploaded %s (%.1f MiB, %s, %d part(s)); creating the video",
        info.filename,
        info.size / 2**20,
        uploaded.strategy,
        uploaded.parts,
    )
    if uploaded.upload_id:
        yield Blocking(spent.spend_upload, (uploaded.upload_id,))
    try:
        return (
            yield Call(
                create_video,
                {"metadata": metadata, "s3_key": uploaded.s3_key, "credentials": credentials},
            )
        )
    except Exception as exc:
        if uploaded.upload_id and create_outcome(exc) == "not_created":
            yield Blocking(spent.spend_upload, (uploaded.upload_id,), {"spent": False})
        raise
