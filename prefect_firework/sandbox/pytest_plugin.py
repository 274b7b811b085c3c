"""pytest plugin: Firework sandbox fixtures for your own tests.

Registered through the ``pytest11`` entry point, so installing ``prefect-firework[sandbox]``
makes the fixtures available everywhere. Importing this module is cheap and needs none of the
sandbox's dependencies; they load when a fixture is first used.

* ``firework_sandbox`` - function-scoped: one session-wide sandbox, ``reset()`` before each
  test (no videos, objects, requests or faults left from earlier tests; credentials, channels
  and products stay the same). Fast: the servers start once per session.
* ``firework_sandbox_config`` - the ``SandboxConfig`` of that session sandbox; override this
  session-scoped fixture in your ``conftest.py`` to change limits for all tests.
* ``firework_sandbox_factory`` - ``make(config=None, **overrides)`` starts a separate sandbox,
  e.g. ``make(rate_limit_count=2)``; every sandbox it made stops at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from prefect_firework.sandbox._sandbox import Sandbox
    from prefect_firework.sandbox.config import SandboxConfig


@pytest.fixture(scope="session")
def firework_sandbox_config() -> SandboxConfig:
    """Config of the session sandbox (spec defaults); override to change it."""
    from prefect_firework.sandbox.config import SandboxConfig

    return SandboxConfig()


@pytest.fixture(scope="session")
def firework_sandbox_session(firework_sandbox_config: SandboxConfig) -> Iterator[Sandbox]:
    """The one sandbox shared by every ``firework_sandbox`` test of the session."""
    from prefect_firework.sandbox._sandbox import Sandbox

    with Sandbox(config=firework_sandbox_config) as sandbox:
        yield sandbox


@pytest.fixture
def firework_sandbox(firework_sandbox_session: Sandbox) -> Sandbox:
    """The session sandbox, reset: a clean view for this test."""
    firework_sandbox_session.reset()
    return firework_sandbox_session


@pytest.fixture
def firework_sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with their own config; all stop when the test ends."""
    from prefect_firework.sandbox._sandbox import Sandbox
    from prefect_firework.sandbox.config import SandboxConfig

    started: list[Sandbox] = []

    def make(config: SandboxConfig | None = None, **overrides: Any) -> Sandbox:
        cfg = config or SandboxConfig()
        if overrides:
            cfg = cfg.replace(**overrides)
        sandbox = Sandbox(config=cfg).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        sandbox.stop()
