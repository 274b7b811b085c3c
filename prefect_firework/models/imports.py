"""Creating a video from a URL or an S3 key, and the async import job a 202 starts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from prefect_firework.models._base import RequestModel, ResponseModel
from prefect_firework.models.video import VideoMetadata

__all__ = [
    "ImportStatus",
    "VideoFromS3Key",
    "VideoFromUrl",
    "VideoImport",
    "validate_import_url",
]

ImportStatus = Literal["running", "completed", "errored"]


def validate_import_url(url: str) -> str:
    """Check the URL rules the API enforces before it fetches anything.

    Raises ``ValueError`` (a ``PydanticCustomError`` whose ``type`` names the rule: ``url_syntax``,
    ``url_scheme``, ``url_hostname``, ``url_path``): http/https scheme, a hostname with at least
    one dot, a non-empty path. (Content-Type, Content-Length, size and duration are the remote
    server's and the API's business; they cannot be checked here.)
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        port = parts.port  # raises for a port outside 0-65535
    except ValueError as exc:
        raise PydanticCustomError("url_syntax", f"url is not a valid URL: {exc}") from None
    if port == 0:
        raise PydanticCustomError("url_syntax", "url is not a valid URL: port 0")
    if parts.scheme not in ("http", "https"):
        raise PydanticCustomError(
            "url_scheme", f"url must use the http or https scheme, got {parts.scheme!r}"
        )
    if not hostname or "." not in hostname.strip("."):
        raise PydanticCustomError(
            "url_hostname", f"url must have a hostname with at least one dot, got {hostname!r}"
        )
    if parts.path in ("", "/"):
        raise PydanticCustomError(
            "url_path", "url must have a path component (e.g. /videos/demo.mp4)"
        )
    return url


class VideoFromUrl(RequestModel):
    """Body of a URL import: ``url``, ``async`` and the metadata fields, all top level."""

    url: str
    asynchronous: bool = False
    metadata: VideoMetadata

    @field_validator("url")
    @classmethod
    def _url_rules(cls, value: str) -> str:
        return validate_import_url(value)

    def to_api(self) -> dict[str, Any]:
        return {"url": self.url, "async": self.asynchronous, **self.metadata.to_api()}


class VideoFromS3Key(RequestModel):
    """Body of an S3-key create: ``s3_key`` and the metadata fields, all top level."""

    s3_key: str = Field(min_length=1)
    metadata: VideoMetadata

    def to_api(self) -> dict[str, Any]:
        return {"s3_key": self.s3_key, **self.metadata.to_api()}


class VideoImport(ResponseModel):
    """An async URL import job (the 202 of a create, and ``GET /api/v1/videos/imports/{id}``).

    ``video_id`` may appear while ``status`` is still ``"running"``; the video is ready only when
    the status is ``"completed"``. ``error`` holds the API's reason when it gives one.
    """

    id: str
    status: ImportStatus
    video_id: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None

    @field_validator("error", mode="before")
    @classmethod
    def _error_text(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return value["message"]
        return str(value)

    @property
    def done(self) -> bool:
        """True once the job stopped running (completed or errored)."""
        return self.status != "running"

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"
