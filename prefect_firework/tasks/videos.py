"""Video tasks: create (from file, URL sync/async, or S3 key), get, update."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_firework._redact import display_name
from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.models import Video, VideoImport, VideoMetadata, VideoUpdate
from prefect_firework.tasks._policy import (
    RATE_LIMIT_BUDGET_SECONDS,
    RETRY_DELAYS,
    RETRY_JITTER,
    retry_condition,
    retry_create_condition,
    with_rate_limit_wait,
)

__all__ = ["create_video", "get_video", "update_video"]

_RETRY_TIMING: dict[str, Any] = {
    "retries": len(RETRY_DELAYS),
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_jitter_factor": RETRY_JITTER,
}


def _create_name(parameters: Mapping[str, Any]) -> str:
    for kind in ("s3_key", "url", "source"):
        value = parameters.get(kind)
        if value:
            mode = "url-async" if kind == "url" and parameters.get("asynchronous") else kind
            return f"create-video-{mode}-{display_name(value)}"
    return "create-video"


@task(
    name="create_video",
    cache_policy=NO_CACHE,
    task_run_name=_create_name,  # type: ignore[arg-type]
    retry_condition_fn=retry_create_condition,
    **_RETRY_TIMING,
)
def create_video(
    metadata: VideoMetadata,
    *,
    s3_key: str | None = None,
    url: str | None = None,
    asynchronous: bool = False,
    source: str | os.PathLike[str] | None = None,
    transport_params: Mapping[str, Any] | None = None,
    credentials: FireworkCredentials | str | None = None,
    wait_on_rate_limit: bool = True,
) -> Video | VideoImport:
    """Create a video from exactly one of ``s3_key``, ``url`` or ``source``.

    One task for the four ways the API creates a video, so flows and run names read the same
    whichever way the bytes arrive. Only failures that cannot have created a video are
    retried (no duplicates).

    Args:
        metadata: The video's metadata (``channel_id`` and ``caption`` at least).
        s3_key: Create from an object uploaded with a signature or a multipart upload.
        url: Create by letting Firework download this public http(s) URL.
        asynchronous: With ``url``: import in the background and return the import job
            (202); otherwise Firework downloads within the request and returns the video.
        source: Create by uploading this file in the request itself (small files).
        transport_params: smart-open transport parameters for reading ``source``.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        wait_on_rate_limit: Wait out a 429 inside the task (``Retry-After``, else a backoff).
            The batch flows pass False and pause the whole channel instead.

    Returns:
        The created ``Video``, or the ``VideoImport`` job for an async URL import.
    """
    given = [name for name, v in (("s3_key", s3_key), ("url", url), ("source", source)) if v]
    if len(given) != 1:
        raise ValueError(f"create_video needs exactly one of s3_key, url, source; got {given}")
    client = resolve_credentials(credentials).get_client()
    budget = RATE_LIMIT_BUDGET_SECONDS if wait_on_rate_limit else 0.0
    if s3_key:
        return with_rate_limit_wait(
            lambda: client.create_video_from_s3_key(s3_key, metadata), budget=budget
        )
    if url:
        return with_rate_limit_wait(
            lambda: client.create_video_from_url(url, metadata, asynchronous=asynchronous),
            budget=budget,
        )
    assert source  # exactly one of the three was given: this one
    params = dict(transport_params) if transport_params else None
    return with_rate_limit_wait(
        lambda: client.create_video_from_file(source, metadata, transport_params=params),
        budget=budget,
    )


@task(
    name="get_video",
    cache_policy=NO_CACHE,
    task_run_name="get-video-{video_id}",
    retry_condition_fn=retry_condition,
    **_RETRY_TIMING,
)
def get_video(video_id: str, credentials: FireworkCredentials | str | None = None) -> Video:
    """Fetch one video (``GET /api/v1/videos/{id}``).

    Args:
        video_id: The id of the video, as the create returned it (``Video.id``).
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        The ``Video`` as the API returns it now.

    Raises:
        NotFoundError: No video has this id (404, not retried).
    """
    client = resolve_credentials(credentials).get_client()
    return with_rate_limit_wait(lambda: client.get_video(video_id))


@task(
    name="update_video",
    cache_policy=NO_CACHE,
    task_run_name="update-video-{video_id}",
    retry_condition_fn=retry_condition,
    **_RETRY_TIMING,
)
def update_video(
    video_id: str,
    update: VideoUpdate,
    credentials: FireworkCredentials | str | None = None,
) -> Video:
    """PATCH a video. Only the fields set on ``update`` are sent: an omitted field is left as is.

    A PATCH is idempotent (it sets fields to values), so every retryable failure is retried.

    Args:
        video_id: The id of the video to change (``Video.id``).
        update: The fields to change; ``poster_url=None`` removes the custom poster,
            ``product_ids=[]`` untags all products, ``custom_fields={}`` clears them.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        The ``Video`` as it is after the update.

    Raises:
        NotFoundError: No video has this id (404, not retried).
    """
    client = resolve_credentials(credentials).get_client()
    return with_rate_limit_wait(lambda: client.update_video(video_id, update))
