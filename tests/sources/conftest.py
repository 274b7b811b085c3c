"""Shared media and servers for the sources tests: real MP4s, a FileServer, a moto S3 server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from sources_support import BIG_SIZE, S3, GetObjectLog, Media, write_moov_after_gap

from prefect_firework.sandbox.files import FileServer
from prefect_firework.sandbox.media import make_mp4, set_mp4_duration


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    root = tmp_path_factory.mktemp("media")
    ok = make_mp4(root / "ok.mp4", 5, size=100_000, seed=1)
    faststart = make_mp4(root / "fast.mp4", 5, size=100_000, faststart=True, seed=2)
    mov = make_mp4(root / "clip.MOV", 5, size=60_000, seed=3)
    short = make_mp4(root / "short.mp4", 5, size=60_000, seed=4)
    set_mp4_duration(short, 2.0)
    long = make_mp4(root / "long.mp4", 5, size=60_000, seed=5)
    set_mp4_duration(long, 61 * 60)
    tiny = make_mp4(root / "tiny.mp4", 5, size=24 * 1024, seed=6)
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    garbage = root / "garbage.mp4"
    garbage.write_bytes(os.urandom(64 * 1024))
    plain = make_mp4(root / "plain-src.mp4", 5, seed=7)
    big = write_moov_after_gap(plain, root / "big.mp4", BIG_SIZE - plain.stat().st_size)
    assert big.stat().st_size == BIG_SIZE
    gif = root / "anim.gif"
    shutil.copy(ok, gif)
    avi = root / "movie.avi"
    shutil.copy(ok, avi)
    return Media(root, ok, faststart, mov, short, long, tiny, empty, garbage, big, gif, avi)


@pytest.fixture(scope="module")
def file_server(media: Media) -> Iterator[FileServer]:
    with FileServer(media.root) as server:
        yield server


@pytest.fixture
def http(file_server: FileServer) -> FileServer:
    """The module's file server with a clean request log and default behaviours."""
    file_server.clear_requests()
    for name in list(file_server._behaviors):
        file_server.set_behavior(name)
    return file_server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="media")
        yield S3(endpoint, "media", client)
    finally:
        server.stop()


@pytest.fixture
def s3_log(s3: S3) -> Iterator[GetObjectLog]:
    """Requests made through the process-wide client for the moto endpoint."""
    from prefect_firework.sources.s3 import shared_client

    log = GetObjectLog(shared_client(s3.init_kwargs))
    yield log
    log.close()
