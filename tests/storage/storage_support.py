"""Media for the storage tests: a 120 MB MP4 whose ``moov`` sits at the very end."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from prefect_firework.sandbox.media import make_mp4

#: above the spec's ~100 MB single-upload hint: upload_video goes multipart
BIG_SIZE = 120 * 1000 * 1000
BIG_SECONDS = 5


def big_mp4(path: Path) -> Path:
    """A real 5 s MP4 padded to :data:`BIG_SIZE` with a ``free`` box *before* its ``moov``
    (a sparse hole: no disk blocks), so the duration sits in the last few KB of the file."""
    if path.exists():
        return path
    plain = make_mp4(path.with_name("plain.mp4"), BIG_SECONDS, seed=17)
    data = plain.read_bytes()
    pos, moov = 0, None
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"moov":
            moov = pos
            break
        pos += size
    assert moov is not None
    gap = BIG_SIZE - len(data)
    with path.open("wb") as fh:
        fh.write(data[:moov])
        fh.write(struct.pack(">I4s", gap, b"free"))
        fh.seek(gap - 8, os.SEEK_CUR)
        fh.write(data[moov:])
    assert path.stat().st_size == BIG_SIZE
    return path
