"""The Firework Video API's documented limits, in one place.

The spec writes "25 KB" and "5 GB" without saying whether it means binary or decimal units.
Each bound takes the reading under which a file we upload is never refused after the upload:
at least 25,600 bytes (binary 25 KiB, the larger reading of "25 KB") and at most
5,000,000,000 bytes (decimal 5 GB, the smaller reading of "5 GB"). ``FIREWORK_MIN_FILE_SIZE``
and ``FIREWORK_MAX_FILE_SIZE`` change them for users who know better. The part minimum is
given in bytes by the API (5,242,880).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_firework.settings import FireworkSettings

__all__ = ["DEFAULT_LIMITS", "SUPPORTED_MIME_TYPES", "MediaLimits", "current_limits"]

#: file extension -> MIME type, the only two the API accepts
SUPPORTED_MIME_TYPES: dict[str, str] = {".mp4": "video/mp4", ".mov": "video/quicktime"}


@dataclass(frozen=True)
class MediaLimits:
    """Upload limits (file size, duration, parts); overridable for small-limit sandboxes."""

    min_file_size: int = 25 * 1024
    max_file_size: int = 5_000_000_000
    min_duration: float = 3.0
    max_duration: float = 3600.0
    min_part_size: int = 5_242_880
    max_parts: int = 100
    single_upload_max: int = 100 * 1024**2


DEFAULT_LIMITS = MediaLimits()


def current_limits(settings: FireworkSettings | None = None) -> MediaLimits:
    """The limits with the file-size bounds of ``FIREWORK_MIN_FILE_SIZE`` / ``_MAX_FILE_SIZE``."""
    if settings is None:
        from prefect_firework.settings import FireworkSettings

        settings = FireworkSettings()
    return replace(
        DEFAULT_LIMITS,
        min_file_size=settings.min_file_size,
        max_file_size=settings.max_file_size,
    )
