"""Helpers for the batch flow tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect_firework.sandbox import Sandbox
from prefect_firework.sandbox.media import make_mp4


def field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def calls(sb: Sandbox, endpoint: str) -> list[Any]:
    return [r for r in sb.requests if field(r, "endpoint") == endpoint]


def video_ids(sb: Sandbox) -> list[str]:
    return [field(v, "id") for v in sb.videos()]


def files(directory: Path, count: int, *, size: int = 60_000, prefix: str = "v") -> list[str]:
    return [
        str(make_mp4(directory / f"{prefix}{i}.mp4", 4, size=size + i, seed=i + 100 * len(prefix)))
        for i in range(count)
    ]
