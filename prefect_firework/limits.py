"""The Firework Video API's documented limits, in one place.

"KB" and "GB" in the spec are read as binary units (as AWS does for S3): 25 KB is 25,600
bytes and 5 GB is 5,368,709,120 bytes. The part minimum is given in bytes by the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "SUPPORTED_MIME_TYPES", "MediaLimits"]

#: file extension -> MIME type, the only two the API accepts (spec 6.1)
SUPPORTED_MIME_TYPES: dict[str, str] = {".mp4": "video/mp4", ".mov": "video/quicktime"}


@dataclass(frozen=True)
class MediaLimits:
    """Upload limits of spec sections 4.3, 5 and 6.1; overridable for small-limit sandboxes."""

    min_file_size: int = 25 * 1024
    max_file_size: int = 5 * 1024**3
    min_duration: float = 3.0
    max_duration: float = 3600.0
    min_part_size: int = 5_242_880
    max_parts: int = 100
    single_upload_max: int = 100 * 1024**2


DEFAULT_LIMITS = MediaLimits()
