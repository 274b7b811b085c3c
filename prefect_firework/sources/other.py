"""Every other smart-open scheme (``hdfs://``, ``sftp://``, ``webhdfs://``, ...).

These go through ``smart_open.open`` with the caller's ``transport_params``. The cost, which
the dedicated S3/HTTP/GCS/Azure readers avoid: the backend reads in its own buffer units and
may have to read from the start of the file to seek (SFTP, HDFS). Size comes from
``seek(0, SEEK_END)``, which these readers answer from object metadata; no ETag or mtime is
reported, so fingerprints fall back to size and content hashes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import IO, Any

from .errors import SourceError
from .info import SourceStat, SourceVersion
from .reader import RangeReader
from .uri import ParsedSource

__all__ = ["open_other_range", "stat_other"]


def _open(parsed: ParsedSource, tp: Mapping[str, Any]) -> IO[bytes]:
    import smart_open

    try:
        return smart_open.open(parsed.uri, "rb", compression="disable", transport_params=dict(tp))
    except Exception as exc:  # each backend raises its own types (NotFound, ImportError...)
        raise _unreadable(parsed, exc) from exc


def _unreadable(parsed: ParsedSource, exc: BaseException) -> SourceError:
    # Backend messages may quote the full URI; replace it with the redacted form.
    text = str(exc).replace(parsed.uri, parsed.display)
    return SourceError(parsed.display, "unreadable", f"{type(exc).__name__}: {text}"[:300])


def _size_of(fh: IO[bytes]) -> int | None:
    """The size smart-open's reader learned from the object's metadata, if it says."""
    for attribute in ("_size", "size"):
        size = getattr(fh, attribute, None)
        if isinstance(size, int):
            return size
    raw = getattr(fh, "_raw_reader", None) or getattr(fh, "_raw", None)
    size = getattr(raw, "_size", None)
    return size if isinstance(size, int) else None


def stat_other(parsed: ParsedSource, tp: Mapping[str, Any]) -> SourceStat:
    """Size by seeking to the end of a smart-open reader."""
    with _open(parsed, tp) as fh:
        try:
            size = fh.seek(0, io.SEEK_END)
        except Exception as exc:
            raise _unreadable(parsed, exc) from exc
    return SourceStat(parsed.uri, int(size))


@contextmanager
def open_other_range(
    parsed: ParsedSource,
    offset: int,
    length: int,
    tp: Mapping[str, Any],
    expect: SourceVersion | None = None,
) -> Iterator[RangeReader]:
    """smart-open open + seek, then a reader bounded to ``length`` (see the module docstring).

    With ``expect``, the object's size (all these readers report) must still match it.
    """
    with ExitStack() as stack:
        fh = stack.enter_context(_open(parsed, tp))
        if expect is not None:
            size = _size_of(fh)
            if size is not None and size != expect.size:
                raise SourceError(
                    parsed.display,
                    "changed",
                    f"the source changed since preflight: its size is now {size:,} bytes, "
                    f"not {expect.size:,}",
                )
        try:
            fh.seek(offset)
        except Exception as exc:
            raise _unreadable(parsed, exc) from exc

        def pull(n: int) -> bytes:
            try:
                return fh.read(n)
            except Exception as exc:
                raise _unreadable(parsed, exc) from exc

        yield stack.enter_context(RangeReader(pull, length, display=parsed.display, offset=offset))
