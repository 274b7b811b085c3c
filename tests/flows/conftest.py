"""Flows run for real: Prefect test server + the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

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
