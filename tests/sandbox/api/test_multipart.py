"""Spec 5: multipart initiate, part PUTs through the strict front, and completion."""

from __future__ import annotations

import hashlib
import re
import struct
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import (
    HTTP,
    MAX_FILE,
    PART,
    SMALL,
    Api,
    error_of,
    md5_of,
    raw_http,
    s3_code,
    split,
    token_for,
    url_parts,
    wait_for,
)

FAILED = "Multipart upload failed"


def _initiate_body(api: Api, **changes: Any) -> dict[str, Any]:
    body = {
        "filename": "big.mp4",
        "mime_type": "video/mp4",
        "channel_id": api.sb.channel_id,
        "parts_count": 3,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_initiate_returns_presigned_part_urls(api: Api) -> None:
    init = api.initiate(3)
    assert set(init) == {"key", "upload_id", "parts"}
    assert [p["part"] for p in init["parts"]] == [1, 2, 3]
    for part in init["parts"]:
        assert part["signature"]["key"] == init["key"]
        url = part["signature"]["put_url"]
        assert url.startswith(f"{api.sb.s3_url}/{api.sb.bucket}/{init['key']}?")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert query["partNumber"] == str(part["part"])
        assert query["uploadId"] == init["upload_id"]
        assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert re.fullmatch(r"[A-Z0-9]+/\d{8}/us-east-1/s3/aws4_request", query["X-Amz-Credential"])
        assert re.fullmatch(r"\d{8}T\d{6}Z", query["X-Amz-Date"])
        assert query["X-Amz-Expires"] == str(SMALL.signature_lifetime)
        assert query["X-Amz-SignedHeaders"] == "host"
        assert re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"])
    uploads = api.sb.multipart_uploads()
    assert [(u["upload_id"], u["status"], u["parts"]) for u in uploads] == [
        (init["upload_id"], "open", [])
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"parts_count": 0}, "parts_count"),
        ({"parts_count": 101}, "parts_count"),
        ({"parts_count": -1}, "parts_count"),
        ({"parts_count": "3"}, "parts_count"),
        ({"parts_count": True}, "parts_count"),
        ({"parts_count": 2.5}, "parts_count"),
        ({"parts_count": None}, "parts_count"),
        ({"mime_type": "video/x-msvideo"}, "mime_type"),
        ({"filename": None}, "filename"),
    ],
    ids=["zero", "101", "negative", "string", "bool", "float", "missing", "mime", "no-filename"],
)
def test_initiate_errors(api: Api, changes: dict[str, Any], message: str) -> None:
    resp = api.post("/api/v1/upload_multipart/signatures", _initiate_body(api, **changes))
    assert resp.status_code == 400
    assert message in error_of(resp)
    assert api.sb.multipart_uploads() == []


@pytest.mark.parametrize("count", [1, 100])
def test_initiate_bounds_are_inclusive(api: Api, count: int) -> None:
    resp = api.post("/api/v1/upload_multipart/signatures", _initiate_body(api, parts_count=count))
    assert resp.status_code == 201 and len(resp.json()["parts"]) == count


def test_round_trip_assembles_the_file(api: Api, media) -> None:
    data = media.big.read_bytes()
    init = api.initiate(3)
    chunks = split(data, [PART, PART, -1])
    parts = api.put_parts(init, chunks)
    for part, chunk in zip(parts, chunks, strict=True):
        assert part["etag"] == f'"{hashlib.md5(chunk).hexdigest()}"'
    resp = api.complete(init, parts)
    assert resp.status_code == 204 and resp.content == b""
    objects = {o["key"]: o for o in api.sb.objects()}
    assert objects[init["key"]]["size"] == len(data)
    assert objects[init["key"]]["md5"] == md5_of(media.big)
    # as on S3: the MD5 of the parts' binary MD5s, then the number of parts
    part_md5s = b"".join(hashlib.md5(chunk).digest() for chunk in chunks)
    assert objects[init["key"]]["etag"] == f"{hashlib.md5(part_md5s).hexdigest()}-3"
    (upload,) = api.sb.multipart_uploads()
    assert upload["status"] == "completed"
    assert [p["size"] for p in upload["parts"]] == [len(c) for c in chunks]
    video = api.create_ok(s3_key=init["key"])
    assert api.sb.video(video["id"])["size"] == len(data)


def test_parts_may_arrive_in_any_order_and_be_retried(api: Api, media) -> None:
    data = media.big.read_bytes()
    init = api.initiate(2)
    first, rest = split(data, [PART, -1])
    urls = [p["signature"]["put_url"] for p in init["parts"]]
    assert HTTP.put(urls[1], content=rest).status_code == 200
    assert HTTP.put(urls[0], content=b"\1" * PART).status_code == 200
    retried = HTTP.put(urls[0], content=first)  # the latest upload of a part wins
    parts = [
        {"part": 1, "etag": retried.headers["etag"]},
        {"part": 2, "etag": HTTP.put(urls[1], content=rest).headers["etag"]},
    ]
    assert api.complete(init, parts).status_code == 204
    assert {o["key"]: o["md5"] for o in api.sb.objects()}[init["key"]] == md5_of(media.big)


