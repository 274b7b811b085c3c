"""``POST /api/v1/videos`` in its four modes: a file part, a URL (sync, or an async import)
and an ``s3_key``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO, Any

from prefect_firework.sandbox.api._auth import Principal
from prefect_firework.sandbox.api._errors import BadRequest, TooManyRequests
from prefect_firework.sandbox.api._validation import (
    check_import_url,
    parse_metadata,
    require_social_media,
)
from prefect_firework.sandbox.api._videos import fetch_poster, new_video
from prefect_firework.sandbox.api._views import import_body, video_body
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._fetch import PosterImage, download_video
from prefect_firework.sandbox.engine._ids import new_id
from prefect_firework.sandbox.engine._imports import start_import
from prefect_firework.sandbox.engine._ingest import (
    StoredMedia,
    check_file_part,
    check_s3_key_owner,
    from_download,
    from_file,
    from_s3_key,
)
from prefect_firework.sandbox.engine._tagging import check_store
from prefect_firework.sandbox.engine._webhooks import notify_video

__all__ = ["UploadedFile", "create_video"]


@dataclass(frozen=True)
class UploadedFile:
    """The ``file`` part of a multipart/form-data create, already spooled by the server."""

    file: IO[bytes]
    filename: str
    content_type: str | None  # None when the part has no Content-Type header


def _rate_limit(core: Core, channel_id: str) -> None:
    cfg = core.config
    wait = core.state.take_create_slot(channel_id, cfg.rate_limit_count, cfg.rate_limit_window)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(
            f"Rate limit exceeded: {cfg.rate_limit_count} videos per "
            f"{cfg.rate_limit_window:g} seconds per channel",
            {"Retry-After": str(seconds)} if cfg.rate_limit_retry_after else None,
        )


@dataclass(frozen=True)
class _Create:
    """A create that passed every check the request alone decides."""

    channel_id: str
    meta: dict[str, Any]
    store_id: str | None
    run_async: bool


def create_video(
    core: Core, principal: Principal, data: dict[str, Any], upload: UploadedFile | None = None
) -> tuple[int, dict[str, Any]]:
    """Handle one create; return ``(status, body)``: 201 with a video or 202 with an import.

    Everything the request alone decides is checked before the per-channel rate limit (429),
    so a request refused on its face, or a 429, spends no slot; once the slot is taken the
    create counts whatever its outcome (downloads, the poster, the bytes' type, size and
    duration are checked after it).
    """
    create = _check_request(core, principal, data, upload)
    _rate_limit(core, create.channel_id)
    if upload is None and "url" in data and create.run_async:
        job = start_import(
            core,
            principal,
            channel_id=create.channel_id,
            url=data["url"],
            meta=create.meta,
            store_id=create.store_id,
        )
        return 202, import_body(job)

    video_id = new_id()
    media, poster, source = _store_media(core, principal, data, upload, create, video_id)
    video = new_video(
        core,
        principal,
        video_id=video_id,
        channel_id=create.channel_id,
        meta=create.meta,
        store_id=create.store_id,
        media=media,
        poster=poster,
        source=source,
    )
    notify_video(core, "video_created", video, delay=core.config.transcoding_delay)
    return 201, video_body(video)


def _check_request(
    core: Core, principal: Principal, data: dict[str, Any], upload: UploadedFile | None
) -> _Create:
    """Everything the request alone decides, in order: scope (403), ``channel_id`` (400, then
    the channel's 404/403/404), the metadata (400/422), the business store (404/403), the
    mode's own rules (400/403)."""
    principal.require("videos:write")
    channel_id = data.get("channel_id")
    if not isinstance(channel_id, str) or not channel_id:
        raise BadRequest("channel_id is required")
    channel = principal.channel(core.state, channel_id)
    meta = parse_metadata(data, core.config, creating=True)
    require_social_media(meta.get("display_social_attributions", False), meta.get("external_media"))
    store_id = check_store(core.state, principal, meta.get("business_store_id"))
    run_async = data.get("async", False)
    if not isinstance(run_async, bool):
        raise BadRequest("async must be a boolean")
    if upload is not None:
        check_file_part(upload.filename, upload.content_type)
    else:
        _check_source(core, principal, data)
    return _Create(channel.id, meta, store_id, run_async)


def _check_source(core: Core, principal: Principal, data: dict[str, Any]) -> None:
    """Exactly one of ``url`` and ``s3_key``, and that one well formed (400/403)."""
    has_url, has_key = "url" in data, "s3_key" in data
    if has_url and has_key:
        raise BadRequest("Provide either url or s3_key, not both")
    if not has_url and not has_key:
        raise BadRequest("Provide a file (multipart/form-data), a url or an s3_key")
    if has_url:
        check_import_url(data["url"])
    else:
        check_s3_key_owner(core, principal, data["s3_key"])


def _store_media(
    core: Core,
    principal: Principal,
    data: dict[str, Any],
    upload: UploadedFile | None,
    create: _Create,
    video_id: str,
) -> tuple[StoredMedia, PosterImage | None, str]:
    """The video's file, checked and in the bucket, its poster and its source name."""
    if upload is not None:
        poster = fetch_poster(core, create.meta)
        media = from_file(
            core,
            upload.file,
            filename=upload.filename,
            content_type=upload.content_type,
            channel_id=create.channel_id,
            video_id=video_id,
        )
        return media, poster, "file"
    if "s3_key" in data:
        media = from_s3_key(core, principal, data["s3_key"])
        return media, fetch_poster(core, create.meta), "s3_key"
    url = data["url"]
    download = download_video(core.http, url, core.config)
    try:
        poster = fetch_poster(core, create.meta)
        media = from_download(
            core, download, url=url, channel_id=create.channel_id, video_id=video_id
        )
    finally:
        download.file.close()
    return media, poster, "url"
