"""Spec 5: multipart initiate and completion (the part PUTs between them are in
``s3/test_part_put.py``)."""

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
    split,
    token_for,
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
