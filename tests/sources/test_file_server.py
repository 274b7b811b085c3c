"""The sandbox's static file server: Range semantics, headers, faults, request log, lifecycle."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from prefect_firework.sandbox.files import FileServer

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def served(tmp_path: Path):
    (tmp_path / "clip.mp4").write_bytes(DATA)
    (tmp_path / "clip.MOV").write_bytes(DATA[:100])
    (tmp_path / "pic.png").write_bytes(b"\x89PNG")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a b.jpg").write_bytes(b"jpeg")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with FileServer(tmp_path) as server:
        yield server


def test_url_is_an_ip_with_a_dot(served: FileServer) -> None:
    assert served.url.startswith("http://127.0.0.1:")
    assert served.url_for("sub/a b.jpg").endswith("/sub/a%20b.jpg")


def test_full_get_and_head(served: FileServer) -> None:
    r = httpx.get(served.url_for("clip.mp4"))
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"].startswith('"')
    assert "GMT" in r.headers["last-modified"]
    h = httpx.head(served.url_for("clip.mp4"))
    assert h.status_code == 200
    assert h.content == b""
    assert h.headers["content-length"] == str(len(DATA))
    assert h.headers["etag"] == r.headers["etag"]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-99", 10, 99),
        ("bytes=10000-", 10000, len(DATA) - 1),
        ("bytes=-16", len(DATA) - 16, len(DATA) - 1),
        ("bytes=-999999", 0, len(DATA) - 1),
        ("bytes=10200-999999", 10200, len(DATA) - 1),
    ],
)
def test_ranges(served: FileServer, header: str, first: int, last: int) -> None:
    r = httpx.get(served.url_for("clip.mp4"), headers={"Range": header})
    assert r.status_code == 206
    assert r.content == DATA[first : last + 1]
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert r.headers["content-length"] == str(last - first + 1)


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable(served: FileServer, header: str) -> None:
    r = httpx.get(served.url_for("clip.mp4"), headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(DATA)}"


def test_invalid_or_multi_range_is_ignored(served: FileServer) -> None:
    for header in ("bytes=9-3", "bytes=0-1,5-6", "items=0-1"):
        r = httpx.get(served.url_for("clip.mp4"), headers={"Range": header})
        assert r.status_code == 200
        assert r.content == DATA


def test_content_types(served: FileServer) -> None:
    assert httpx.head(served.url_for("clip.MOV")).headers["content-type"] == "video/quicktime"
    assert httpx.head(served.url_for("pic.png")).headers["content-type"] == "image/png"
    assert httpx.head(served.url_for("sub/a b.jpg")).headers["content-type"] == "image/jpeg"


def test_missing_and_escapes_are_404(served: FileServer) -> None:
    assert httpx.get(served.url_for("nope.mp4")).status_code == 404
    assert httpx.get(served.url_for("sub")).status_code == 404
    assert httpx.get(served.url + "/").status_code == 404
    assert httpx.get(served.url + "/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_empty_file(served: FileServer) -> None:
    assert httpx.get(served.url_for("empty.mp4")).content == b""
    assert httpx.get(served.url_for("empty.mp4"), headers={"Range": "bytes=0-"}).status_code == 416


def test_behaviors(served: FileServer) -> None:
    url = served.url_for("clip.mp4")
    served.set_behavior("clip.mp4", ignore_range=True)
    r = httpx.get(url, headers={"Range": "bytes=0-9"})
    assert r.status_code == 200
    assert r.content == DATA
    assert "accept-ranges" not in r.headers

    served.set_behavior("clip.mp4", content_length=False, content_type="text/html")
    h = httpx.head(url)
    assert "content-length" not in h.headers
    assert h.headers["content-type"] == "text/html"
    r = httpx.get(url, headers={"Range": "bytes=5-9"})
    assert r.status_code == 206
    assert r.content == DATA[5:10]

    served.set_behavior("clip.mp4", status=403)
    assert httpx.get(url).status_code == 403
    assert httpx.head(url).status_code == 403

    served.set_behavior("clip.mp4")  # defaults restore normal serving
    assert httpx.get(url).content == DATA


def test_request_log(served: FileServer) -> None:
    served.clear_requests()
    httpx.head(served.url_for("clip.mp4"))
    httpx.get(served.url_for("clip.mp4"), headers={"Range": "bytes=1-2"})
    assert served.requests == [
        ("HEAD", "/clip.mp4", None),
        ("GET", "/clip.mp4", "bytes=1-2"),
    ]
    assert served.requests[1].range == "bytes=1-2"


def test_keep_alive_client_reuses_connection(served: FileServer) -> None:
    with httpx.Client() as client:
        for i in range(20):
            r = client.get(served.url_for("clip.mp4"), headers={"Range": f"bytes={i}-{i}"})
            assert r.content == DATA[i : i + 1]


def test_large_file_streams(tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(8 * 1024 * 1024 + 3)
    with FileServer(tmp_path) as server, httpx.stream("GET", server.url_for("big.mp4")) as r:
        total = sum(len(c) for c in r.iter_bytes())
    assert total == 8 * 1024 * 1024 + 3


def test_stop_closes_socket_and_is_idempotent(tmp_path: Path) -> None:
    server = FileServer(tmp_path).start()
    port = server.port
    assert server.start() is server
    server.stop()
    server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(RuntimeError):
        _ = server.url


def test_client_hangup_mid_body_is_quiet(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(4 * 1024 * 1024)
    with FileServer(tmp_path) as server:
        with httpx.stream("GET", server.url_for("big.mp4")) as r:
            next(r.iter_raw(1024))
        assert httpx.head(server.url_for("big.mp4")).status_code == 200
    assert capfd.readouterr().err == ""
