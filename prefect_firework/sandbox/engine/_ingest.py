"""Turning bytes into a stored, checked video file, for each way a video can arrive.

Every path ends alike: the duration is read from the container (``min_duration`` to
``max_duration`` inclusive, else 422), bytes that are not MP4/QuickTime are refused (400) and
the file is put in the bucket. The maximum size applies everywhere; the minimum only to upload
policies, multipart completion and ``s3_key`` objects, not to file uploads or URL imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from prefect_firework.sandbox.api._auth import Principal
from prefect_firework.sandbox.api._errors import BadRequest, Forbidden, UnprocessableEntity
from prefect_firework.sandbox.api._uploads import safe_filename
from prefect_firework.sandbox.config import SandboxConfig, human_size
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._fetch import VIDEO_EXTENSIONS, Download
from prefect_firework.sandbox.engine._probe import NotAVideoError, mp4_duration

__all__ = [
    "FILE_TYPES",
    "StoredMedia",
    "check_file_part",
    "check_s3_key_owner",
    "from_download",
    "from_file",
    "from_s3_key",
]

#: the only types of a direct file upload (and ``.mp4``/``.mov`` its only names)
FILE_TYPES = ("video/mp4", "video/quicktime")


@dataclass(frozen=True)
class StoredMedia:
    key: str
    size: int
    duration: float


def _duration(fileobj: IO[bytes], config: SandboxConfig) -> float:
    try:
        duration = mp4_duration(fileobj)
    except NotAVideoError as exc:
        raise BadRequest("Unsupported file type: not an MP4 or QuickTime video") from exc
    if not config.min_duration <= duration <= config.max_duration:
        raise UnprocessableEntity(
            f"Video duration must be between {config.min_duration:g} and "
            f"{config.max_duration:g} seconds (got {duration:.3f})",
        )
    return duration


def _too_large(size: int, config: SandboxConfig) -> None:
    if size > config.max_file_size:
        raise BadRequest(f"File too large (max {human_size(config.max_file_size)})")


def _store(core: Core, fileobj: IO[bytes], size: int, key: str, content_type: str) -> StoredMedia:
    duration = _duration(fileobj, core.config)
    stored_type = content_type if content_type in ("video/mp4", "video/quicktime") else "video/mp4"
    core.s3.put_object(key, fileobj, size, stored_type)
    return StoredMedia(key=key, size=size, duration=duration)


def video_key(channel_id: str, video_id: str, filename: str) -> str:
    return f"videos/{channel_id}/{video_id}/{safe_filename(filename)}"


def check_file_part(filename: str, content_type: str | None) -> None:
    """Spec 6.1 on the ``file`` part of a direct upload (400 otherwise): ``video/mp4`` or
    ``video/quicktime``, named ``.mp4`` or ``.mov``. A missing type, ``application/octet-stream``
    and a missing or empty filename are refused: the spec allows nothing else."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in FILE_TYPES:
        shown = repr(media_type) if media_type else "none"
        raise BadRequest(
            f"Unsupported file type {shown}: the file part must be video/mp4 or video/quicktime",
        )
    if not filename.lower().endswith(VIDEO_EXTENSIONS):
        raise BadRequest("Unsupported file extension: the file part must be named .mp4 or .mov")


def from_file(
    core: Core,
    fileobj: IO[bytes],
    *,
    filename: str,
    content_type: str | None,
    channel_id: str,
    video_id: str,
) -> StoredMedia:
    """A ``file`` part of a multipart/form-data create ."""
    check_file_part(filename, content_type)
    media_type = (content_type or "").split(";")[0].strip().lower()
    fileobj.seek(0, 2)
    size = fileobj.tell()
    _too_large(size, core.config)
    key = video_key(channel_id, video_id, filename)
    return _store(core, fileobj, size, key, media_type)


def from_download(
    core: Core, download: Download, *, url: str, channel_id: str, video_id: str
) -> StoredMedia:
    """A downloaded import URL."""
    _too_large(download.size, core.config)
    name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "video.mp4"
    key = video_key(channel_id, video_id, name)
    return _store(core, download.file, download.size, key, download.content_type)


def check_s3_key_owner(core: Core, principal: Principal, key: object) -> str:
    """The ``s3_key`` as a string (400), issued to no other business (403)."""
    if not isinstance(key, str) or not key:
        raise BadRequest("s3_key must be a non-empty string")
    with core.state.locked() as state:
        owner = state.key_owner.get(key)
    if owner is not None and owner != principal.business_id:
        raise Forbidden("Insufficient permissions for this s3_key")
    return key


def from_s3_key(core: Core, principal: Principal, key: object) -> StoredMedia:
    """An object already in the bucket exists, in size, a real video."""
    key = check_s3_key_owner(core, principal, key)
    head = core.s3.head(key)
    if head is None:
        raise BadRequest("s3_key not found: upload the file first")
    size = int(head["ContentLength"])
    cfg = core.config
    if size < cfg.min_file_size:
        raise BadRequest(f"File too small (min {human_size(cfg.min_file_size)})")
    _too_large(size, cfg)
    with core.s3.reader(key, size) as reader:
        duration = _duration(reader, cfg)  # type: ignore[arg-type]
    return StoredMedia(key=key, size=size, duration=duration)
