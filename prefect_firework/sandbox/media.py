"""Real MP4 files for tests and the demo.

The sandbox reads durations from the container, so test media must be genuine: H.264 in an
MP4 written by FFmpeg (PyAV). Large test files are made cheaply by appending one valid
top-level ``free`` box, which every MP4 reader skips, so a 120 MB file costs a second of
disk writes rather than minutes of encoding.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

__all__ = ["make_mp4", "pad_to_size", "set_mp4_duration"]

_FPS = 4
_WIDTH = 64
_HEIGHT = 64
_CHUNK = 8 * 1024 * 1024


def make_mp4(
    path: str | os.PathLike[str],
    seconds: float,
    *,
    size: int | None = None,
    faststart: bool = False,
    seed: int = 0,
) -> Path:
    """Write a real H.264 MP4 of ``seconds`` to ``path`` and return the path.

    ``size`` pads the file with a top-level ``free`` box to exactly that many bytes (it must be
    at least the encoded size plus 8). ``faststart`` puts the ``moov`` box first; by default it
    sits at the end, as most encoders leave it, which is the harder case for readers. ``seed``
    varies the pixels so two files of the same length have different bytes.
    """
    import av  # heavy: imported only when media is made
    import numpy as np

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}
    frames = max(1, round(seconds * _FPS))
    with av.open(str(out), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=_FPS)
        stream.width = _WIDTH
        stream.height = _HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, _FPS)
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for i in range(frames):
            shade = (seed * 37 + i * 11) % 256
            img = np.full((_HEIGHT, _WIDTH, 3), shade, dtype=np.uint8)
            img[: _HEIGHT // 2, : _WIDTH // 2, 0] = (shade + 128) % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, _FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if size is not None:
        pad_to_size(out, size)
    return out


def pad_to_size(path: str | os.PathLike[str], size: int) -> None:
    """Append one top-level ``free`` box so the file is exactly ``size`` bytes."""
    current = os.path.getsize(path)
    pad = size - current
    if pad == 0:
        return
    if pad < 8:
        raise ValueError(f"cannot pad {path} from {current} to {size} bytes: a box needs 8")
    with open(path, "ab") as fh:
        if pad <= 0xFFFFFFFF:
            fh.write(struct.pack(">I4s", pad, b"free"))
            remaining = pad - 8
        else:
            fh.write(struct.pack(">I4sQ", 1, b"free", pad))
            remaining = pad - 16
        zeros = bytes(min(_CHUNK, remaining))
        while remaining > 0:
            n = min(len(zeros), remaining)
            fh.write(zeros[:n])
            remaining -= n


def set_mp4_duration(path: str | os.PathLike[str], seconds: float) -> None:
    """Rewrite the movie header (``mvhd``) so the container claims ``seconds``.

    Used to make "61 minute" and "2 second" files for limit tests without encoding them.
    Only the movie-level duration changes; it is what players and the API read.
    """
    with open(path, "r+b") as fh:
        data_len = os.path.getsize(path)
        moov = _find_box(fh, 0, data_len, b"moov")
        if moov is None:
            raise ValueError(f"{path}: no moov box")
        start, end = moov
        mvhd = _find_box(fh, start, end, b"mvhd")
        if mvhd is None:
            raise ValueError(f"{path}: no mvhd box")
        body = mvhd[0]
        fh.seek(body)
        version = fh.read(1)[0]
        if version == 1:
            fh.seek(body + 4 + 16)
            timescale = struct.unpack(">I", fh.read(4))[0]
            fh.write(struct.pack(">Q", round(seconds * timescale)))
        else:
            fh.seek(body + 4 + 8)
            timescale = struct.unpack(">I", fh.read(4))[0]
            fh.write(struct.pack(">I", round(seconds * timescale)))


def _find_box(fh, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """Return (body_start, box_end) of the first ``kind`` box between start and end."""
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        size, box = struct.unpack(">I4s", fh.read(8))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", fh.read(8))[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return None
        if box == kind:
            return pos + header, pos + size
        pos += size
    return None
