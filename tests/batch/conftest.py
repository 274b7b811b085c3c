"""Fixtures of the batch building blocks: a local S3 (moto) and a fake clock.

Nothing here starts Prefect; the tests that need its API are marked ``prefect_server``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from batch_support import S3_CREDENTIALS, FakeClock


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port), for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> tuple[str, dict[str, Any]]:
    """A fresh bucket and the smart-open ``transport_params`` that reach it."""
    import boto3

    name = f"manifests-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, **S3_CREDENTIALS).create_bucket(Bucket=name)
    transport_params = {
        "client_kwargs": {"S3.Client": {"endpoint_url": moto_endpoint, **S3_CREDENTIALS}}
    }
    return name, transport_params


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
