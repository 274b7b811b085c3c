"""Spec 5.2: part PUTs through the strict S3 front, to the presigned URLs the API issued."""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

import pytest
from sandbox_support import (
    HTTP,
    SMALL,
    Api,
    raw_http,
    s3_code,
    url_parts,
    wait_for,
)


def _tamper(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [(k, value if k == name else v) for k, v in urllib.parse.parse_qsl(parts.query)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _drop(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != name]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


PUT_CASES = [
    ("signature", lambda u: _tamper(u, "X-Amz-Signature", "0" * 64), 403, "SignatureDoesNotMatch"),
    ("part-number", lambda u: _tamper(u, "partNumber", "2"), 403, "SignatureDoesNotMatch"),
    ("expires", lambda u: _tamper(u, "X-Amz-Expires", "999999"), 403, "SignatureDoesNotMatch"),
    ("upload-id", lambda u: _tamper(u, "uploadId", "forged"), 403, "SignatureDoesNotMatch"),
    ("key", lambda u: u.replace("/big.mp4?", "/other.mp4?"), 403, "SignatureDoesNotMatch"),
    ("no-signature", lambda u: _drop(u, "X-Amz-Signature"), 403, "AccessDenied"),
    ("no-date", lambda u: _drop(u, "X-Amz-Date"), 403, "AccessDenied"),
    (
        "credential",
        lambda u: _tamper(u, "X-Amz-Credential", "AKIAX/20250101/us-east-1/s3/aws4_request"),
        403,
        "InvalidAccessKeyId",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "status", "code"), [c[1:] for c in PUT_CASES], ids=[c[0] for c in PUT_CASES]
)
def test_part_urls_the_sandbox_did_not_issue_are_refused(
    api: Api, mutate: Any, status: int, code: str
) -> None:
    init = api.initiate(2)
    resp = HTTP.put(mutate(init["parts"][0]["signature"]["put_url"]), content=b"x" * 1000)
    assert resp.status_code == status, resp.text
    assert s3_code(resp) == code
    assert api.sb.multipart_uploads()[0]["parts"] == []


def test_part_url_for_another_host_is_refused(api: Api) -> None:
    init = api.initiate(1)
    url = init["parts"][0]["signature"]["put_url"].replace("127.0.0.1", "localhost", 1)
    resp = HTTP.put(url, content=b"x" * 1000)
    assert resp.status_code == 403 and s3_code(resp) == "SignatureDoesNotMatch"


def test_expired_part_url_is_refused(api: Api) -> None:
    init = api.initiate(1)
    api.sb.advance_clock(SMALL.signature_lifetime + 1)
    resp = HTTP.put(init["parts"][0]["signature"]["put_url"], content=b"x" * 1000)
    assert resp.status_code == 403 and s3_code(resp) == "AccessDenied"
    assert "expired" in resp.text


def test_chunked_part_is_501(api: Api) -> None:
    init = api.initiate(1)

    def body() -> Any:
        yield b"x" * 1000
        yield b"y" * 1000

    resp = HTTP.put(init["parts"][0]["signature"]["put_url"], content=body())
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert resp.status_code == 501 and s3_code(resp) == "NotImplemented"
    assert api.sb.multipart_uploads()[0]["parts"] == []


def test_part_without_content_length_is_411(api: Api) -> None:
    init = api.initiate(1)
    host, port, target = url_parts(init["parts"][0]["signature"]["put_url"])
    request = f"PUT {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    reply = raw_http(host, port, request.encode())
    assert reply.startswith(b"HTTP/1.1 411"), reply[:200]
    assert b"MissingContentLength" in reply


def test_part_body_shorter_than_content_length_is_not_stored(api: Api) -> None:
    init = api.initiate(1)
    host, port, target = url_parts(init["parts"][0]["signature"]["put_url"])
    head = f"PUT {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 5000\r\n\r\n"
    raw_http(host, port, head.encode() + b"x" * 1000, shutdown_write=True)
    record = wait_for(lambda: [r for r in api.sb.requests if r.endpoint == "s3_part"])
    assert record[-1].status == 400
    assert api.sb.multipart_uploads()[0]["parts"] == []


def test_part_body_longer_than_content_length_is_cut_by_http_framing(api: Api) -> None:
    init = api.initiate(1)
    host, port, target = url_parts(init["parts"][0]["signature"]["put_url"])
    head = f"PUT {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 1000\r\n\r\n"
    reply = raw_http(host, port, head.encode() + b"x" * 1000 + b"GARBAGE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
    assert b"HTTP/1.1 400" in reply  # the extra bytes are a malformed next request
    assert [p["size"] for p in api.sb.multipart_uploads()[0]["parts"]] == [1000]


def test_part_of_a_completed_upload_is_404(api: Api, media) -> None:
    init = api.initiate(1)
    parts = api.put_parts(init, [media.big.read_bytes()])
    assert api.complete(init, parts).status_code == 204
    resp = HTTP.put(init["parts"][0]["signature"]["put_url"], content=b"x")
    assert resp.status_code == 404 and s3_code(resp) == "NoSuchUpload"


def test_part_larger_than_the_memory_spool_arrives_intact(api: Api) -> None:
    """The front spools bodies to disk past 1 MB; a 3 MiB part must survive that intact."""
    init = api.initiate(2)
    big = bytes(range(256)) * (3 * 4096)
    parts = api.put_parts(init, [big, b"tail"])
    assert parts[0]["etag"] == f'"{hashlib.md5(big).hexdigest()}"'
    (upload,) = api.sb.multipart_uploads()
    assert [p["size"] for p in upload["parts"]] == [len(big), 4]
