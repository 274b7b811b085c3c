"""Flows run for real: Prefect test server + the sandbox over HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.sandbox import Sandbox, SandboxConfig


@pytest.fixture(autouse=True)
def _prefect(prefect_harness):
    yield


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(config=SandboxConfig(transcoding_delay=0.2)) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    sandbox.reset()
    return sandbox


@pytest.fixture
def credentials(sb: Sandbox) -> FireworkCredentials:
    return FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )


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
