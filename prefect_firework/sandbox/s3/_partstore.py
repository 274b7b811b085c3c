"""Multipart upload parts, kept on the sandbox's disk; after completion they are the object.

Each part is a file, and a re-uploaded part replaces the earlier one atomically, as on S3.
Completion checks the part records and hands the files, in order, to a ``PartsObject``: no
byte is copied, reads go through the files and the MD5 is computed when first asked for.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect_firework.sandbox.engine._ids import new_id

__all__ = ["PartStore", "PartsObject", "PartsReader", "multipart_etag"]

_CHUNK = 8 * 1024 * 1024


def multipart_etag(part_etags: Sequence[str]) -> str:
    """S3's ETag of a completed multipart upload: MD5 of the parts' binary ETags, ``-N``."""
    joined = b"".join(bytes.fromhex(etag) for etag in part_etags)
    return f"{hashlib.md5(joined).hexdigest()}-{len(part_etags)}"


class PartStore:
    """Part files under one temporary directory, one sub-directory per upload."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="firework-sandbox-parts-"))

    def folder(self, upload_id: str) -> Path:
        return self.root / upload_id

    def create(self, upload_id: str) -> None:
        self.folder(upload_id).mkdir()

    def temp_path(self, upload_id: str, part: int) -> Path:
        """A fresh file to receive a part into (unique, so concurrent PUTs do not collide)."""
        return self.folder(upload_id) / f"part-{part}.{new_id(8)}.tmp"

    def part_path(self, upload_id: str, part: int) -> Path:
        return self.folder(upload_id) / f"part-{part}"

    def commit(self, upload_id: str, part: int, received: Path) -> Path:
        """Make ``received`` the current bytes of ``part`` (replacing any earlier upload)."""
        final = self.part_path(upload_id, part)
        os.replace(received, final)
        return final

    def discard(self, upload_id: str) -> None:
        shutil.rmtree(self.folder(upload_id), ignore_errors=True)

    def clear(self) -> None:
        for child in self.root.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class PartsObject:
    """An object completed from parts: its bytes are the part files, in order, never copied.

    Owns ``folder`` (the upload's part directory) from completion on; ``discard`` removes it.
    """

    def __init__(
        self,
        *,
        key: str,
        folder: Path,
        files: Sequence[Path],
        sizes: Sequence[int],
        etag: str,
        content_type: str,
        last_modified: datetime,
    ) -> None:
        if len(files) != len(sizes) or not files:
            raise ValueError("a parts object needs one size per part file, and a part")
        self.key = key
        self.folder = folder
        self.files = tuple(files)
        self.sizes = tuple(sizes)
        self.size = sum(sizes)
        self.etag = etag
        self.content_type = content_type
        self.last_modified = last_modified
        self._md5: str | None = None
        self._md5_lock = threading.Lock()

    def check_files(self) -> None:
        """Every part file exists with the size the front recorded (one ``stat`` per part)."""
        for path, size in zip(self.files, self.sizes, strict=True):
            actual = path.stat().st_size
            if actual != size:
                raise RuntimeError(f"{path.name} holds {actual} bytes, {size} were accepted")

    @property
    def md5_if_known(self) -> str | None:
        return self._md5

    def md5(self) -> str:
        """MD5 of the object's bytes, computed from the part files once, on first request."""
        with self._md5_lock:
            if self._md5 is None:
                digest = hashlib.md5()
                with self.open() as reader:
                    for chunk in iter(lambda: reader.read(_CHUNK), b""):
                        digest.update(chunk)
                    if reader.tell() != self.size:
                        raise RuntimeError(f"{self.key}: read {reader.tell()} of {self.size} B")
                self._md5 = digest.hexdigest()
            return self._md5

    def open(self) -> PartsReader:
        return PartsReader(self.files, self.sizes)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class PartsReader(io.RawIOBase):
    """A seekable read-only file over the part files of a ``PartsObject``.

    Every read returns as many bytes as asked for (up to the end), across part boundaries, so
    readers that expect full reads (mutagen) work as on one file.
    """

    def __init__(self, files: Sequence[Path], sizes: Sequence[int]) -> None:
        super().__init__()
        self._files = tuple(files)
        self._sizes = tuple(sizes)
        self._starts = [0, *itertools.accumulate(self._sizes)][:-1]
        self._size = sum(self._sizes)
        self._pos = 0
        self._handles: dict[int, Any] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._size + offset
        self._pos = max(0, self._pos)
        return self._pos

    def _handle(self, index: int) -> Any:
        handle = self._handles.get(index)
        if handle is None:
            handle = self._handles[index] = self._files[index].open("rb")
        return handle

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._pos < self._size:
            index = bisect.bisect_right(self._starts, self._pos) - 1
            offset = self._pos - self._starts[index]
            want = min(len(view) - filled, self._sizes[index] - offset)
            handle = self._handle(index)
            handle.seek(offset)
            got = handle.readinto(view[filled : filled + want])
            if not got:
                raise OSError(f"{self._files[index].name} ended before its recorded size")
            filled += got
            self._pos += got
        return filled

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
        super().close()
