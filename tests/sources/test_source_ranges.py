"""open_range: exact byte ranges from local files, file://, HTTP and S3; errors; bounded reads."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sources_support import S3, GetObjectLog

from prefect_firework.sandbox.files import FileServer
from prefect_firework.sources import RangeReader, SourceError, open_range
from prefect_firework.sources import s3 as s3_module
from prefect_firework.sources.reader import MAX_CHUNK

SIZE = 3 * 1024 * 1024 + 12_345


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = random.Random(7).randbytes(SIZE)
    path = tmp_path_factory.mktemp("blob") / "blob.mp4"
    path.write_bytes(data)
    return path, data


def read_all(source: object, offset: int, length: int, **kw: object) -> bytes:
    with open_range(source, offset, length, **kw) as fh:  # type: ignore[arg-type]
        data = fh.read()
        assert fh.read() == b""
        assert fh.read(10) == b""
    return data


def random_ranges(seed: int, count: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    out = [(0, 1), (0, SIZE), (SIZE - 1, 1), (MAX_CHUNK - 3, 7), (5, 2 * MAX_CHUNK + 9)]
    for _ in range(count):
        offset = rng.randrange(SIZE)
        out.append((offset, rng.randint(1, SIZE - offset)))
    return out


# -- local ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_local_exact(blob: tuple[Path, bytes], data: st.DataObject) -> None:
    path, content = blob
    offset = data.draw(st.integers(0, SIZE))
    length = data.draw(st.integers(0, SIZE - offset))
    source = data.draw(st.sampled_from([path, str(path), f"file://{path}"]))
    assert read_all(source, offset, length) == content[offset : offset + length]


def test_reader_semantics(blob: tuple[Path, bytes]) -> None:
    path, content = blob
    with open_range(path, 100, 2 * MAX_CHUNK + 50) as fh:
        assert isinstance(fh, RangeReader)
        assert fh.readable() and not fh.seekable()
        assert fh.read(10) == content[100:110]
        assert fh.tell() == 10
        assert len(fh.read1(5 * MAX_CHUNK)) <= MAX_CHUNK  # one bounded pull
        buf = bytearray(20)
        n = fh.readinto(buf)
        assert n == 20
        rest = b"".join(fh.iter_chunks(100_000))
        assert fh.remaining == 0
        assert all(len(c) <= 100_000 for c in fh.iter_chunks(100_000))
    assert len(rest) + 10 + 20 <= 2 * MAX_CHUNK + 50
    assert fh.closed


def test_zero_length_does_no_io(tmp_path: Path) -> None:
    # the file does not even exist: nothing is opened
    with open_range(tmp_path / "missing.mp4", 10, 0) as fh:
        assert fh.read() == b""


@pytest.mark.parametrize(("offset", "length"), [(-1, 5), (0, -1), (1.5, 2), (True, 1)])
def test_invalid_arguments(blob: tuple[Path, bytes], offset: object, length: object) -> None:
    with pytest.raises(ValueError), open_range(blob[0], offset, length):  # type: ignore[arg-type]
        pass


def test_local_missing_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info, open_range(tmp_path / "nope.mp4", 0, 10):
        pass
    assert info.value.rule == "unreadable"
    assert "nope.mp4" in str(info.value)
    assert "no such file" in str(info.value)


def test_past_the_end_is_truncated(blob: tuple[Path, bytes]) -> None:
    path, _ = blob
    with open_range(path, SIZE - 10, 20) as fh, pytest.raises(SourceError) as info:
        fh.read()
    assert info.value.rule == "truncated"


def test_callers_errors_pass_through(blob: tuple[Path, bytes]) -> None:
    with pytest.raises(KeyError), open_range(blob[0], 0, 10):
        raise KeyError("caller")


def test_errors_pickle() -> None:
    error = SourceError("s3://b/k.mp4", "unreadable", "gone")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.source, clone.rule, clone.message) == ("s3://b/k.mp4", "unreadable", "gone")
    assert str(clone) == "s3://b/k.mp4: gone (rule: unreadable)"


# -- HTTP -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blob_server(blob: tuple[Path, bytes]):
    with FileServer(blob[0].parent) as server:
        yield server


def test_http_exact(blob: tuple[Path, bytes], blob_server: FileServer) -> None:
    _, content = blob
    url = blob_server.url_for("blob.mp4")
    for offset, length in random_ranges(1, 25):
        blob_server.clear_requests()
        assert read_all(url, offset, length) == content[offset : offset + length]
        # one bounded request per range, for exactly that range
        assert blob_server.requests == [
            ("GET", "/blob.mp4", f"bytes={offset}-{offset + length - 1}")
        ]


def test_http_ignoring_range_is_refused(blob_server: FileServer) -> None:
    blob_server.set_behavior("blob.mp4", ignore_range=True)
    try:
        with (
            pytest.raises(SourceError) as info,
            open_range(blob_server.url_for("blob.mp4"), 1000, 100),
        ):
            pass
        assert info.value.rule == "range_unsupported"
        assert "ignores HTTP Range" in str(info.value)
        # a 200 that IS the requested range (the whole file) is fine
        (_,) = [None]
        with open_range(blob_server.url_for("blob.mp4"), 0, SIZE) as fh:
            assert len(fh.read()) == SIZE
    finally:
        blob_server.set_behavior("blob.mp4")


@pytest.mark.parametrize("status", [403, 404, 500])
def test_http_errors_are_unreadable(blob_server: FileServer, status: int) -> None:
    blob_server.set_behavior("blob.mp4", status=status)
    try:
        url = blob_server.url_for("blob.mp4") + "?X-Amz-Signature=supersecret"
        with pytest.raises(SourceError) as info, open_range(url, 0, 10):
            pass
        assert info.value.rule == "unreadable"
        assert str(status) in str(info.value)
        assert "supersecret" not in str(info.value)
        assert "?" not in info.value.source
    finally:
        blob_server.set_behavior("blob.mp4")


def test_http_past_the_end(blob_server: FileServer) -> None:
    with (
        pytest.raises(SourceError) as info,
        open_range(blob_server.url_for("blob.mp4"), SIZE + 5, 10),
    ):
        pass
    assert info.value.rule == "truncated"
    with (
        open_range(blob_server.url_for("blob.mp4"), SIZE - 5, 10) as fh,
        pytest.raises(SourceError) as info,
    ):
        fh.read()
    assert info.value.rule == "truncated"


def test_http_without_content_length(blob: tuple[Path, bytes], blob_server: FileServer) -> None:
    blob_server.set_behavior("blob.mp4", content_length=False)
    try:
        assert read_all(blob_server.url_for("blob.mp4"), 7, 70_000) == blob[1][7:70_007]
    finally:
        blob_server.set_behavior("blob.mp4")


def test_http_connection_refused() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        pytest.raises(SourceError) as info,
        open_range(f"http://127.0.0.1:{port}/x.mp4?token=hidden", 0, 10),
    ):
        pass
    assert info.value.rule == "unreadable"
    assert "hidden" not in str(info.value)


def test_http_transport_params(blob: tuple[Path, bytes]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        first, last = request.headers["range"][len("bytes=") :].split("-")
        body = blob[1][int(first) : int(last) + 1]
        return httpx.Response(
            206,
            stream=httpx.ByteStream(body),
            headers={"Content-Range": f"bytes {first}-{last}/{SIZE}"},
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    params = {"client": client, "headers": {"X-Token": "t"}, "user": "u", "password": "p"}
    assert read_all("https://cdn.example.com/v.mp4", 3, 4, transport_params=params) == blob[1][3:7]
    assert seen[0].headers["x-token"] == "t"
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert seen[0].headers["accept-encoding"] == "identity"


def test_http_wrong_content_range_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Range": "bytes 0-9/100"}
        return httpx.Response(206, stream=httpx.ByteStream(b"x" * 10), headers=headers)

    params = {"client": httpx.Client(transport=httpx.MockTransport(handler))}
    with (
        pytest.raises(SourceError) as info,
        open_range("https://x.example/v.mp4", 50, 10, transport_params=params),
    ):
        pass
    assert info.value.rule == "range_unsupported"


def test_http_callers_httpx_errors_pass_through(blob_server: FileServer) -> None:
    with pytest.raises(httpx.ConnectError), open_range(blob_server.url_for("blob.mp4"), 0, 10):
        raise httpx.ConnectError("the caller's upload failed")


# -- S3 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_blob(s3: S3, blob: tuple[Path, bytes]) -> str:
    return s3.put("dir/blob.mp4", blob[0])


def test_s3_exact_with_one_bounded_get_each(
    s3: S3, s3_blob: str, s3_log: GetObjectLog, blob: tuple[Path, bytes]
) -> None:
    _, content = blob
    for offset, length in random_ranges(2, 12):
        s3_log.ranges.clear()
        got = read_all(s3_blob, offset, length, transport_params=s3.transport_params)
        assert got == content[offset : offset + length]
        ((first, last),) = s3_log.bounded()  # exactly one GET, never open-ended
        assert first == offset
        # the GET may exceed the range by fewer bytes than it has 256 KiB buffers
        assert offset + length - 1 <= last < offset + length + length // s3_module.S3_BUFFER + 1


def test_s3_plan_get() -> None:
    for length in (1, 7, 256 * 1024, 256 * 1024 + 1, 5 * 1024**3, 52 * 1024 * 1024 + 3):
        buffer_size, chunk = s3_module.plan_get(length)
        assert buffer_size <= s3_module.S3_BUFFER
        assert chunk % buffer_size == 0
        assert length <= chunk < length + chunk // buffer_size


def test_s3_explicit_client(s3: S3, s3_blob: str, blob: tuple[Path, bytes]) -> None:
    import boto3

    client = boto3.session.Session().client("s3", **s3.init_kwargs)
    log = GetObjectLog(client)
    got = read_all(s3_blob, 10, 1000, transport_params={"client": client})
    assert got == blob[1][10:1010]
    assert log.bounded() == [(10, 1009)]


def test_s3_client_is_shared_per_process(s3: S3) -> None:
    first = s3_module.shared_client(s3.init_kwargs)
    assert s3_module.shared_client(dict(s3.init_kwargs)) is first
    assert s3_module.shared_client({**s3.init_kwargs, "region_name": "eu-west-1"}) is not first
    # after a fork (simulated: the PID no longer matches) the cache is rebuilt
    real_pid = s3_module._pid
    s3_module._pid = -1
    try:
        assert s3_module.shared_client(s3.init_kwargs) is not first
    finally:
        s3_module._pid = real_pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_s3_client_cache_is_dropped_in_a_forked_child(s3: S3) -> None:
    s3_module.shared_client(s3.init_kwargs)
    assert s3_module._clients
    pid = os.fork()
    if pid == 0:  # child: the parent's clients must be gone
        os._exit(0 if not s3_module._clients and s3_module._pid == os.getpid() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert s3_module._clients  # the parent keeps its own


def test_s3_missing_key_and_bucket(s3: S3) -> None:
    for uri in ("s3://media/nope.mp4", "s3://no-such-bucket/x.mp4"):
        with (
            pytest.raises(SourceError) as info,
            open_range(uri, 0, 10, transport_params=s3.transport_params),
        ):
            pass
        assert info.value.rule == "unreadable"
        assert uri in str(info.value)


def test_s3_past_the_end(s3: S3, s3_blob: str) -> None:
    with (
        open_range(s3_blob, SIZE - 4, 10, transport_params=s3.transport_params) as fh,
        pytest.raises(SourceError) as info,
    ):
        fh.read()
    assert info.value.rule == "truncated"
