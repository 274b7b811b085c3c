"""A read-only stream of exactly ``length`` bytes pulled from a backend in small chunks.

Every backend (local file, S3 body, HTTP response, smart-open handle) is reduced to one
function, ``pull(n) -> bytes``, that returns at most ``n`` bytes and ``b""`` at its end.
:class:`RangeReader` turns that into a file-like object that

* never returns a byte past the range (``read()`` gives ``b""`` after ``length`` bytes), so a
  part upload cannot send a neighbour's bytes even if a backend over-delivers;
* raises :class:`~prefect_firework.sources.errors.SourceError` (rule ``"truncated"``) if the
  backend ends early, because a short part would silently corrupt the assembled video;
* asks the backend for at most :data:`MAX_CHUNK` bytes at a time, so memory per stream stays
  bounded by one chunk whatever the part size (``read(-1)`` is the caller's explicit opt-out);
* calls ``on_end`` (a backend's "is the source still the version I was asked for?") before it
  returns the range's last bytes, so a failed check stops the upload short of a whole part.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from .errors import SourceError

__all__ = ["MAX_CHUNK", "RangeReader"]

#: the largest single pull from a backend (and so the per-stream buffer bound)
MAX_CHUNK = 1024 * 1024


class RangeReader(io.BufferedIOBase):
    """File-like view of one byte range of a source; see the module docstring.

    ``read(n)`` returns exactly ``n`` bytes unless the range ends first (``BufferedIOBase``
    semantics); ``read1(n)`` returns what one backend pull gives; :meth:`iter_chunks` yields the
    range in chunks of at most ``chunk_size`` bytes, handy as a streaming request body.
    """

    def __init__(
        self,
        pull: Callable[[int], bytes],
        length: int,
        *,
        display: str,
        offset: int = 0,
        on_close: Callable[[], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._on_end = on_end
        self._pull = pull
        self._length = length
        self._offset = offset
        self._remaining = length
        self._display = display
        self._on_close = on_close

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self._length

    @property
    def remaining(self) -> int:
        """Bytes of the range not read yet."""
        return self._remaining

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Position within the range (0 .. length)."""
        return self._length - self._remaining

    def _pull_some(self, limit: int) -> bytes:
        want = min(limit, self._remaining, MAX_CHUNK)
        if want <= 0:
            return b""
        data = self._pull(want)
        if not data:
            position = self._offset + self.tell()
            raise SourceError(
                self._display,
                "truncated",
                f"source ended at byte {position}, {self._remaining} bytes before the end of "
                f"the requested range {self._offset}-{self._offset + self._length - 1}",
            )
        if len(data) > want:  # a backend must not over-deliver; never pass extra bytes on
            data = data[:want]
        self._remaining -= len(data)
        if not self._remaining and self._on_end is not None:
            self._on_end()  # before the last bytes are handed on: a failed check stops them
        return data

    def read1(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        if size is None or size < 0:
            size = MAX_CHUNK
        return self._pull_some(size)

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        if size is None or size < 0:
            size = self._remaining
        size = min(size, self._remaining)
        if size == 0:
            return b""
        first = self._pull_some(size)
        if len(first) == size:
            return first
        out = bytearray(first)
        while len(out) < size:
            out += self._pull_some(size - len(out))
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readinto1(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.read1(len(view))
        view[: len(data)] = data
        return len(data)

    def iter_chunks(self, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """Yield the rest of the range in chunks of at most ``chunk_size`` bytes."""
        while self._remaining:
            yield self.read(chunk_size)

    def close(self) -> None:
        if not self.closed:
            try:
                if self._on_close is not None:
                    self._on_close()
            finally:
                super().close()
