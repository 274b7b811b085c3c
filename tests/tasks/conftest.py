"""Tasks run for real: Prefect test server + the sandbox (root conftest) over HTTP."""

import pytest


@pytest.fixture(autouse=True)
def _prefect(prefect_harness):
    yield
