"""Videos once their file is stored: creating the record, finding it, updating it."""

from __future__ import annotations

from typing import Any

from prefect_firework.sandbox.api._auth import Principal
from prefect_firework.sandbox.api._errors import Forbidden, NotFound
from prefect_firework.sandbox.api._validation import parse_metadata, require_social_media
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._fetch import PosterImage, download_poster
from prefect_firework.sandbox.engine._ingest import StoredMedia
from prefect_firework.sandbox.engine._state import Poster, Video, VideoImport
from prefect_firework.sandbox.engine._tagging import (
    check_store,
    replace_listings,
    resolve_products,
    set_hidden,
)
from prefect_firework.sandbox.engine._webhooks import notify_video

__all__ = ["fetch_poster", "find_import", "find_video", "new_video", "update_video"]


def fetch_poster(core: Core, meta: dict[str, Any]) -> PosterImage | None:
    """Download ``poster_url`` if the metadata sets one (422 if it is unusable)."""
    url = meta.get("poster_url")
    return download_poster(core.http, url, core.config) if url else None


def _poster(url: str, image: PosterImage, revision: int) -> Poster:
    return Poster(url, image.format, image.width, image.height, image.data, revision)


def new_video(
    core: Core,
    principal: Principal,
    *,
    video_id: str,
    channel_id: str,
    meta: dict[str, Any],
    store_id: str | None,
    media: StoredMedia,
    poster: PosterImage | None,
    source: str,
    import_id: str | None = None,
) -> Video:
    """Record a video whose file is stored and whose metadata passed validation."""
    product_ids = resolve_products(core.state, store_id, meta.get("product_ids", []))
    now = core.state.now()
    video = Video(
        id=video_id,
        business_id=principal.business_id,
        channel_id=channel_id,
        caption=meta["caption"],
        description=meta.get("description"),
        access=meta.get("access", "public"),
        archived_at=meta.get("archived_at"),
        audio_disabled=meta.get("audio_disabled", False),
        hashtags=meta.get("hashtags", []),
        custom_fields=meta.get("custom_fields", {}),
        display_social_attributions=meta.get("display_social_attributions", False),
        external_media=meta.get("external_media"),
        listings=replace_listings([], product_ids, meta.get("video_hidden")),
        poster=_poster(meta["poster_url"], poster, 1) if poster else None,
        poster_revisions=1 if poster else 0,
        s3_key=media.key,
        size=media.size,
        duration=media.duration,
        source=source,
        created_at=now,
        ready_at=now + core.config.transcoding_delay,
        import_id=import_id,
    )
    with core.state.locked() as state:
        state.videos[video.id] = video
    return video


def find_video(core: Core, principal: Principal, video_id: str) -> Video:
    """The caller's video (404 if unknown, 403 if another business's)."""
    with core.state.locked() as state:
        video = state.videos.get(video_id)
    if video is None:
        raise NotFound("Video not found")
    if video.business_id != principal.business_id:
        raise Forbidden("Insufficient permissions to access this video")
    return video


def find_import(core: Core, principal: Principal, import_id: str) -> VideoImport:
    """The caller's import job (404 if unknown, 403 if another business's)."""
    with core.state.locked() as state:
        job = state.imports.get(import_id)
    if job is None:
        raise NotFound("Import job not found")
    if job.business_id != principal.business_id:
        raise Forbidden("Insufficient permissions to access this import")
    return job


def update_video(core: Core, principal: Principal, video_id: str, data: dict[str, Any]) -> Video:
    """``PATCH /api/v1/videos/{id}``: validate everything first, then apply at once.

    Omitted fields are kept; ``poster_url`` null or ``""`` removes the custom poster;
    ``product_ids`` and ``custom_fields`` replace; ``video_hidden`` alone updates every listing;
    ``display_social_attributions`` passes when the video already has ``external_media``.
    """
    principal.require("videos:write")
    video = find_video(core, principal, video_id)
    meta = parse_metadata(data, core.config, creating=False)
    display = meta.get("display_social_attributions", video.display_social_attributions)
    external = meta.get("external_media", video.external_media)
    require_social_media(display, external)
    product_ids: list[str] | None = None
    if "product_ids" in meta:
        store_id = check_store(core.state, principal, meta.get("business_store_id"))
        product_ids = resolve_products(core.state, store_id, meta["product_ids"])
    elif "business_store_id" in meta:
        check_store(core.state, principal, meta["business_store_id"])
    image = fetch_poster(core, meta)

    with core.state.locked():
        for field in (
            "caption",
            "description",
            "access",
            "archived_at",
            "audio_disabled",
            "hashtags",
            "custom_fields",
            "display_social_attributions",
            "external_media",
        ):
            if field in meta:
                setattr(video, field, meta[field])
        hidden = meta.get("video_hidden")
        if product_ids is not None:
            video.listings = replace_listings(video.listings, product_ids, hidden)
        elif hidden is not None:
            video.listings = set_hidden(video.listings, hidden)
        if "poster_url" in meta:
            if image is None:
                video.poster = None
            else:
                video.poster_revisions += 1
                video.poster = _poster(meta["poster_url"], image, video.poster_revisions)
    notify_video(core, "video_updated", video)
    return video
