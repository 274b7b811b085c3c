"""Streaming over real sockets: exact Content-Length, no chunked encoding, bounded memory.

A tiny threaded HTTP server on 127.0.0.1 stands in for S3 and reads bodies in chunks (so the
server's memory does not matter); the client runs in a child process so its peak RSS is its own.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MiB = 1024 * 1024


class _DiscardingS3(BaseHTTPRequestHandler):
    """Reads the body in 1 MiB pieces; POST -> 204, PUT -> 200 with the MD5 ETag."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, object]]

    def _consume(self) -> tuple[int, str]:
        assert "chunked" not in self.headers.get("Transfer-Encoding", "")
        remaining = int(self.headers["Content-Length"])
        digest = hashlib.md5()
        total = 0
        while remaining:
            chunk = self.rfile.read(min(MiB, remaining))
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
            remaining -= len(chunk)
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "bytes": total,
                "authorization": self.headers.get("Authorization"),
                "transfer_encoding": self.headers.get("Transfer-Encoding"),
                "content_length": int(self.headers["Content-Length"]),
            }
        )
        return total, digest.hexdigest()

    def do_POST(self) -> None:
        self._consume()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        _, md5 = self._consume()
        self.send_response(200)
        self.send_header("ETag", f'"{md5}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def discard_s3() -> Iterator[tuple[str, list[dict[str, object]]]]:
    seen: list[dict[str, object]] = []
    handler = type("Handler", (_DiscardingS3,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.mp4"
    block = bytes(range(256)) * (MiB // 256)
    with path.open("wb") as fh:
        for i in range(50):
            fh.write(block[i:] + block[:i])
    return path


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from prefect_firework.client import FireworkClient
    from prefect_firework.models import UploadSignature

    base, path, mode = sys.argv[1:4]
    with FireworkClient("id", "secret-value", base_url="http://127.0.0.1:9") as fw:
        sig = UploadSignature(key="k", post_url=base + "/", policy="p" * 20,
                              signature="s" * 20, date="20250101T000000Z", credential="c")
        # warm up: imports, TLS-less connection, first buffers
        fw.post_to_s3(sig, path, mime_type="video/mp4", size=64 * 1024)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if mode == "post":
            fw.post_to_s3(sig, path, mime_type="video/mp4")
            etag = None
        else:
            size = int(sys.argv[4])
            etag = fw.upload_part(base + "/k?partNumber=1&uploadId=u", path, 0, size)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kb": before, "after_kb": after, "etag": etag}))
    """
)


def run_child(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["post", "put"])
def test_50mb_upload_memory_is_bounded(
    mode: str, discard_s3: tuple[str, list[dict[str, object]]], big_file: Path
) -> None:
    base, seen = discard_s3
    size = big_file.stat().st_size
    result = run_child(base, str(big_file), mode, str(size))
    growth_mb = (int(result["after_kb"]) - int(result["before_kb"])) / 1024
    assert growth_mb < 16, f"client RSS grew {growth_mb:.1f} MB for a 50 MB upload"
    upload = seen[-1]
    assert upload["transfer_encoding"] is None
    assert upload["authorization"] is None
    if mode == "post":
        assert upload["bytes"] == upload["content_length"] > size
    else:
        assert upload["bytes"] == size
        md5 = hashlib.md5(big_file.read_bytes()).hexdigest()
        assert result["etag"] == f'"{md5}"'
