"""Spec 4: upload signatures, and the strict S3 front's checks of the POST upload."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sandbox_support import (
    FORM_ORDER as FORM_FIELDS,
)
from sandbox_support import (
    HTTP,
    MAX_FILE,
    MIN_FILE,
    SMALL,
    Api,
    decode_policy,
    encode_form,
    error_of,
    md5_of,
    post_fields,
    s3_code,
    s3_post,
)


def test_signature_response_and_policy(api: Api) -> None:
    before = time.time()
    sig = api.signature("my video.mp4")
    assert set(sig) == {
        "key",
        "post_url",
        "policy",
        "signature",
        "date",
        "credential",
        "algorithm",
        "acl",
    }
    assert sig["algorithm"] == "AWS4-HMAC-SHA256" and sig["acl"] == "private"
    assert sig["post_url"] == f"{api.sb.s3_url}/{api.sb.bucket}"
    assert re.fullmatch(r"\d{8}T\d{6}Z", sig["date"])
    assert re.fullmatch(r"[A-Z0-9]+/\d{8}/us-east-1/s3/aws4_request", sig["credential"])
    assert sig["credential"].split("/")[1] == sig["date"][:8]
    assert re.fullmatch(r"[0-9a-f]{64}", sig["signature"])
    assert sig["key"].endswith("my_video.mp4")

    policy = decode_policy(sig["policy"])
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).timestamp()
    assert (
        before + SMALL.signature_lifetime - 5 < expires < time.time() + SMALL.signature_lifetime + 5
    )
    conditions = policy["conditions"]
    assert {"bucket": api.sb.bucket} in conditions
    assert {"key": sig["key"]} in conditions
    assert {"acl": "private"} in conditions
    assert {"Content-Type": "video/mp4"} in conditions
    assert ["content-length-range", MIN_FILE, MAX_FILE] in conditions
    assert {"x-amz-algorithm": "AWS4-HMAC-SHA256"} in conditions
    assert {"x-amz-credential": sig["credential"]} in conditions
    assert {"x-amz-date": sig["date"]} in conditions


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mime_type": "video/avi"}, "Invalid mime_type"),
        ({"mime_type": "video/webm"}, "Invalid mime_type"),
        ({"mime_type": None}, "Invalid mime_type"),
        ({"filename": ""}, "filename"),
        ({"filename": None}, "filename"),
        ({"channel_id": None}, "channel_id"),
    ],
    ids=["avi", "webm", "no-mime", "empty-filename", "no-filename", "no-channel"],
)
def test_signature_request_errors(api: Api, body: dict[str, Any], message: str) -> None:
    request = {"filename": "a.mp4", "mime_type": "video/mp4", "channel_id": api.sb.channel_id}
    request.update(body)
    resp = api.post(
        "/api/v1/upload_signatures", {k: v for k, v in request.items() if v is not None}
    )
    assert resp.status_code == 400
    assert message in error_of(resp)


def test_quicktime_is_accepted(api: Api) -> None:
    sig = api.signature("clip.mov", "video/quicktime")
    assert {"Content-Type": "video/quicktime"} in decode_policy(sig["policy"])["conditions"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"a string"', "application/json"),
        (b"filename=a.mp4", "application/x-www-form-urlencoded"),
    ],
    ids=["malformed", "array", "string", "form"],
)
def test_malformed_bodies_are_400_json_errors(api: Api, content: bytes, content_type: str) -> None:
    resp = api.http.post(
        "/api/v1/upload_signatures", content=content, headers={"Content-Type": content_type}
    )
    assert resp.status_code == 400
    error_of(resp)


def test_post_upload_stores_the_object(api: Api, media) -> None:
    sig = api.signature()
    resp = s3_post(sig["post_url"], post_fields(sig), media.clip.read_bytes())
    assert resp.status_code == 204
    assert resp.headers["etag"] == f'"{md5_of(media.clip)}"'
    objects = {o["key"]: o for o in api.sb.objects()}
    assert objects[sig["key"]]["size"] == media.clip.stat().st_size
    assert objects[sig["key"]]["md5"] == md5_of(media.clip)


def test_post_with_httpx_data_and_files_in_order(api: Api, media) -> None:
    """The common client idiom: ``data=`` fields (ordered) then ``files=``."""
    sig = api.signature()
    with media.clip.open("rb") as fh:
        resp = HTTP.post(
            sig["post_url"],
            data=dict(post_fields(sig)),
            files={"file": ("clip.mp4", fh, "video/mp4")},
        )
    assert resp.status_code == 204


Fields = list[tuple[str, str]]


def _swap(fields: Fields, a: str, b: str) -> Fields:
    names = [n for n, _ in fields]
    i, j = names.index(a), names.index(b)
    fields = list(fields)
    fields[i], fields[j] = fields[j], fields[i]
    return fields


def _set(name: str, value: str) -> Callable[[Fields], Fields]:
    return lambda fields: [(n, value if n == name else v) for n, v in fields]


def _without(name: str) -> Callable[[Fields], Fields]:
    return lambda fields: [(n, v) for n, v in fields if n != name]


def _flip(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


# (id, mutate fields, expected status, expected S3 code)
POST_CASES: list[tuple[str, Callable[[Fields], Fields], int, str]] = [
    (
        "bad-signature",
        lambda f: [(n, _flip(v) if n == "X-Amz-Signature" else v) for n, v in f],
        403,
        "SignatureDoesNotMatch",
    ),
    (
        "other-credential",
        _set("X-Amz-Credential", "AKIAOTHER/20250101/us-east-1/s3/aws4_request"),
        403,
        "InvalidAccessKeyId",
    ),
    ("key-differs", _set("key", "uploads/elsewhere.mp4"), 403, "AccessDenied"),
    ("acl-differs", _set("acl", "public-read"), 403, "AccessDenied"),
    ("content-type-differs", _set("Content-Type", "video/quicktime"), 403, "AccessDenied"),
    ("date-differs", _set("X-Amz-Date", "20200101T000000Z"), 403, "AccessDenied"),
    ("key-acl-swapped", lambda f: _swap(f, "key", "acl"), 400, "InvalidArgument"),
    (
        "policy-after-signature",
        lambda f: _swap(f, "Policy", "X-Amz-Signature"),
        400,
        "InvalidArgument",
    ),
    ("extra-field", lambda f: [*f, ("success_action_status", "201")], 403, "AccessDenied"),
    ("duplicate-field", lambda f: [*f[:1], *f], 400, "InvalidArgument"),
    *[(f"missing-{name}", _without(name), 400, "InvalidArgument") for name in FORM_FIELDS],
]


@pytest.mark.parametrize(
    ("mutate", "status", "code"), [c[1:] for c in POST_CASES], ids=[c[0] for c in POST_CASES]
)
def test_post_strictness(
    api: Api, media, mutate: Callable[[Fields], Fields], status: int, code: str
) -> None:
    sig = api.signature()
    resp = s3_post(sig["post_url"], mutate(post_fields(sig)), media.clip.read_bytes())
    assert resp.status_code == status, resp.text
    assert s3_code(resp) == code
    assert api.sb.objects() == []


def test_field_after_file_is_refused(api: Api, media) -> None:
    sig = api.signature()
    resp = s3_post(sig["post_url"], post_fields(sig), media.clip.read_bytes(), file_last=False)
    assert resp.status_code == 400 and s3_code(resp) == "InvalidArgument"
    assert "last" in resp.text
    assert api.sb.objects() == []


def test_missing_file_is_refused(api: Api) -> None:
    sig = api.signature()
    body, content_type = encode_form([(n, v.encode(), None) for n, v in post_fields(sig)])
    resp = HTTP.post(sig["post_url"], content=body, headers={"Content-Type": content_type})
    assert resp.status_code == 400 and s3_code(resp) == "InvalidArgument"


def test_policy_of_another_upload_does_not_fit(api: Api, media) -> None:
    first, second = api.signature(), api.signature()
    fields = post_fields(first)
    fields = [(n, second["policy"] if n == "Policy" else v) for n, v in fields]
    resp = s3_post(first["post_url"], fields, media.clip.read_bytes())
    assert resp.status_code == 403 and s3_code(resp) == "SignatureDoesNotMatch"


def test_expired_policy_is_refused(api: Api, media) -> None:
    sig = api.signature()
    api.sb.advance_clock(SMALL.signature_lifetime + 1)
    resp = s3_post(sig["post_url"], post_fields(sig), media.clip.read_bytes())
    assert resp.status_code == 403 and s3_code(resp) == "AccessDenied"
    assert "expired" in resp.text


@pytest.mark.parametrize(
    ("size", "code"),
    [(MIN_FILE - 1, "EntityTooSmall"), (MAX_FILE + 1, "EntityTooLarge")],
    ids=["too-small", "too-large"],
)
def test_size_outside_content_length_range(api: Api, size: int, code: str) -> None:
    sig = api.signature()
    resp = s3_post(sig["post_url"], post_fields(sig), b"\0" * size)
    assert resp.status_code == 400 and s3_code(resp) == code
    assert api.sb.objects() == []


@pytest.mark.parametrize("size", [MIN_FILE, MAX_FILE], ids=["min", "max"])
def test_size_bounds_are_inclusive(api: Api, size: int) -> None:
    sig = api.signature()
    resp = s3_post(sig["post_url"], post_fields(sig), b"\0" * size)
    assert resp.status_code == 204


def test_not_multipart_and_wrong_bucket(api: Api, media) -> None:
    sig = api.signature()
    resp = HTTP.post(sig["post_url"], content=b"key=x", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400 and s3_code(resp) == "MalformedPOSTRequest"
    resp = s3_post(f"{api.sb.s3_url}/other-bucket", post_fields(sig), media.clip.read_bytes())
    assert resp.status_code == 404 and s3_code(resp) == "NoSuchBucket"
    assert api.sb.objects() == []
