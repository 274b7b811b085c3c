"""Multipart upload parts, kept on the sandbox's disk until the upload completes.

Why not moto's own multipart API: moto assembles a completion in memory (three copies of the
whole file at once), which made a 120 MB upload cost the sandbox ~600 MB. Here each part is a
file; completion concatenates them on disk (MD5-summing on the way) and hands one file to moto.
A re-uploaded part replaces the earlier one atomically, as on S3.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from prefect_firework.sandbox.ids import new_id

__all__ = ["PartStore"]

_CHUNK = 1024 * 1024


class PartStore:
    """Part files under one temporary directory, one sub-directory per upload."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="firework-sandbox-parts-"))

    def _dir(self, upload_id: str) -> Path:
        return self.root / upload_id

    def create(self, upload_id: str) -> None:
        self._dir(upload_id).mkdir()

    def temp_path(self, upload_id: str, part: int) -> Path:
        """A fresh file to receive a part into (unique, so concurrent PUTs do not collide)."""
        return self._dir(upload_id) / f"part-{part}.{new_id(8)}.tmp"

    def commit(self, upload_id: str, part: int, received: Path) -> Path:
        """Make ``received`` the current bytes of ``part`` (replacing any earlier upload)."""
        final = self._dir(upload_id) / f"part-{part}"
        os.replace(received, final)
        return final

    def assemble(self, upload_id: str, parts: list[int]) -> tuple[Path, str]:
        """Concatenate ``parts`` in order into one file; return it and its MD5."""
        out = self._dir(upload_id) / f"assembled.{new_id(8)}"
        digest = hashlib.md5()
        with out.open("wb") as sink:
            for part in parts:
                with (self._dir(upload_id) / f"part-{part}").open("rb") as source:
                    for chunk in iter(lambda: source.read(_CHUNK), b""):
                        digest.update(chunk)
                        sink.write(chunk)
        return out, digest.hexdigest()

    def discard(self, upload_id: str) -> None:
        shutil.rmtree(self._dir(upload_id), ignore_errors=True)

    def clear(self) -> None:
        for child in self.root.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
