"""Duration of an MP4/QuickTime file from its ``moov/mvhd`` box, using a few tiny ranged reads.

An ISO-BMFF (MP4) or QuickTime file is a sequence of boxes, each starting with a 32-bit size
and a 4-character type (size 1: a 64-bit size follows; size 0: the box runs to the end of the
file). The movie duration is ``duration / timescale`` in the ``mvhd`` box inside ``moov``.

Encoders usually write ``moov`` *after* the media data (``mdat``), so a naive reader downloads
the whole video to find it. :func:`read_duration` instead reads only box headers: 16 bytes at
each top-level box, jumping over ``mdat``/``free`` payloads by their size, then one 128-byte
read at each child of ``moov`` (enough for a whole ``mvhd``, which is normally the first
child). A typical file costs 3-6 reads of at most 128 bytes, wherever ``moov`` is.

Fragmented MP4s may carry a zero duration in ``mvhd``; then ``mvex/mehd`` (the fragment
duration) is used when present. Anything that does not parse raises :class:`ContainerError`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prefect_firework.errors import ContainerError

from .ranges import open_range

__all__ = ["ContainerError", "ReadAt", "probe_duration", "read_duration"]

#: ``read_at(offset, length)`` returns the bytes at ``[offset, offset + length)``
ReadAt = Callable[[int, int], bytes]

_TOP_WINDOW = 16  # a full box header, including a 64-bit size
_CHILD_WINDOW = 128  # a child header plus a whole mvhd (108 bytes v0, 120 bytes v1)
_MAX_BOXES = 10_000  # per level: a corrupt file must not make us loop for ever
_UNKNOWN_32 = 0xFFFFFFFF
_UNKNOWN_64 = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int
    header: int
    size: int
    head: bytes  # the first bytes of the box as read (header included)

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def name(self) -> str:
        return self.kind.decode("latin-1")


def _valid_kind(kind: bytes) -> bool:
    # Box types are four printable characters; QuickTime also uses (c)-prefixed types (0xA9).
    return len(kind) == 4 and all(0x20 <= b <= 0x7E or b == 0xA9 for b in kind)


def _boxes(read_at: ReadAt, start: int, end: int, window: int) -> Iterator[_Box]:
    """Yield the boxes laid end to end in ``[start, end)``, reading ``window`` bytes of each."""
    pos = start
    for _ in range(_MAX_BOXES):
        if end - pos < 8:
            return  # trailing padding shorter than a box header
        head = read_at(pos, min(window, end - pos))
        if len(head) < 8:
            raise ContainerError(f"short read of the box header at byte {pos}")
        size32, kind = struct.unpack(">I4s", head[:8])
        if not _valid_kind(kind):
            raise ContainerError(
                f"no valid box header at byte {pos}: not an MP4/QuickTime file or corrupt"
            )
        header = 8
        if size32 == 1:
            if len(head) < 16:
                raise ContainerError(f"box {kind!r} at byte {pos}: truncated 64-bit size")
            size = struct.unpack(">Q", head[8:16])[0]
            header = 16
        elif size32 == 0:
            size = end - pos  # the box extends to the end of its parent (or of the file)
        else:
            size = size32
        if size < header:
            raise ContainerError(f"box {kind!r} at byte {pos} has an invalid size {size}")
        if pos + size > end:
            raise ContainerError(
                f"box {kind.decode('latin-1')!r} at byte {pos} ({size} bytes) runs past the "
                f"end at byte {end}: truncated or corrupt file"
            )
        yield _Box(kind, pos, header, size, head)
        pos += size
    raise ContainerError(f"more than {_MAX_BOXES} boxes: corrupt file")


def _payload(read_at: ReadAt, box: _Box, need: int) -> bytes:
    """The first ``need`` payload bytes of ``box`` (re-read if the window was too small)."""
    if box.size - box.header < need:
        raise ContainerError(f"{box.name!r} box at byte {box.start} is too short")
    data = box.head[box.header : box.header + need]
    if len(data) < need:
        data = read_at(box.start + box.header, need)
    if len(data) < need:
        raise ContainerError(f"short read inside the {box.name!r} box at byte {box.start}")
    return data


def _mvhd(read_at: ReadAt, box: _Box) -> tuple[int, int, bool]:
    """Return (timescale, duration, duration_known) from an ``mvhd`` full box (v0 or v1)."""
    version = _payload(read_at, box, 1)[0]
    if version == 1:
        data = _payload(read_at, box, 32)  # version+flags, creation 8, modification 8, ...
        timescale, duration = struct.unpack(">IQ", data[20:32])
        known = duration not in (0, _UNKNOWN_64)
    elif version == 0:
        data = _payload(read_at, box, 20)  # version+flags, creation 4, modification 4, ...
        timescale, duration = struct.unpack(">II", data[12:20])
        known = duration not in (0, _UNKNOWN_32)
    else:
        raise ContainerError(f"unsupported mvhd version {version}")
    if timescale == 0:
        raise ContainerError("mvhd timescale is 0")
    return timescale, duration, known


def _mehd(read_at: ReadAt, mvex: _Box) -> int | None:
    """Fragment duration from ``mvex/mehd`` (fragmented MP4), in movie timescale units."""
    for child in _boxes(read_at, mvex.start + mvex.header, mvex.end, _CHILD_WINDOW):
        if child.kind == b"mehd":
            version = _payload(read_at, child, 1)[0]
            if version == 1:
                return int(struct.unpack(">Q", _payload(read_at, child, 12)[4:12])[0])
            return int(struct.unpack(">I", _payload(read_at, child, 8)[4:8])[0])
    return None


def read_duration(read_at: ReadAt, size: int) -> float:
    """Return the movie duration in seconds of the ``size``-byte file behind ``read_at``."""
    for box in _boxes(read_at, 0, size, _TOP_WINDOW):
        if box.kind == b"moov":
            return _moov_duration(read_at, box)
        if box.kind == b"cmov":
            raise ContainerError("compressed QuickTime movie header (cmov) is not supported")
    raise ContainerError("no 'moov' box (movie header): not a complete MP4/QuickTime file")


def _moov_duration(read_at: ReadAt, moov: _Box) -> float:
    mvhd: tuple[int, int, bool] | None = None
    mvex: _Box | None = None
    for child in _boxes(read_at, moov.start + moov.header, moov.end, _CHILD_WINDOW):
        if child.kind == b"mvhd" and mvhd is None:
            mvhd = _mvhd(read_at, child)
            if mvhd[2]:
                break
        elif child.kind == b"mvex":
            mvex = child
        elif child.kind == b"cmov":
            raise ContainerError("compressed QuickTime movie header (cmov) is not supported")
        if mvhd is not None and mvex is not None:
            break
    if mvhd is None:
        raise ContainerError("the 'moov' box has no 'mvhd' (movie header)")
    timescale, duration, known = mvhd
    if not known:
        fragment_duration = _mehd(read_at, mvex) if mvex is not None else None
        if not fragment_duration:
            raise ContainerError("the movie header gives no duration (unknown or zero)")
        duration = fragment_duration
    return duration / timescale


def probe_duration(
    source: str | os.PathLike[str],
    size: int,
    *,
    transport_params: Mapping[str, Any] | None = None,
) -> float:
    """:func:`read_duration` of any source, each read an :func:`open_range` of a few bytes."""

    def read_at(offset: int, length: int) -> bytes:
        with open_range(source, offset, length, transport_params=transport_params) as fh:
            return fh.read()

    return read_duration(read_at, size)
