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
from .info import SourceStat
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
    parsed: ParsedSource, offset: int, length: int, tp: Mapping[str, Any]
) -> Iterator[RangeReader]:
    """smart-open open + seek, then a reader bounded to ``length`` (see the module docstring)."""
    with ExitStack() as stack:
        fh = stack.enter_context(_open(parsed, tp))
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
