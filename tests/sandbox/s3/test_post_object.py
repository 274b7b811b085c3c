"""Spec 4.6: the strict S3 front's checks of the POST upload an upload signature signs."""

from __future__ import annotations

from collections.abc import Callable

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
    encode_form,
    md5_of,
    post_fields,
    s3_code,
    s3_post,
)


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
