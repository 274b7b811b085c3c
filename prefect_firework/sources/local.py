"""Local files (plain paths and ``file://``): ``os.stat`` and ``open`` + ``seek``.

No smart-open here: the OS already gives random access, and going through smart-open would only
add a layer of buffering.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import SourceError
from .info import SourceStat, SourceVersion
from .reader import RangeReader
from .uri import ParsedSource

__all__ = ["open_local_range", "stat_local"]


def _unreadable(parsed: ParsedSource, exc: OSError) -> SourceError:
    reason = {
        FileNotFoundError: "no such file",
        PermissionError: "permission denied",
        IsADirectoryError: "is a directory, not a file",
    }.get(type(exc), exc.strerror or type(exc).__name__)
    return SourceError(parsed.display, "unreadable", reason)


def _path(parsed: ParsedSource) -> str:
    assert parsed.local_path is not None  # a local ParsedSource always has one
    return parsed.local_path


def stat_local(parsed: ParsedSource) -> SourceStat:
    """``os.stat`` the file; directories, sockets and the like are unreadable sources."""
    try:
        st = os.stat(_path(parsed))
    except OSError as exc:
        raise _unreadable(parsed, exc) from exc
    if not stat_module.S_ISREG(st.st_mode):
        raise SourceError(parsed.display, "unreadable", "not a regular file")
    return SourceStat(parsed.uri, st.st_size, None, st.st_mtime)


def _check_version(parsed: ParsedSource, fd: int, expect: SourceVersion) -> None:
    st = os.fstat(fd)
    problem = expect.differs(SourceVersion(st.st_size, None, st.st_mtime))
    if problem:
        raise SourceError(parsed.display, "changed", f"the file changed since preflight: {problem}")


@contextmanager
def open_local_range(
    parsed: ParsedSource, offset: int, length: int, expect: SourceVersion | None = None
) -> Iterator[RangeReader]:
    """Open the file, seek to ``offset``, and yield a reader bounded to ``length`` bytes.

    With ``expect``: the open file's size and mtime must match it when opened and again when
    the last byte of the range has been read (a rewrite in place during the read shows).
    """
    try:
        fh = open(_path(parsed), "rb")  # noqa: SIM115 - closed by the reader's on_close
    except OSError as exc:
        raise _unreadable(parsed, exc) from exc
    try:
        on_end = None
        if expect is not None:
            _check_version(parsed, fh.fileno(), expect)
            fd = fh.fileno()
            on_end = lambda: _check_version(parsed, fd, expect)  # noqa: E731
        fh.seek(offset)
        reader = RangeReader(
            fh.read,
            length,
            display=parsed.display,
            offset=offset,
            on_close=fh.close,
            on_end=on_end,
        )
    except BaseException:
        fh.close()
        raise
    with reader:
        yield reader
