"""Batch flows over real HTTP against the sandbox, with a Prefect test server."""

from __future__ import annotations

import pytest

from prefect_firework.batch._ledger import Ledger


@pytest.fixture(autouse=True)
def _prefect(prefect_harness):
    yield


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(tmp_path / "ledger")
