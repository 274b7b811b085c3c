"""``open_range``: a stream of exactly one byte range of any source.

This is what a part upload reads from: part N of a 5 GB video is ``open_range(source,
part.offset, part.length)``, streamed straight into the part's PUT. Each backend reads only
(about) the bytes asked for, in one request where the protocol allows it, and buffers at most
one small chunk; see :mod:`.local`, :mod:`.s3`, :mod:`.http`, :mod:`.gcs`, :mod:`.azure` and
:mod:`.other` for how.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .info import SourceVersion
from .reader import RangeReader
from .uri import parse_source

__all__ = ["open_range"]


@contextmanager
def open_range(
    source: str | os.PathLike[str],
    offset: int,
    length: int,
    *,
    transport_params: Mapping[str, Any] | None = None,
    expect: SourceVersion | None = None,
) -> Iterator[RangeReader]:
    """Yield a binary stream of bytes ``[offset, offset + length)`` of ``source``.

    ``read()`` returns ``b""`` after ``length`` bytes. If the source ends before the range
    does, reading raises :class:`~prefect_firework.sources.errors.SourceError` with rule
    ``"truncated"``; a missing or forbidden source raises one with rule ``"unreadable"`` on
    entry; an HTTP server that ignores ``Range`` raises rule ``"range_unsupported"``.

    With ``expect``, a source that is no longer that version raises rule ``"changed"``: on
    entry, and again before the range's last bytes are returned (local files: size and
    mtime; S3: ``If-Match`` on the ETag; HTTP: ``If-Range`` and the response's validators).
    """
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative int, got {offset!r}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be a non-negative int, got {length!r}")
    parsed = parse_source(source)
    if length == 0:  # nothing to read: no request at all
        with RangeReader(lambda _n: b"", 0, display=parsed.display, offset=offset) as empty:
            yield empty
        return
    tp = transport_params or {}
    if parsed.kind == "local":
        from .local import open_local_range

        with open_local_range(parsed, offset, length, expect) as reader:
            yield reader
    elif parsed.kind == "s3":
        from .s3 import open_s3_range

        with open_s3_range(parsed, offset, length, tp, expect) as reader:
            yield reader
    elif parsed.kind == "http":
        from .http import open_http_range

        with open_http_range(parsed, offset, length, tp, expect) as reader:
            yield reader
    elif parsed.kind == "gcs":
        from .gcs import open_gcs_range

        with open_gcs_range(parsed, offset, length, tp) as reader:
            yield reader
    elif parsed.kind == "azure":
        from .azure import open_azure_range

        with open_azure_range(parsed, offset, length, tp) as reader:
            yield reader
    else:
        from .other import open_other_range

        with open_other_range(parsed, offset, length, tp, expect) as reader:
            yield reader
