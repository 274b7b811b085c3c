"""Read-only views of a running sandbox for tests, and its reset.

``Sandbox`` exposes these as methods (``sb.videos()`` ...) and the API serves the same data
under ``/_sandbox/...`` for a sandbox in another process. Every view is a JSON-able copy.
"""

from __future__ import annotations

from typing import Any

from prefect_firework.sandbox.api._errors import NotFound
from prefect_firework.sandbox.api._views import import_view, upload_view, video_view
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._state import RequestRecord, iso

__all__ = ["Inspector"]


class Inspector:
    def __init__(self, core: Core) -> None:
        self.core = core

    def videos(self) -> list[dict[str, Any]]:
        now = self.core.state.now()
        with self.core.state.locked() as state:
            return [video_view(self.core, v, now) for v in state.videos.values()]

    def video(self, video_id: str) -> dict[str, Any]:
        now = self.core.state.now()
        with self.core.state.locked() as state:
            video = state.videos.get(video_id)
            if video is None:
                raise KeyError(video_id)
            return video_view(self.core, video, now)

    def product_listings(self, video_id: str) -> list[dict[str, Any]]:
        listings: list[dict[str, Any]] = self.video(video_id)["product_listings"]
        return listings

    def imports(self) -> list[dict[str, Any]]:
        with self.core.state.locked() as state:
            return [import_view(job) for job in state.imports.values()]

    def multipart_uploads(self) -> list[dict[str, Any]]:
        with self.core.state.locked() as state:
            return [upload_view(u) for u in state.uploads.values()]

    def requests(self) -> list[RequestRecord]:
        with self.core.state.locked() as state:
            return list(state.requests)

    def objects(self) -> list[dict[str, Any]]:
        """Objects in the sandbox's bucket: key, size, md5 (of the bytes), etag (as S3 reports
        it: a multipart ETag is ``<md5 of the part ETags>-<parts>``).

        The MD5 of an object completed from parts is computed here, the first time it is asked
        for (the complete itself never reads the bytes).
        """
        s3 = self.core.s3
        return [
            {
                "key": obj["Key"],
                "size": obj["Size"],
                "md5": obj["MD5"] or s3.md5(obj["Key"]),
                "etag": obj["ETag"],
                "last_modified": iso(obj["LastModified"].timestamp()),
            }
            for obj in s3.list_objects()
        ]

    def info(self) -> dict[str, Any]:
        """Everything a client needs to use this sandbox from another process."""
        core, seeds = self.core, self.core.seeds
        return {
            "base_url": core.base_url,
            "token_url": f"{core.base_url}/oauth/token",
            "s3_url": core.s3_url,
            "moto_url": core.s3.url,
            "bucket": core.config.bucket,
            "client_id": seeds.client.client_id,
            "client_secret": seeds.client.client_secret,
            "read_only_client_id": seeds.read_only_client.client_id,
            "read_only_client_secret": seeds.read_only_client.client_secret,
            "other_business_client_id": seeds.other_business_client.client_id,
            "other_business_client_secret": seeds.other_business_client.client_secret,
            "other_business_channel_id": seeds.other_business_channel_id,
            "no_membership_client_id": seeds.no_membership_client.client_id,
            "no_membership_client_secret": seeds.no_membership_client.client_secret,
            "channel_id": seeds.channel_ids[0],
            "channel_ids": list(seeds.channel_ids),
            "business_store_ids": list(seeds.business_store_ids),
            "products": [
                {
                    "id": p.id,
                    "store_id": p.store_id,
                    "external_id": p.external_id,
                    "name": p.name,
                    "units": [
                        {"external_id": u.external_id, "gtin": u.gtin, "sku": u.sku, "mpn": u.mpn}
                        for u in p.units
                    ],
                }
                for p in seeds.products
            ],
            "config": core.config.as_dict(),
        }

    def reset(self) -> None:
        """Forget videos, imports, uploads, objects, requests, faults and rate windows."""
        core = self.core
        core.state.clear_activity()
        core.faults.clear()
        core.state.clock.reset()
        core.s3.clear()
        core.parts.clear()

    def cdn_image(self, video_id: str, name: str) -> tuple[str, bytes]:
        """An image of the pretend CDN: ``thumbnail.png``, ``poster-auto.png``, ``poster-N.ext``."""
        from prefect_firework.sandbox.api._views import THUMBNAIL_SIZE
        from prefect_firework.sandbox.engine._probe import png_bytes

        with self.core.state.locked() as state:
            video = state.videos.get(video_id)
            poster = video.poster if video else None
        if video is None:
            raise NotFound("Not Found")
        if name in ("thumbnail.png", "poster-auto.png"):
            return "image/png", png_bytes(*THUMBNAIL_SIZE)
        if poster is not None and name == f"poster-{poster.revision}.{poster.format}":
            media_type = "image/png" if poster.format == "png" else "image/jpeg"
            return media_type, poster.data
        raise NotFound("Not Found")
