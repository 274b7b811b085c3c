"""Sandbox robustness: every endpoint fuzzed with malformed requests never answers 5xx.

The sandbox must be a strict, faithful stand-in: a client bug has to show up as the spec's 4xx
(API: ``{"error": "..."}`` JSON; OAuth: RFC 6749 ``{"error": code}``; S3 front: an XML
``<Error><Code>``), never as a crash. Hypothesis builds the requests: random JSON (wrong types,
known field names with wrong values, huge strings), garbage and truncated multipart bodies, form
data, odd content types, odd ids and query strings, with and without a valid token.
``RELIABILITY_SOAK=1`` multiplies the examples by 10.
"""

from __future__ import annotations

import json
import os
import socket
import string
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

SOAK = bool(os.environ.get("RELIABILITY_SOAK"))
EXAMPLES = 600 if SOAK else 60
HUGE = "x" * 300_000

FIELDS = [
    "filename",
    "mime_type",
    "channel_id",
    "parts_count",
    "key",
    "upload_id",
    "parts",
    "part",
    "etag",
    "caption",
    "description",
    "s3_key",
    "url",
    "async",
    "metadata",
    "access",
    "archived_at",
    "audio_disabled",
    "hashtags",
    "business_store_id",
    "product_ids",
    "custom_fields",
    "display_social_attributions",
    "external_media",
    "poster_url",
    "video_hidden",
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "kind",
    "endpoint",
    "status",
    "times",
    "seconds",
    "advance",
    "source",
    "username",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "video/mp4",
            "a.mp4",
            "https://cdn.example.com/v.mp4",
            "",
            HUGE,
            "../../etc/passwd",
            "\x00",
            "🎬" * 50,
            "2024-13-45T99:99:99Z",
            "http://[abc/x.mp4",
            "http://cdn.example.com:99999/x.mp4",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), inner, max_size=5
        ),
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


def _json_body(value: Any) -> bytes:
    return json.dumps(value).encode()


bodies = st.one_of(
    json_objects.map(_json_body),
    json_values.map(_json_body),
    st.binary(max_size=200),
    st.just(b"{"),
    st.just(b'{"a": ' * 50),
    st.just(b"[" * 100_000),  # deeper than json.loads can recurse (issue 14: a 500)
    st.just(b'{"a": ' * 70 + b"{}" + b"}" * 70),  # well formed, too deep
    st.just(HUGE.encode()),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=xyz",
        "application/vnd.api+json",
        "image/gif",
    ]
)


@st.composite
def multipart_bodies(draw: Any) -> tuple[str, bytes]:
    """A multipart/form-data body: well formed or not, with random fields and a random file."""
    boundary = draw(st.sampled_from(["b0undary", "x", "----WebKit", "a" * 70]))
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "key",
                        "acl",
                        "X-Amz-Algorithm",
                        "X-Amz-Credential",
                        "X-Amz-Date",
                        "Policy",
                        "X-Amz-Signature",
                        "Content-Type",
                        "file",
                        "metadata",
                    ]
                ),
                st.text(max_size=8),
            )
        )
        value = draw(st.one_of(json_objects.map(json.dumps), st.text(max_size=40), st.just(HUGE)))
        filename = draw(st.one_of(st.none(), st.just("a.mp4"), st.text(max_size=10)))
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n")
    body = "".join(parts) + (f"--{boundary}--\r\n" if draw(st.booleans()) else "")
    raw = body.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # truncated somewhere
        raw = raw[: draw(st.integers(0, len(raw)))]
    return f"multipart/form-data; boundary={boundary}", raw


ids = st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(["x" * 5000, "%00", "..", "a b"]))


