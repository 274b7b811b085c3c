"""Flows run for real: Prefect test server + the sandbox (root conftest) over HTTP."""

import pytest


@pytest.fixture
def ledger(tmp_path):
    from prefect_firework.batch import Ledger

    return Ledger(tmp_path / "ledger")
