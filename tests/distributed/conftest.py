"""Several machines on one channel, simulated by separate worker processes on this machine:
one Prefect server (the session's test server), one sandbox, the ledger on a prefect-aws
``S3Bucket`` block on moto, locks in a real ``redis-server``."""

from __future__ import annotations

import pytest
from components import moto_s3, moto_s3_server, redis_server  # noqa: F401 (fixtures)


@pytest.fixture
def api_env(monkeypatch) -> str:
    """The test server's URL, also in the environment for the processes a test starts."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness did not set an API URL"
    monkeypatch.setenv("PREFECT_API_URL", url)
    return url