def _api_error_shape(response: httpx.Response) -> None:
    """No 5xx; every 4xx is JSON ``{"error": "<text>"}`` (OAuth's codes have the same shape)."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), body


def _s3_error_shape(response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code == 501, (
        response.status_code,
        response.text[:300],
    )
    if response.status_code >= 400:
        root = ET.fromstring(response.content)
        assert root.tag == "Error" and root.findtext("Code"), response.text[:300]


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not SOAK,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

API_POSTS = [
    "/api/v1/upload_signatures",
    "/api/v1/upload_multipart/signatures",
    "/api/v1/upload_multipart/complete",
    "/api/v1/videos",
]


@pytest.fixture
def world(sb, tmp_path) -> dict[str, Any]:
    """A token, a real video and an open multipart upload, so fuzzed requests get past auth
    and lookups and reach the validation of their bodies."""
    http = httpx.Client(base_url=sb.base_url, timeout=30)
    token = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    path = make_mp4(tmp_path / "v.mp4", 4, size=30_000, seed=3)
    with open(path, "rb") as fh:
        video = http.post(
            "/api/v1/videos",
            headers=auth,
            files={"file": ("v.mp4", fh, "video/mp4")},
            data={"metadata": json.dumps({"channel_id": sb.channel_id, "caption": "x"})},
        ).json()
    upload = http.post(
        "/api/v1/upload_multipart/signatures",
        headers=auth,
        json={
            "filename": "m.mp4",
            "mime_type": "video/mp4",
            "channel_id": sb.channel_id,
            "parts_count": 2,
        },
    ).json()
    yield {"http": http, "auth": auth, "video_id": video["id"], "upload": upload}
    http.close()


def test_api_posts_never_fail_with_5xx(sb, world):
    http, auth = world["http"], world["auth"]

    @FUZZ
    @given(
        path=st.sampled_from(API_POSTS),
        body=bodies,
        content_type=content_types,
        authed=st.booleans(),
        known=st.one_of(st.none(), json_objects),
    )
    def check(path: str, body: bytes, content_type: str, authed: bool, known: Any) -> None:
        if known is not None:  # mostly-right bodies go deeper into the validation
            base = {
                "channel_id": sb.channel_id,
                "filename": "a.mp4",
                "mime_type": "video/mp4",
                "key": world["upload"]["key"],
                "upload_id": world["upload"]["upload_id"],
                "metadata": {"channel_id": sb.channel_id, "caption": "c"},
            }
            body, content_type = _json_body({**base, **known}), "application/json"
        headers = {"Content-Type": content_type} if content_type else {}
        if authed:
            headers.update(auth)
        response = http.post(path, content=body, headers=headers)
        _api_error_shape(response)

    check()


def test_create_video_multipart_forms_never_fail_with_5xx(sb, world):
    http, auth = world["http"], world["auth"]

    @FUZZ
    @given(form=multipart_bodies())
    def check(form: tuple[str, bytes]) -> None:
        content_type, body = form
        response = http.post(
            "/api/v1/videos", content=body, headers={**auth, "Content-Type": content_type}
        )
        _api_error_shape(response)

    check()


def test_get_patch_and_token_never_fail_with_5xx(sb, world):
    http, auth = world["http"], world["auth"]

    @FUZZ
    @given(
        which=st.sampled_from(
            ["get_video", "get_import", "patch", "patch_real", "token", "private"]
        ),
        ident=ids,
        body=bodies,
        content_type=content_types,
        form=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=30), max_size=5),
    )
    def check(which: str, ident: str, body: bytes, content_type: str, form: dict) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        quoted = urllib.parse.quote(ident, safe="")
        if which == "get_video":
            response = http.get(f"/api/v1/videos/{quoted}", headers=auth)
        elif which == "get_import":
            response = http.get(f"/api/v1/videos/imports/{quoted}", headers=auth)
        elif which == "patch":
            response = http.patch(
                f"/api/v1/videos/{quoted}", content=body, headers={**auth, **headers}
            )
        elif which == "patch_real":
            response = http.patch(
                f"/api/v1/videos/{world['video_id']}", content=body, headers={**auth, **headers}
            )
        elif which == "token":
            response = http.post("/oauth/token", data=form)
        else:  # the private control prefix must be as robust as the API
            response = http.post("/_sandbox/faults", content=body, headers=headers)
        _api_error_shape(response)

    check()


#: each makes the host or port of a URL unparsable, whatever surrounds it
BAD_HOST_PIECES = ["[", "]", "[::1", "\x00", "\n", "\t", "\x7f", "%zz", " ", "\udcff", "\u2603",
                   "..", "-.", "_.-"]
BAD_PORTS = [":99999", ":65536", ":0", ":-1", ":x", ":80:80", ":\uff11"]
LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)


@st.composite
def unparsable_urls(draw: Any) -> str:
    """An http(s) URL whose authority no parser accepts; the path is anything at all."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP"]))
    left, right = draw(LABEL), draw(LABEL)
    if draw(st.booleans()):
        authority = f"{left}{draw(st.sampled_from(BAD_HOST_PIECES))}{right}.example.com"
    else:
        authority = f"{left}.example.com{draw(st.sampled_from(BAD_PORTS))}"
    if draw(st.booleans()):
        authority = f"user:pw@{authority}"
    path = draw(st.text(max_size=20))  # any code point, surrogates and controls included
    return f"{scheme}://{authority}/{path}{draw(st.sampled_from(['.mp4', '.jpg', '']))}"


