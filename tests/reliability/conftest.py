"""Reliability and security suite: flows against the sandbox under faults, crashes, bad input.

Flow tests run on the session's temporary Prefect API (the ``prefect_server`` marker). Each test
gets a fresh ``FireworkClient`` (no token or connection left over from an earlier test), so token
faults really reach the token endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prefect_firework.batch._ledger import Ledger
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.blocks import credentials as credentials_module
from prefect_firework.sandbox import Sandbox, SandboxConfig


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # a generous create budget (pacing has its own tests) and a short transcoding delay
    with Sandbox(
        config=SandboxConfig(transcoding_delay=0.1, rate_limit_count=1000, rate_limit_window=60)
    ) as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox.reset()
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_CREATES", "1000")
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_WINDOW", "60")
    monkeypatch.setenv("FIREWORK_POLL_INTERVAL", "0.1")
    return sandbox


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts without a cached client (and so without a cached token)."""
    clients: dict = {}
    monkeypatch.setattr(credentials_module, "_clients", clients)
    yield
    for client in clients.values():
        client.close()


@pytest.fixture
def credentials(sb: Sandbox) -> FireworkCredentials:
    return FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(tmp_path / "ledger")
