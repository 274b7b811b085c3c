"""Helpers shared by the flow tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect_firework.sandbox import Sandbox


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def field(record, name):
    """Sandbox records may be dicts or objects."""
    return record[name] if isinstance(record, dict) else getattr(record, name)


def requests_to(sb: Sandbox, endpoint: str) -> list:
    return [r for r in sb.requests if field(r, "endpoint") == endpoint]
