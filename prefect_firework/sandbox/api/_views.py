"""JSON shapes: the API's response bodies and the richer inspection views served to tests
(``sb.videos()``, ``GET /_sandbox/videos`` ...).
"""

from __future__ import annotations

import math
from typing import Any

from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._state import MultipartUpload, Video, VideoImport, iso

__all__ = [
    "THUMBNAIL_SIZE",
    "import_body",
    "import_view",
    "posters",
    "upload_view",
    "video_body",
    "video_get_body",
    "video_view",
]

THUMBNAIL_SIZE = (540, 960)


def _aspect(width: int, height: int) -> str:
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def video_body(video: Video) -> dict[str, Any]:
    """The video object of create and update responses."""
    return {
        "id": video.id,
        "access": video.access,
        "audio_disabled": video.audio_disabled,
        "caption": video.caption,
        "description": video.description,
        "hashtags": list(video.hashtags),
        "archived_at": video.archived_at,
        "product_ids": video.product_ids(),
        "custom_fields": dict(video.custom_fields),
        "display_social_attributions": video.display_social_attributions,
        "external_media": dict(video.external_media) if video.external_media else None,
    }


def posters(core: Core, video: Video, now: float) -> list[dict[str, Any]]:
    """``video_posters``: the custom poster alone if there is one (it replaces the generated
    one); else a generated 540x960 PNG once transcoding is done, nothing before."""
    if video.poster is not None:
        p = video.poster
        return [
            {
                "url": core.cdn_url(f"videos/{video.id}/poster-{p.revision}.{p.format}"),
                "aspect_ratio": _aspect(p.width, p.height),
                "format": p.format,
                "width": p.width,
                "height": p.height,
            }
        ]
    if now < video.ready_at:
        return []
    width, height = THUMBNAIL_SIZE
    return [
        {
            "url": core.cdn_url(f"videos/{video.id}/poster-auto.png"),
            "aspect_ratio": _aspect(width, height),
            "format": "png",
            "width": width,
            "height": height,
        }
    ]


def video_get_body(core: Core, video: Video, now: float) -> dict[str, Any]:
    """``GET /api/v1/videos/{id}``: the video plus thumbnail and posters."""
    body = video_body(video)
    ready = now >= video.ready_at
    body["thumbnail_url"] = core.cdn_url(f"videos/{video.id}/thumbnail.png") if ready else None
    body["video_posters"] = posters(core, video, now)
    return body


def import_body(job: VideoImport) -> dict[str, Any]:
    """A video import object; ``error`` only when the import errored."""
    body: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "video_id": job.video_id,
        "created_at": iso(job.created_at),
        "completed_at": iso(job.completed_at),
    }
    if job.status == "errored":
        body["error"] = job.error
    return body


def video_view(core: Core, video: Video, now: float) -> dict[str, Any]:
    """Everything a test may want to check about a video, API fields first."""
    body = video_get_body(core, video, now)
    body.update(
        {
            "channel_id": video.channel_id,
            "business_id": video.business_id,
            "s3_key": video.s3_key,
            "size": video.size,
            "duration": video.duration,
            "source": video.source,
            "import_id": video.import_id,
            "poster_url": video.poster.source_url if video.poster else None,
            "transcoded": now >= video.ready_at,
            "created_at": iso(video.created_at),
            "product_listings": [
                {"product_id": item.product_id, "order": item.order, "hidden": item.hidden}
                for item in sorted(video.listings, key=lambda i: i.order)
            ],
        }
    )
    return body


def import_view(job: VideoImport) -> dict[str, Any]:
    body = import_body(job)
    body.update({"url": job.url, "channel_id": job.channel_id, "error": job.error})
    return body


def upload_view(upload: MultipartUpload) -> dict[str, Any]:
    return {
        "upload_id": upload.upload_id,
        "key": upload.key,
        "channel_id": upload.channel_id,
        "mime_type": upload.mime_type,
        "parts_count": upload.parts_count,
        "status": upload.status,
        "note": upload.note,
        "created_at": iso(upload.created_at),
        "parts": [
            {"part": r.part, "size": r.size, "etag": r.etag, "uploaded_at": iso(r.uploaded_at)}
            for r in sorted(upload.parts.values(), key=lambda r: r.part)
        ],
    }
