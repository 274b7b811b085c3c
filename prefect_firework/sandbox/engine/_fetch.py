"""Downloads the sandbox makes on a client's behalf: import URLs and posters.

Videos stream to a spooled temporary file (a megabyte in memory, the rest on disk); the remote
rules (status, Content-Type, Content-Length) are checked on the headers before any body is
read.
"""

from __future__ import annotations

import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from typing import IO

import httpx

from prefect_firework.sandbox.api._errors import BadRequest, UnprocessableEntity
from prefect_firework.sandbox.config import SandboxConfig, human_size
from prefect_firework.sandbox.engine._probe import image_info

__all__ = ["Download", "PosterImage", "download_poster", "download_video"]

VIDEO_CONTENT_TYPES = ("video/mp4", "video/quicktime", "application/octet-stream")
VIDEO_EXTENSIONS = (".mp4", ".mov")
_SPOOL = 1024 * 1024
_CHUNK = 256 * 1024


@dataclass
class Download:
    """A downloaded video: its bytes (spooled), size and the remote Content-Type."""

    file: IO[bytes]
    size: int
    content_type: str


@dataclass(frozen=True)
class PosterImage:
    format: str
    width: int
    height: int
    data: bytes


def _media_type(headers: httpx.Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def download_video(
    http: httpx.Client,
    url: str,
    config: SandboxConfig,
    stop: threading.Event | None = None,
) -> Download:
    """GET ``url`` into a spooled file after checking the remote rules (400s)."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - returned open
    try:
        with http.stream("GET", url, timeout=config.import_download_timeout) as resp:
            if resp.status_code != 200:
                raise BadRequest(f"Could not download url: HTTP {resp.status_code}")
            media_type = _media_type(resp.headers)
            if media_type not in VIDEO_CONTENT_TYPES:
                raise BadRequest(
                    f"Unsupported Content-Type {media_type or 'none'!r} from url: expected "
                    "video/mp4, video/quicktime or application/octet-stream",
                )
            path = urllib.parse.urlsplit(str(resp.url)).path.lower()
            if media_type == "application/octet-stream" and not path.endswith(VIDEO_EXTENSIONS):
                raise BadRequest(
                    "application/octet-stream is only accepted for a .mp4 or .mov url path"
                )
            length_header = resp.headers.get("content-length")
            if length_header is None:
                raise BadRequest("The remote server must send a Content-Length header")
            try:
                length = int(length_header)
            except ValueError as exc:
                raise BadRequest("The remote server sent an invalid Content-Length") from exc
            if length > config.max_file_size:
                raise BadRequest(f"File too large (max {human_size(config.max_file_size)})")
            received = 0
            for chunk in resp.iter_raw(_CHUNK):
                if stop is not None and stop.is_set():
                    raise BadRequest("Import cancelled: the sandbox is stopping")
                received += len(chunk)
                if received > length:
                    raise BadRequest("The remote server sent more bytes than Content-Length")
                spool.write(chunk)
            if received != length:
                raise BadRequest(f"Download incomplete: {received} of {length} bytes")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: e.g. a bad redirect
        spool.close()
        raise BadRequest(f"Could not download url: {type(exc).__name__}") from exc
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Download(spool, received, media_type)


def download_poster(http: httpx.Client, url: str, config: SandboxConfig) -> PosterImage:
    """GET a poster and check it is a real JPEG or PNG (422 otherwise)."""
    try:
        with http.stream("GET", url, timeout=config.import_download_timeout) as resp:
            if resp.status_code != 200:
                raise UnprocessableEntity(
                    f"poster_url could not be downloaded: HTTP {resp.status_code}"
                )
            data = bytearray()
            for chunk in resp.iter_bytes(_CHUNK):
                data += chunk
                if len(data) > config.max_poster_size:
                    raise UnprocessableEntity("poster_url image is too large")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise UnprocessableEntity(
            f"poster_url could not be downloaded: {type(exc).__name__}"
        ) from exc
    info = image_info(bytes(data))
    if info is None:
        raise UnprocessableEntity("poster_url is not a JPEG or PNG image")
    fmt, width, height = info
    return PosterImage(fmt, width, height, bytes(data))