# -- the strict front on part PUTs ----------------------------------------------------------


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


# -- completion ------------------------------------------------------------------------------


def _complete_body(init: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": init["key"],
        "upload_id": init["upload_id"],
        "parts": [{"part": 1, "etag": '"abc"'}, {"part": 2, "etag": '"def"'}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


COMPLETE_400 = [
    ("no-key", {"key": None}),
    ("empty-key", {"key": ""}),
    ("no-upload-id", {"upload_id": None}),
    ("empty-upload-id", {"upload_id": ""}),
    ("no-parts", {"parts": None}),
    ("parts-not-list", {"parts": {"part": 1}}),
    ("empty-parts", {"parts": []}),
    ("too-many-parts", {"parts": [{"part": n, "etag": "e"} for n in range(1, 102)]}),
    ("part-zero", {"parts": [{"part": 0, "etag": "e"}]}),
    ("part-101", {"parts": [{"part": 101, "etag": "e"}]}),
    ("part-string", {"parts": [{"part": "1", "etag": "e"}]}),
    ("part-bool", {"parts": [{"part": True, "etag": "e"}]}),
    ("part-missing", {"parts": [{"etag": "e"}]}),
    ("duplicate-parts", {"parts": [{"part": 1, "etag": "e"}, {"part": 1, "etag": "e"}]}),
    ("empty-etag", {"parts": [{"part": 1, "etag": ""}]}),
    ("quotes-only-etag", {"parts": [{"part": 1, "etag": '""'}]}),
    ("etag-missing", {"parts": [{"part": 1}]}),
    ("etag-number", {"parts": [{"part": 1, "etag": 5}]}),
    ("part-not-object", {"parts": [1, 2]}),
]


@pytest.mark.parametrize("changes", [c[1] for c in COMPLETE_400], ids=[c[0] for c in COMPLETE_400])
def test_complete_validation_is_400(api: Api, changes: dict[str, Any]) -> None:
    init = api.initiate(2)
    resp = api.post("/api/v1/upload_multipart/complete", _complete_body(init, **changes))
    assert resp.status_code == 400
    assert error_of(resp) != FAILED  # a validation message, not an S3 refusal
    assert api.sb.multipart_uploads()[0]["status"] == "open"


def _uploaded(
    api: Api, data: bytes, sizes: list[int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    init = api.initiate(len(sizes))
    return init, api.put_parts(init, split(data, sizes))


def test_complete_s3_refusals_are_multipart_upload_failed(api: Api, media) -> None:
    data = media.big.read_bytes()
    init, parts = _uploaded(api, data, [PART, PART, -1])
    p1, p2, p3 = parts
    cases = {
        "wrong-etag": [p1, {"part": 2, "etag": p1["etag"]}, p3],
        "out-of-order": [p2, p1, p3],
        "missing-part": [p1, p3],
        "part-not-in-initiate": [p1, p2, p3, {"part": 4, "etag": p3["etag"]}],
        "unquoted-wrong": [p1, p2, {"part": 3, "etag": "0" * 32}],
    }
    for name, body_parts in cases.items():
        resp = api.complete(init, body_parts)
        assert (resp.status_code, error_of(resp)) == (400, FAILED), name
    unknown = api.post(
        "/api/v1/upload_multipart/complete",
        {"key": init["key"], "upload_id": "no-such-upload", "parts": parts},
    )
    assert (unknown.status_code, error_of(unknown)) == (400, FAILED)
    other_key = api.post(
        "/api/v1/upload_multipart/complete",
        {"key": "uploads/other.mp4", "upload_id": init["upload_id"], "parts": parts},
    )
    assert (other_key.status_code, error_of(other_key)) == (400, FAILED)
    # after every refusal the upload is still open, and the right list completes it
    unquoted = [{"part": p["part"], "etag": p["etag"].strip('"')} for p in parts]
    assert api.complete(init, unquoted).status_code == 204
    again = api.complete(init, parts)
    assert (again.status_code, error_of(again)) == (400, FAILED)


def test_part_never_uploaded_fails(api: Api, media) -> None:
    init = api.initiate(2)
    (url1, _) = [p["signature"]["put_url"] for p in init["parts"]]
    etag = HTTP.put(url1, content=media.big.read_bytes()[:PART]).headers["etag"]
    resp = api.complete(init, [{"part": 1, "etag": etag}, {"part": 2, "etag": etag}])
    assert (resp.status_code, error_of(resp)) == (400, FAILED)


def test_part_below_the_minimum_fails_but_the_last_part_may_be_small(api: Api, media) -> None:
    data = media.big.read_bytes()
    init, parts = _uploaded(api, data, [PART - 1, -1])
    resp = api.complete(init, parts)
    assert (resp.status_code, error_of(resp)) == (400, FAILED)
    init, parts = _uploaded(api, data[: 2 * PART + 10], [PART, PART, -1])
    assert api.complete(init, parts).status_code == 204  # 10-byte last part is fine


def test_assembled_file_too_small_is_deleted(api: Api, media) -> None:
    init, parts = _uploaded(api, media.big.read_bytes()[:20_000], [-1])
    resp = api.complete(init, parts)
    assert (resp.status_code, error_of(resp)) == (400, "File too small (min 25KB)")
    assert init["key"] not in {o["key"] for o in api.sb.objects()}
    assert api.sb.multipart_uploads()[0]["status"] == "aborted"


def test_assembled_file_too_large_is_413_and_deleted(api: Api) -> None:
    count = MAX_FILE // PART + 1
    init = api.initiate(count)
    parts = api.put_parts(init, [b"\0" * PART] * (count - 1) + [b"\0"])
    resp = api.complete(init, parts)
    assert (resp.status_code, error_of(resp)) == (413, "File too large (max 1MB)")
    assert api.sb.objects() == []


def test_another_business_cannot_complete_my_upload(api: Api, media) -> None:
    init, parts = _uploaded(api, media.big.read_bytes(), [PART, -1])
    other = Api(
        api.sb,
        token_for(api.sb, api.sb.other_business_client_id, api.sb.other_business_client_secret),
    )
    try:
        assert other.complete(init, parts).status_code == 403
    finally:
        other.close()
    assert api.complete(init, parts).status_code == 204


def test_part_larger_than_the_memory_spool_arrives_intact(api: Api) -> None:
    """The front spools bodies to disk past 1 MB; a 3 MiB part must survive that intact."""
    init = api.initiate(2)
    big = bytes(range(256)) * (3 * 4096)
    parts = api.put_parts(init, [big, b"tail"])
    assert parts[0]["etag"] == f'"{hashlib.md5(big).hexdigest()}"'
    (upload,) = api.sb.multipart_uploads()
    assert [p["size"] for p in upload["parts"]] == [len(big), 4]


# -- the completed object: its parts, never copied -------------------------------------------


def _with_moov_at(path: Path, offset: int) -> bytes:
    """The MP4 at ``path`` with a ``free`` box after ``ftyp`` so that ``moov`` starts at
    ``offset``: a reader of the completed object must cross a part boundary to parse it
    (readers of the duration use the boxes, not the chunk offsets, which this shifts)."""
    data = path.read_bytes()
    ftyp_end = struct.unpack(">I", data[:4])[0]
    moov = data.index(b"moov") - 4
    pad = offset - moov
    assert pad >= 8
    return data[:ftyp_end] + struct.pack(">I4s", pad, b"free") + bytes(pad - 8) + data[ftyp_end:]


def test_created_video_reads_its_duration_across_part_boundaries(api: Api, media) -> None:
    data = _with_moov_at(media.big, PART - 40)
    init = api.initiate(3)
    parts = api.put_parts(init, split(data, [PART, PART, -1]))
    assert api.complete(init, parts).status_code == 204
    video = api.create_ok(s3_key=init["key"])
    stored = api.sb.video(video["id"])
    assert (stored["size"], round(stored["duration"], 3)) == (len(data), 4.0)
    assert {o["key"]: o["md5"] for o in api.sb.objects()}[init["key"]] == hashlib.md5(
        data
    ).hexdigest()


def test_complete_hands_the_part_files_over_and_reset_removes_them(api: Api, media) -> None:
    sb = api.sb
    root = sb._core.parts.root  # type: ignore[union-attr]
    data = media.big.read_bytes()
    init = api.initiate(2)
    parts = api.put_parts(init, split(data, [PART, -1]))
    folder = root / init["upload_id"]
    inodes = sorted(p.stat().st_ino for p in folder.glob("part-*"))
    assert api.complete(init, parts).status_code == 204
    # the object is the part files themselves, and its MD5 waits until something asks
    assert sorted(p.stat().st_ino for p in folder.glob("part-*")) == inodes
    (listed,) = sb._core.s3.list_objects()  # type: ignore[union-attr]
    assert listed["MD5"] is None
    assert {o["key"]: o["md5"] for o in sb.objects()}[init["key"]] == md5_of(media.big)
    sb.reset()
    assert sb.objects() == [] and list(root.iterdir()) == []


def test_out_of_bounds_complete_leaves_no_part_files(api: Api, media) -> None:
    root = api.sb._core.parts.root  # type: ignore[union-attr]
    init, parts = _uploaded(api, media.big.read_bytes()[:20_000], [-1])
    assert api.complete(init, parts).status_code == 400
    assert list(root.iterdir()) == []
