"""An in-memory fake of the API and S3 for the client's unit tests, served through
``httpx.MockTransport`` so the client runs over its real httpx stack without sockets."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

import httpx

API = "https://api.fw.test"
S3 = "https://bucket.s3.test"
CLIENT_ID = "client-id-123"
CLIENT_SECRET = "client-secret-SHOULD-NEVER-LEAK-7f3a"
POLICY = "eyJQT0xJQ1ktU0hPVUxELU5FVkVSLUxFQUsifQ=="
SIGNATURE = "deadbeefSIGNATUREshouldneverleak0123456789abcdef"
PART_SIGNATURE = "cafebabePARTSIGNATUREneverleak"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTransport(httpx.BaseTransport):
    """Like ``httpx.MockTransport`` but without its ``request.read()``, which caches the body
    on the request: a real transport iterates the body stream anew on every send (replays)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.handler(request)


@dataclass
class Recorded:
    method: str
    url: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeFirework:
    """Just enough of the API and S3 for unit tests; routes are overridable per test."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    s3_requests: list[Recorded] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    expires_in: int = 3600
    lock: threading.Lock = field(default_factory=threading.Lock)
    s3_handler: Handler | None = None
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- API --------------------------------------------------------------------------------
    def api(self, request: httpx.Request) -> httpx.Response:
        body = b"".join(request.stream)  # not .read(): a replay must iterate the body again
        record = Recorded(
            request.method, str(request.url), request.url.path, dict(request.headers), body
        )
        with self.lock:
            self.requests.append(record)
        if request.url.path == "/oauth/token":
            return self._token(body)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        with self.lock:
            valid = token in self.valid_tokens
        if not valid:
            return httpx.Response(401, json={"error": "Invalid or missing authentication token"})
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, json={"error": "Not found"})
        return route(request)

    def _token(self, body: bytes) -> httpx.Response:
        form = dict(httpx.QueryParams(body.decode()))
        if form.get("client_secret") != CLIENT_SECRET or form.get("client_id") != CLIENT_ID:
            return httpx.Response(401, json={"error": "invalid_client"})
        with self.lock:
            self.token_requests += 1
            token = f"tok-{next(self._counter)}-SECRETTOKENVALUE"
            self.valid_tokens.add(token)
        return httpx.Response(200, json={"access_token": token, "expires_in": self.expires_in})

    def expire_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def api_requests(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    # -- S3 ---------------------------------------------------------------------------------
    def s3(self, request: httpx.Request) -> httpx.Response:
        body = b"".join(request.stream)  # not .read(): a replay must iterate the body again
        record = Recorded(
            request.method, str(request.url), request.url.path, dict(request.headers), body
        )
        with self.lock:
            self.s3_requests.append(record)
        if self.s3_handler is not None:
            return self.s3_handler(request)
        if request.method == "PUT":
            return httpx.Response(200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
        return httpx.Response(204)


def s3_error(status: int, code: str, message: str) -> httpx.Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>4442587FB7D0A2F9</RequestId></Error>"
    )
    return httpx.Response(status, content=xml.encode(), headers={"Content-Type": "application/xml"})


def signature_payload(key: str = "uploads/abc/video.mp4") -> dict[str, str]:
    return {
        "key": key,
        "post_url": f"{S3}/",
        "policy": POLICY,
        "signature": SIGNATURE,
        "date": "20250129T120000Z",
        "credential": "AKIAEXAMPLE/20250129/us-east-1/s3/aws4_request",
        "algorithm": "AWS4-HMAC-SHA256",
        "acl": "private",
    }


def part_url(n: int) -> str:
    return (
        f"{S3}/uploads/abc/video.mp4?partNumber={n}&uploadId=UP1"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20250129"
        f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={PART_SIGNATURE}{n}"
    )


def video_payload(video_id: str = "v1", **extra: object) -> dict[str, object]:
    return {
        "id": video_id,
        "access": "public",
        "audio_disabled": False,
        "caption": "Hello",
        "description": None,
        "hashtags": [],
        "archived_at": None,
        "product_ids": [],
        "custom_fields": {},
        "display_social_attributions": False,
        "external_media": None,
        **extra,
    }


def parse_multipart(request_headers: dict[str, str], body: bytes) -> list[dict[str, object]]:
    """Parse a multipart/form-data body into ordered parts (name, filename, type, data)."""
    content_type = request_headers["content-type"]
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = []
    for part in message.iter_parts():
        parts.append(
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_param("filename", header="content-disposition"),
                "content_type": part.get_content_type() if part.get("Content-Type") else None,
                "data": part.get_payload(decode=True),
            }
        )
    return parts


def json_body(record: Recorded) -> object:
    return json.loads(record.body)