def _url_create(sb, field: str, url: str) -> tuple[dict[str, str], bytes]:
    """A create whose only fault is ``url`` in ``field``; (headers, body)."""
    meta: dict[str, Any] = {"channel_id": sb.channel_id, "caption": "c"}
    if field in ("url", "url-async"):
        meta["url"] = url
        meta["async"] = field == "url-async"
    elif field == "poster_url":
        meta.update(s3_key="uploads/none.mp4", poster_url=url)
    else:
        meta.update(s3_key="uploads/none.mp4", external_media={"source": "x", "url": url})
    return {"Content-Type": "application/json"}, json.dumps(meta).encode()


def test_unparsable_urls_are_400_in_every_field(sb, world):
    """Issue 13: ``http://[abc/x.mp4`` answered 500 (after spending a rate-limit slot)."""
    http, auth = world["http"], world["auth"]

    @FUZZ
    @given(url=unparsable_urls(),
           field=st.sampled_from(["url", "url-async", "poster_url", "external_media.url"]))
    def check(url: str, field: str) -> None:
        headers, body = _url_create(sb, field, url)
        response = http.post("/api/v1/videos", content=body, headers={**auth, **headers})
        _api_error_shape(response)
        assert response.status_code == 400, (url, response.text)

    check()
    assert sb.imports() == []
    assert [r for r in sb.requests if r.status and r.status >= 500] == []


def test_urls_that_parse_never_fail_with_5xx(sb, world):
    """Loopback URLs with any path (the port is held but not listening, so every connection
    is refused at once): downloads fail cleanly."""
    http, auth = world["http"], world["auth"]
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    closed = held.getsockname()[1]

    @FUZZ
    @given(path=st.text(max_size=30), query=st.text(max_size=10),
           field=st.sampled_from(["url", "poster_url", "external_media.url"]))
    def check(path: str, query: str, field: str) -> None:
        url = f"http://127.0.0.1:{closed}/{path}.mp4" + (f"?{query}" if query else "")
        if field == "poster_url":
            url = url.replace(".mp4", ".png")
        headers, body = _url_create(sb, field, url)
        response = http.post("/api/v1/videos", content=body, headers={**auth, **headers})
        _api_error_shape(response)

    try:
        check()
    finally:
        held.close()


def test_s3_front_never_fails_with_5xx(sb, world):
    s3 = httpx.Client(base_url=sb.s3_url, timeout=30)
    part_url = httpx.URL(world["upload"]["parts"][0]["signature"]["put_url"])

    @FUZZ
    @given(
        form=multipart_bodies(),
        bucket=st.sampled_from([sb.bucket, "other", ""]),
        query=st.dictionaries(
            st.sampled_from(
                [
                    "X-Amz-Algorithm",
                    "X-Amz-Credential",
                    "X-Amz-Date",
                    "X-Amz-Expires",
                    "X-Amz-SignedHeaders",
                    "X-Amz-Signature",
                    "partNumber",
                    "uploadId",
                ]
            ),
            st.text(max_size=20),
            max_size=8,
        ),
        tamper=st.booleans(),
        body=st.binary(max_size=300),
        method=st.sampled_from(["POST", "PUT", "PUT_SIGNED", "GET", "DELETE"]),
    )
    def check(form, bucket, query, tamper, body, method) -> None:
        if method == "POST":
            content_type, raw = form
            response = s3.post(f"/{bucket}", content=raw, headers={"Content-Type": content_type})
        elif method == "PUT":
            response = s3.put(f"/{bucket}/uploads/k.mp4", params=query, content=body)
        elif method == "PUT_SIGNED":  # a real part URL, its query tampered with (or not)
            params = dict(part_url.params)
            if tamper:
                params.update(query)
            response = s3.put(part_url.copy_with(params=params), content=body)
        else:
            response = s3.request(method, f"/{bucket}")
        _s3_error_shape(response)

    try:
        check()
    finally:
        s3.close()
