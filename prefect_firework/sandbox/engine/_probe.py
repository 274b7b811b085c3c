"""What the sandbox learns from bytes: an MP4's duration, an image's format and size.

Durations come from the container (mutagen reads ``mvhd``) so the 3 s .. 1 h rule is real, and
posters must really be JPEG or PNG images. ``png_bytes`` draws the placeholder images that the
sandbox's fake CDN serves for generated thumbnails.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import IO

__all__ = ["NotAVideoError", "image_info", "mp4_duration", "png_bytes"]


class NotAVideoError(Exception):
    """The bytes are not an MP4/QuickTime container with a movie header."""


def mp4_duration(fileobj: IO[bytes]) -> float:
    """Duration in seconds from the container's movie header."""
    from mutagen import MutagenError
    from mutagen.mp4 import MP4

    fileobj.seek(0)
    try:
        info = MP4(fileobj).info
    except (MutagenError, struct.error, ValueError, OSError) as exc:
        raise NotAVideoError(str(exc) or type(exc).__name__) from exc
    length = getattr(info, "length", None)
    if length is None:
        raise NotAVideoError("no movie header")
    return float(length)


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_info(data: bytes) -> tuple[str, int, int] | None:
    """``(format, width, height)`` of a PNG or JPEG image, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
            if marker in _SOF_MARKERS and i + 9 <= len(data):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return "jpg", width, height
            i += 2 + seg_len
    return None


@functools.lru_cache(maxsize=8)
def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (32, 96, 160)) -> bytes:
    """A valid single-colour RGB PNG (used for placeholder thumbnails and in tests)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )
