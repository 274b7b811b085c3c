"""Spec 4: upload signatures (the POST upload they sign is in ``s3/test_post_object.py``)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest
from sandbox_support import (
    MAX_FILE,
    MIN_FILE,
    SMALL,
    Api,
    decode_policy,
    error_of,
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
