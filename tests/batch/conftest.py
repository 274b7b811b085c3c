"""Batch flows over real HTTP against the sandbox, with a Prefect test server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prefect_firework.ledger import Ledger
from prefect_firework.sandbox import Sandbox, SandboxConfig


@pytest.fixture(autouse=True)
def _prefect(prefect_harness):
    yield


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # a generous create budget: the pacing tests start their own sandbox with a small one
    with Sandbox(
        config=SandboxConfig(transcoding_delay=0.2, rate_limit_count=1000, rate_limit_window=60)
    ) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Sandbox, monkeypatch) -> Sandbox:
    sandbox.reset()
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_CREATES", "1000")
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_WINDOW", "60")
    monkeypatch.setenv("FIREWORK_POLL_INTERVAL", "0.2")
    return sandbox


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(tmp_path / "ledger")
