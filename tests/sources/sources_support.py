"""Helpers for the sources tests (imported by ``conftest.py`` and the test modules)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIG_SIZE = 120 * 1000 * 1000


def top_level_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((kind, pos, size))
        pos += size
    return out


def write_moov_after_gap(src: Path, dst: Path, gap: int) -> Path:
    """Copy ``src`` (moov at the end) with a ``gap``-byte ``free`` box before its ``moov``.

    The gap is a sparse hole (zeros, no disk blocks), so a 120 MB file costs nothing; the file
    stays valid because only boxes after ``mdat`` move.
    """
    data = src.read_bytes()
    moov = next(pos for kind, pos, _ in top_level_boxes(data) if kind == b"moov")
    with dst.open("wb") as fh:
        fh.write(data[:moov])
        fh.write(struct.pack(">I4s", gap, b"free"))
        fh.seek(gap - 8, os.SEEK_CUR)
        fh.write(data[moov:])
    return dst


@dataclass
class Media:
    """Test media made once per session (see the ``media`` fixture)."""

    root: Path
    ok: Path  # 5 s, moov at the end, 100 KB
    faststart: Path  # 5 s, moov first, 100 KB
    mov: Path  # 5 s, upper-case .MOV
    short: Path  # claims 2 s
    long: Path  # claims 61 min
    tiny: Path  # 24 KB real mp4
    empty: Path  # 0 B .mp4
    garbage: Path  # random bytes named .mp4
    big: Path  # 120 MB, moov after a 120 MB hole
    gif: Path
    avi: Path
    extra: dict[str, Path] = field(default_factory=dict)


@dataclass
class S3:
    """A moto S3 server with one bucket, and the transport params that reach it."""

    endpoint: str
    bucket: str
    client: Any

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "region_name": "us-east-1",
        }

    @property
    def transport_params(self) -> dict[str, Any]:
        return {"client_kwargs": {"S3.Client": self.init_kwargs}}

    def put(self, key: str, path: Path) -> str:
        self.client.upload_file(str(path), self.bucket, key)
        return f"s3://{self.bucket}/{key}"


class GetObjectLog:
    """Records the ``Range`` of every GetObject (and counts HeadObject) a boto3 client sends."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.ranges: list[str | None] = []
        self.heads = 0
        client.meta.events.register("before-parameter-build.s3.GetObject", self._get)
        client.meta.events.register("before-parameter-build.s3.HeadObject", self._head)

    def _get(self, params: dict[str, Any], **_: Any) -> None:
        self.ranges.append(params.get("Range"))

    def _head(self, params: dict[str, Any], **_: Any) -> None:
        self.heads += 1

    def close(self) -> None:
        self.client.meta.events.unregister("before-parameter-build.s3.GetObject", self._get)
        self.client.meta.events.unregister("before-parameter-build.s3.HeadObject", self._head)

    def bounded(self) -> list[tuple[int, int]]:
        """All ranges as (first, last); fails on an open-ended or missing range."""
        out = []
        for value in self.ranges:
            assert value is not None and value.startswith("bytes="), value
            first, last = value[len("bytes=") :].split("-")
            assert first and last, f"open-ended range {value!r}"
            out.append((int(first), int(last)))
        return out
