"""Deployments and distributed runs, for real: the session's Prefect test server, the sandbox
on 127.0.0.1, and runners, Dask workers and task workers started (and stopped) by the tests.

Processes these tests start (flow-run subprocesses, Dask workers, ``prefect`` CLIs) find the
test server through ``PREFECT_API_URL``, which ``api_env`` puts in the environment; they
inherit ``PREFECT_HOME`` from the root conftest.
"""

from __future__ import annotations

import uuid

import pytest

from prefect_firework.blocks import FireworkCredentials


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: needs more than 60 s; runs in `make test` too")


@pytest.fixture
def api_env(monkeypatch) -> str:
    """The test server's URL, also in the environment for the processes a test starts."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness did not set an API URL"
    monkeypatch.setenv("PREFECT_API_URL", url)
    return url


@pytest.fixture
def block_name(credentials: FireworkCredentials) -> str:
    """A saved FireworkCredentials block for the sandbox: what deployments pass by name."""
    name = f"sandbox-{uuid.uuid4().hex[:10]}"
    credentials.save(name)
    return name
