"""Plain-httpx helpers for the sandbox conformance suite (no typed client on purpose).

The suite talks HTTP the way any client would, so each test states a rule of the spec in terms
of requests and responses, not in terms of our own client's abstractions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from prefect_firework.sandbox import Sandbox, SandboxConfig

KiB = 1024
MiB = 1024 * 1024
PART = 64 * KiB
MAX_FILE = 1 * MiB
MIN_FILE = 25_600

#: one client for one-off requests; verify=False skips loading CA certificates (plain HTTP only)
HTTP = httpx.Client(verify=False, timeout=30)

#: the config of the suite's shared sandbox: spec rules, small numbers
SMALL = SandboxConfig(
    min_part_size=PART,
    max_file_size=MAX_FILE,
    transcoding_delay=0.3,
    import_download_timeout=5.0,
)

FORM_ORDER = [
    "key",
    "acl",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "Policy",
    "X-Amz-Signature",
    "Content-Type",
]

VIDEO_KEYS = {
    "id",
    "access",
    "audio_disabled",
    "caption",
    "description",
    "hashtags",
    "archived_at",
    "product_ids",
    "custom_fields",
    "display_social_attributions",
    "external_media",
}
GET_VIDEO_KEYS = VIDEO_KEYS | {"thumbnail_url", "video_posters"}
IMPORT_KEYS = {"id", "status", "video_id", "created_at", "completed_at"}


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def token_for(
    sb: Sandbox, client_id: str | None = None, secret: str | None = None, scope: str | None = None
) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id or sb.client_id,
        "client_secret": secret or sb.client_secret,
    }
    if scope is not None:
        form["scope"] = scope
    resp = HTTP.post(sb.token_url, data=form)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(resp: httpx.Response) -> str:
    """The ``{"error": "..."}`` message of an API error, asserting the shape."""
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return str(body["error"])


def s3_code(resp: httpx.Response) -> str:
    """The ``<Code>`` of an S3-style XML error."""
    text = resp.text
    assert text.startswith("<?xml") and "<Error>" in text, text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def encode_form(parts: Sequence[tuple[str, bytes, str | None]]) -> tuple[bytes, str]:
    """A multipart/form-data body with fields in exactly the given order.

    Each part is ``(name, value, filename or None)``; the filename marks a file part.
    """
    boundary = "sandbox-boundary-7d1f0a"
    chunks: list[bytes] = []
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        extra = ""
        if filename is not None:
            disposition += f'; filename="{filename}"'
            extra = "Content-Type: application/octet-stream\r\n"
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode()
            + value
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def post_fields(sig: dict[str, Any], content_type: str = "video/mp4") -> list[tuple[str, str]]:
    """The spec 4.6 form fields for an upload signature, in order (without ``file``)."""
    return [
        ("key", sig["key"]),
        ("acl", sig["acl"]),
        ("X-Amz-Algorithm", sig["algorithm"]),
        ("X-Amz-Credential", sig["credential"]),
        ("X-Amz-Date", sig["date"]),
        ("Policy", sig["policy"]),
        ("X-Amz-Signature", sig["signature"]),
        ("Content-Type", content_type),
    ]


def s3_post(
    url: str, fields: Iterable[tuple[str, str]], data: bytes, *, file_last: bool = True
) -> httpx.Response:
    parts = [(name, value.encode(), None) for name, value in fields]
    file_part = ("file", data, "video.mp4")
    parts = [*parts, file_part] if file_last else [*parts[:-1], file_part, parts[-1]]
    body, content_type = encode_form(parts)
    return HTTP.post(url, content=body, headers={"Content-Type": content_type})


def decode_policy(policy: str) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(policy)))


class Api:
    """A thin authenticated httpx client for one sandbox."""

    def __init__(self, sb: Sandbox, token: str | None = None) -> None:
        self.sb = sb
        self.token = token or token_for(sb)
        self.http = httpx.Client(
            base_url=sb.base_url, headers=bearer(self.token), timeout=30, verify=False
        )

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.http.patch(path, json=body)

    # -- flows of the spec ---------------------------------------------------------------------

    def signature(self, filename: str = "clip.mp4", mime: str = "video/mp4") -> dict[str, Any]:
        resp = self.post(
            "/api/v1/upload_signatures",
            {"filename": filename, "mime_type": mime, "channel_id": self.sb.channel_id},
        )
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def upload(self, path: Path, mime: str = "video/mp4") -> str:
        """Single-POST upload (spec 4); returns the key."""
        sig = self.signature(path.name, mime)
        resp = s3_post(sig["post_url"], post_fields(sig, mime), path.read_bytes())
        assert resp.status_code == 204, resp.text
        return str(sig["key"])

    def initiate(self, parts_count: int, filename: str = "big.mp4") -> dict[str, Any]:
        resp = self.post(
            "/api/v1/upload_multipart/signatures",
            {
                "filename": filename,
                "mime_type": "video/mp4",
                "channel_id": self.sb.channel_id,
                "parts_count": parts_count,
            },
        )
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def put_parts(self, init: dict[str, Any], chunks: Sequence[bytes]) -> list[dict[str, Any]]:
        out = []
        for part, chunk in zip(init["parts"], chunks, strict=True):
            resp = HTTP.put(part["signature"]["put_url"], content=chunk)
            assert resp.status_code == 200, resp.text
            out.append({"part": part["part"], "etag": resp.headers["etag"]})
        return out

    def complete(self, init: dict[str, Any], parts: list[dict[str, Any]]) -> httpx.Response:
        return self.post(
            "/api/v1/upload_multipart/complete",
            {"key": init["key"], "upload_id": init["upload_id"], "parts": parts},
        )

    def create(self, **fields: Any) -> httpx.Response:
        body = {"channel_id": self.sb.channel_id, "caption": "A clip", **fields}
        return self.post("/api/v1/videos", body)

    def create_ok(self, **fields: Any) -> dict[str, Any]:
        resp = self.create(**fields)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def create_file(
        self,
        metadata: dict[str, Any] | str,
        data: bytes,
        filename: str = "clip.mp4",
        content_type: str = "video/mp4",
    ) -> httpx.Response:
        meta = metadata if isinstance(metadata, str) else json.dumps(metadata)
        return self.http.post(
            "/api/v1/videos",
            data={"metadata": meta},
            files={"file": (filename, data, content_type)},
        )


def split(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """``data`` cut into chunks of ``sizes``; the last size may be -1 for "the rest"."""
    out, offset = [], 0
    for size in sizes:
        end = len(data) if size < 0 else offset + size
        out.append(data[offset:end])
        offset = end
    return out


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def raw_http(host: str, port: int, request: bytes, *, shutdown_write: bool = False) -> bytes:
    """Send raw bytes and return whatever comes back before the server closes (or 3 s)."""
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(request)
        if shutdown_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def url_parts(url: str) -> tuple[str, int, str]:
    """``(host, port, path?query)`` of an http URL."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", parts.port or 80, target


def jpeg_bytes(width: int, height: int) -> bytes:
    """The header of a baseline JPEG (SOI, APP0, SOF0, EOI): enough for a format sniffer."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3)
    sof0 += b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"
