"""Fixtures for the client tests (helpers live in ``client_fakes``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from client_fakes import API, CLIENT_ID, CLIENT_SECRET, FakeFirework, FakeTransport

from prefect_firework.client import FireworkClient


@pytest.fixture
def fake() -> FakeFirework:
    return FakeFirework()


@pytest.fixture
def client(fake: FakeFirework) -> Iterator[FireworkClient]:
    with FireworkClient(
        CLIENT_ID,
        CLIENT_SECRET,
        base_url=API,
        transport=FakeTransport(fake.api),
        s3_transport=FakeTransport(fake.s3),
    ) as fw:
        yield fw


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(range(256)) * 400 + b"tail")  # 102,404 bytes, not chunk aligned
    return path
