"""Suite-wide set-up: an isolated Prefect home and one Prefect test server per session.

Tests that run flows or save blocks are marked ``prefect_server`` (``pytestmark`` in their
module): they run on the session's temporary Prefect API, started on first use. Tests of the
sandbox, client, sources and most of the batch engine never start Prefect.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

_home = tempfile.mkdtemp(prefix="prefect-firework-tests-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["PREFECT_HOME"] = _home
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# the suite must not pick up a developer's real Firework credentials
for _name in list(os.environ):
    if _name.startswith("FIREWORK_"):
        del os.environ[_name]


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API (SQLite) for the whole session, without the flow-run heartbeat
    thread (joining it costs up to a second at the end of every flow run)."""
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={"flows.heartbeat_frequency": None}),
    ):
        yield


@pytest.fixture(autouse=True)
def _prefect_server(request: pytest.FixtureRequest) -> None:
    """Start (once) and use the session's Prefect API for tests marked ``prefect_server``."""
    if request.node.get_closest_marker("prefect_server") is not None:
        request.getfixturevalue("prefect_harness")


@pytest.fixture(scope="module")
def sandbox():
    """One sandbox per test module: a short transcoding delay and a generous create budget
    (pacing has tests of its own, with a small one)."""
    from prefect_firework.sandbox import Sandbox, SandboxConfig

    config = SandboxConfig(transcoding_delay=0.2, rate_limit_count=1000, rate_limit_window=60)
    with Sandbox(config=config) as sb:
        yield sb


@pytest.fixture
def sb(sandbox, monkeypatch):
    """The module's sandbox, emptied of earlier tests' videos, objects, requests and faults;
    the flows' pacer and polling are set to match it."""
    sandbox.reset()
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_CREATES", "1000")
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_WINDOW", "60")
    monkeypatch.setenv("FIREWORK_POLL_INTERVAL", "0.2")
    return sandbox


@pytest.fixture
def credentials(sb):
    """A credentials block for the sandbox's read/write client."""
    from prefect_firework.blocks import FireworkCredentials

    return FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )
