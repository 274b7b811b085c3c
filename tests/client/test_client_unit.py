"""FireworkClient over httpx.MockTransport: request shapes, tokens, S3 bodies, leaks."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from client_fakes import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    PART_SIGNATURE,
    POLICY,
    S3,
    SIGNATURE,
    FakeFirework,
    FakeTransport,
    json_body,
    parse_multipart,
    part_url,
    s3_error,
    signature_payload,
    video_payload,
)
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from prefect_firework._version import __version__
from prefect_firework.client import (
    AuthenticationError,
    FireworkAuth,
    FireworkClient,
    FireworkError,
    NotFoundError,
    S3UploadError,
    ServerError,
    SourceChangedError,
    TokenManager,
)
from prefect_firework.models import CompletedPart, Video, VideoImport, VideoMetadata, VideoUpdate

META = VideoMetadata(channel_id="ch1", caption="Hello")


def route(fake: FakeFirework, method: str, path: str, status: int, body: object = None) -> None:
    fake.routes[(method, path)] = lambda request: httpx.Response(status, json=body)


# -- tokens -------------------------------------------------------------------------------------


def test_token_request_is_form_encoded_and_cached(
    client: FireworkClient, fake: FakeFirework
) -> None:
    token = client.get_access_token()
    assert client.get_access_token() is token
    [request] = fake.api_requests("/oauth/token")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = dict(httpx.QueryParams(request.body.decode()))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "videos:read videos:write",
    }
    assert "authorization" not in request.headers
    assert isinstance(token.access_token, SecretStr)


def test_bad_client_credentials() -> None:
    fake = FakeFirework()
    with (
        FireworkClient(
            CLIENT_ID, "wrong-secret-value", base_url=API, transport=FakeTransport(fake.api)
        ) as fw,
        pytest.raises(AuthenticationError) as info,
    ):
        fw.get_video("v1")
    assert "wrong-secret-value" not in str(info.value)
    assert info.value.status_code == 401


def test_refresh_before_expiry_with_clamped_margin() -> None:
    now = [0.0]
    fake = FakeFirework(expires_in=100)  # short lifetime: margin clamps to 50 s, not 60
    http = httpx.Client(transport=FakeTransport(fake.api))
    manager = TokenManager(
        http,
        token_url=f"{API}/oauth/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        clock=lambda: now[0],
    )
    first = manager.get_token()
    now[0] = 49.0
    assert manager.get_token() is first
    now[0] = 50.0
    second = manager.get_token()
    assert second is not first
    assert fake.token_requests == 2
    http.close()


def test_401_refreshes_once_and_replays(client: FireworkClient, fake: FakeFirework) -> None:
    route(fake, "GET", "/api/v1/videos/v1", 200, video_payload())
    assert client.get_video("v1").id == "v1"
    fake.expire_tokens()
    assert client.get_video("v1").id == "v1"
    assert fake.token_requests == 2
    calls = fake.api_requests("/api/v1/videos/v1")
    assert [c.headers["authorization"] != calls[0].headers["authorization"] for c in calls] == [
        False,
        False,
        True,
    ]


def test_second_401_raises(client: FireworkClient, fake: FakeFirework) -> None:
    fake.routes[("GET", "/api/v1/videos/v1")] = lambda r: httpx.Response(
        401, json={"error": "token revoked"}
    )
    with pytest.raises(AuthenticationError, match="token revoked"):
        client.get_video("v1")
    assert len(fake.api_requests("/api/v1/videos/v1")) == 2
    assert fake.token_requests == 2


def test_many_threads_one_refresh(client: FireworkClient, fake: FakeFirework) -> None:
    route(fake, "GET", "/api/v1/videos/v1", 200, video_payload())
    client.get_video("v1")
    fake.expire_tokens()
    barrier = threading.Barrier(16)

    def call(_: int) -> str:
        barrier.wait()
        return client.get_video("v1").id

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(call, range(16))) == ["v1"] * 16
    assert fake.token_requests == 2  # the first token and exactly one refresh


def test_concurrent_first_use_fetches_one_token(client: FireworkClient, fake: FakeFirework) -> None:
    route(fake, "GET", "/api/v1/videos/v1", 200, video_payload())
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda _: client.get_video("v1"), range(24)))
    assert fake.token_requests == 1


def test_auth_only_for_api_origin() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok-abcdefgh", "expires_in": 60})
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(record)) as http:
        manager = TokenManager(
            http, token_url=f"{API}/oauth/token", client_id="i", client_secret="s" * 10
        )
        auth = FireworkAuth(manager, api_origin=API)
        http.get(f"{API}/api/v1/videos/x", auth=auth)
        http.get("https://evil.example.com/api/v1/videos/x", auth=auth)
        http.get("http://api.fw.test/api/v1/videos/x", auth=auth)  # scheme differs
    assert seen[1].headers["authorization"] == "Bearer tok-abcdefgh"
    assert "authorization" not in seen[2].headers
    assert "authorization" not in seen[3].headers


# -- API endpoints ------------------------------------------------------------------------------


def test_user_agent_and_json(client: FireworkClient, fake: FakeFirework) -> None:
    route(fake, "POST", "/api/v1/upload_signatures", 201, signature_payload())
    sig = client.create_upload_signature(filename="a.mp4", mime_type="video/mp4", channel_id="ch1")
    assert sig.key == "uploads/abc/video.mp4"
    [request] = fake.api_requests("/api/v1/upload_signatures")
    assert request.headers["user-agent"] == f"prefect-firework/{__version__}"
    assert request.headers["content-type"] == "application/json"
    assert json_body(request) == {
        "filename": "a.mp4",
        "mime_type": "video/mp4",
        "channel_id": "ch1",
    }


def test_invalid_input_raises_before_any_request(
    client: FireworkClient, fake: FakeFirework
) -> None:
    with pytest.raises(PydanticValidationError, match="mime_type"):
        client.create_upload_signature(filename="a.avi", mime_type="video/avi", channel_id="c")
    with pytest.raises(PydanticValidationError, match="parts_count"):
        client.create_multipart_upload(
            filename="a.mp4", mime_type="video/mp4", channel_id="c", parts_count=101
        )
    with pytest.raises(PydanticValidationError, match="hostname"):
        client.create_video_from_url("https://localhost/v.mp4", META)
    with pytest.raises(PydanticValidationError, match="duplicate"):
        client.complete_multipart_upload(
            key="k", upload_id="u", parts=[CompletedPart(part=1, etag="e")] * 2
        )
    assert fake.requests == []


def test_multipart_initiate_and_complete(client: FireworkClient, fake: FakeFirework) -> None:
    route(
        fake,
        "POST",
        "/api/v1/upload_multipart/signatures",
        201,
        {
            "key": "k",
            "upload_id": "UP1",
            "parts": [
                {"part": n, "signature": {"put_url": part_url(n), "key": "k"}} for n in (1, 2)
            ],
        },
    )
    route(fake, "POST", "/api/v1/upload_multipart/complete", 204)
    upload = client.create_multipart_upload(
        filename="a.mp4", mime_type="video/mp4", channel_id="ch1", parts_count=2
    )
    assert [p.part for p in upload.parts] == [1, 2]
    assert PART_SIGNATURE not in repr(upload)
    client.complete_multipart_upload(
        key="k",
        upload_id="UP1",
        parts=[CompletedPart(part=2, etag='"b"'), CompletedPart(part=1, etag='"a"')],
    )
    [done] = fake.api_requests("/api/v1/upload_multipart/complete")
    assert json_body(done) == {
        "key": "k",
        "upload_id": "UP1",
        "parts": [{"part": 1, "etag": '"a"'}, {"part": 2, "etag": '"b"'}],
    }


def test_create_from_url_sync_and_async(client: FireworkClient, fake: FakeFirework) -> None:
    def create(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["async"]:
            return httpx.Response(
                202,
                json={
                    "id": "imp1",
                    "status": "running",
                    "video_id": None,
                    "created_at": "2025-01-29T12:00:00Z",
                    "completed_at": None,
                },
            )
        return httpx.Response(201, json=video_payload("v9"))

    fake.routes[("POST", "/api/v1/videos")] = create
    video = client.create_video_from_url("https://example.com/v.mp4", META)
    job = client.create_video_from_url("https://example.com/v.mp4", META, asynchronous=True)
    assert isinstance(video, Video) and video.id == "v9"
    assert isinstance(job, VideoImport) and job.status == "running"


def test_s3_key_get_update_import(client: FireworkClient, fake: FakeFirework) -> None:
    route(fake, "POST", "/api/v1/videos", 201, video_payload("v1"))
    route(fake, "GET", "/api/v1/videos/v1", 200, video_payload("v1", thumbnail_url="https://t"))
    route(fake, "PATCH", "/api/v1/videos/v1", 200, video_payload("v1", caption="New"))
    route(
        fake,
        "GET",
        "/api/v1/videos/imports/imp1",
        200,
        {"id": "imp1", "status": "completed", "video_id": "v1", "created_at": "2025-01-29T12:00Z"},
    )
    assert client.create_video_from_s3_key("uploads/k.mp4", META).id == "v1"
    assert json_body(fake.api_requests("/api/v1/videos")[0]) == {
        "s3_key": "uploads/k.mp4",
        "channel_id": "ch1",
        "caption": "Hello",
    }
    assert client.get_video("v1").thumbnail_url == "https://t"
    updated = client.update_video("v1", VideoUpdate(caption="New", poster_url=None))
    assert updated.caption == "New"
    patch = fake.api_requests("/api/v1/videos/v1")[-1]
    assert patch.method == "PATCH" and json_body(patch) == {"caption": "New", "poster_url": None}
    assert client.get_video_import("imp1").video_id == "v1"


def test_path_parameters_are_quoted(client: FireworkClient, fake: FakeFirework) -> None:
    with pytest.raises(NotFoundError):
        client.get_video("../imports/x?y=1")
    assert fake.requests[-1].url.endswith("/api/v1/videos/..%2Fimports%2Fx%3Fy%3D1")
    with pytest.raises(ValueError):
        client.get_video("")


def test_malformed_success_body(client: FireworkClient, fake: FakeFirework) -> None:
    route(fake, "POST", "/api/v1/upload_signatures", 201, {"key": "k", "policy": POLICY})
    with pytest.raises(FireworkError, match="unexpected UploadSignature response") as info:
        client.create_upload_signature(filename="a.mp4", mime_type="video/mp4", channel_id="c")
    assert POLICY not in str(info.value)


def test_create_from_file_streams_and_replays_after_401(
    client: FireworkClient, fake: FakeFirework, small_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_firework.client import s3 as s3_module

    opens: list[tuple[int, int]] = []
    real_open_range = s3_module.open_range

    def counting_open_range(source, offset, length, **kw):  # type: ignore[no-untyped-def]
        opens.append((offset, length))
        return real_open_range(source, offset, length, **kw)

    monkeypatch.setattr(s3_module, "open_range", counting_open_range)
    route(fake, "POST", "/api/v1/videos", 201, video_payload("vf"))
    client.get_access_token()
    fake.expire_tokens()
    meta = VideoMetadata(channel_id="ch1", caption="Hi", product_ids=[])
    assert client.create_video_from_file(small_file, meta).id == "vf"
    first, replay = fake.api_requests("/api/v1/videos")
    assert first.body == replay.body  # the whole body again: the source was re-opened
    assert len(opens) == 2
    assert "transfer-encoding" not in replay.headers
    assert int(replay.headers["content-length"]) == len(replay.body)
    parts = parse_multipart(replay.headers, replay.body)
    assert [p["name"] for p in parts] == ["metadata", "file"]
    assert json.loads(parts[0]["data"]) == {
        "channel_id": "ch1",
        "caption": "Hi",
        "product_ids": [],
    }
    assert parts[1]["filename"] == "clip.mp4"
    assert parts[1]["content_type"] == "video/mp4"
    assert parts[1]["data"] == small_file.read_bytes()


def test_create_from_file_needs_known_mime(client: FireworkClient, tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    path.write_bytes(b"x" * 10)
    with pytest.raises(ValueError, match="mime_type"):
        client.create_video_from_file(path, META)


# -- S3 -----------------------------------------------------------------------------------------


def make_signature(client: FireworkClient, fake: FakeFirework):  # type: ignore[no-untyped-def]
    route(fake, "POST", "/api/v1/upload_signatures", 201, signature_payload())
    return client.create_upload_signature(filename="a.mp4", mime_type="video/mp4", channel_id="c")


def test_post_to_s3_field_order_and_exact_length(
    client: FireworkClient, fake: FakeFirework, small_file: Path
) -> None:
    sig = make_signature(client, fake)
    client.post_to_s3(sig, small_file, mime_type="video/mp4")
    [post] = fake.s3_requests
    assert post.method == "POST" and post.url == f"{S3}/"
    assert "authorization" not in post.headers
    assert "transfer-encoding" not in post.headers
    assert int(post.headers["content-length"]) == len(post.body)
    parts = parse_multipart(post.headers, post.body)
    assert [p["name"] for p in parts] == [
        "key",
        "acl",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "Policy",
        "X-Amz-Signature",
        "Content-Type",
        "file",
    ]
    values = {p["name"]: p["data"] for p in parts}
    assert values["Policy"] == POLICY.encode() and values["X-Amz-Signature"] == SIGNATURE.encode()
    assert values["Content-Type"] == b"video/mp4"
    assert values["file"] == small_file.read_bytes()
    assert parts[-1]["filename"] == "clip.mp4"


def test_post_to_s3_error_is_parsed(
    client: FireworkClient, fake: FakeFirework, small_file: Path
) -> None:
    sig = make_signature(client, fake)
    fake.s3_handler = lambda r: s3_error(403, "AccessDenied", "Invalid according to Policy")
    with pytest.raises(S3UploadError) as info:
        client.post_to_s3(sig, small_file, mime_type="video/mp4")
    assert info.value.code == "AccessDenied" and info.value.status_code == 403
    assert SIGNATURE not in str(info.value) and POLICY not in str(info.value)


def test_post_to_s3_explicit_size_and_truncated_source(
    client: FireworkClient, fake: FakeFirework, small_file: Path
) -> None:
    sig = make_signature(client, fake)
    client.post_to_s3(sig, small_file, mime_type="video/mp4", size=1000, filename="x.mp4")
    file_part = parse_multipart(fake.s3_requests[-1].headers, fake.s3_requests[-1].body)[-1]
    assert file_part["data"] == small_file.read_bytes()[:1000]
    with pytest.raises(SourceChangedError, match="truncated"):
        client.post_to_s3(sig, small_file, mime_type="video/mp4", size=10**6)


def test_upload_part_returns_quoted_etag(
    client: FireworkClient, fake: FakeFirework, small_file: Path
) -> None:
    data = small_file.read_bytes()
    etag = client.upload_part(SecretStr(part_url(2)), small_file, 5000, 70000)
    assert etag == f'"{hashlib.md5(data[5000:75000]).hexdigest()}"'
    [put] = fake.s3_requests
    assert put.method == "PUT" and put.body == data[5000:75000]
    assert put.headers["content-length"] == "70000"
    assert "transfer-encoding" not in put.headers
    assert "authorization" not in put.headers


@pytest.fixture
def fresh_bucket_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the client learned about buckets in earlier tests is forgotten."""
    from prefect_firework.client import s3 as s3_module

    monkeypatch.setattr(s3_module, "_REFUSES_CONTENT_MD5", set())
    monkeypatch.setattr(s3_module, "_OPAQUE_ETAGS", set())


def puts_of(fake: FakeFirework) -> int:
    return sum(r.method == "PUT" for r in fake.s3_requests)


def _md5_etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


def test_upload_part_sends_content_md5_for_local_files_and_s3_checks_it(
    client: FireworkClient, fake: FakeFirework, small_file: Path, fresh_bucket_memory: None
) -> None:
    seen: list[str | None] = []

    def bucket(request: httpx.Request) -> httpx.Response:
        body = fake.s3_requests[-1].body
        sent = request.headers.get("Content-MD5")
        seen.append(sent)
        if sent != base64.b64encode(hashlib.md5(body).digest()).decode():
            return s3_error(400, "BadDigest", "The Content-MD5 you specified did not match")
        return httpx.Response(200, headers={"ETag": '"7f3a-not-an-md5-sse-kms"'})

    fake.s3_handler = bucket
    etag = client.upload_part(part_url(1), small_file, 0, 1000)
    assert etag == '"7f3a-not-an-md5-sse-kms"', "S3 checked the bytes: any ETag is fine"
    assert len(seen) == 1 and seen[0]


def test_upload_part_corrupted_twice_is_bad_digest(
    client: FireworkClient, fake: FakeFirework, small_file: Path, fresh_bucket_memory: None
) -> None:
    fake.s3_handler = lambda r: s3_error(400, "BadDigest", "The Content-MD5 did not match")
    with pytest.raises(S3UploadError) as info:
        client.upload_part(part_url(1), small_file, 0, 1000)
    assert info.value.code == "BadDigest" and puts_of(fake) == 2
    assert PART_SIGNATURE not in str(info.value)


def test_upload_part_without_content_md5_tells_corruption_from_opaque_etags(
    client: FireworkClient, fake: FakeFirework, small_file: Path, fresh_bucket_memory: None
) -> None:
    refusal = s3_error(
        403, "AccessDenied", "There were headers present in the request which were not signed"
    )
    answers: list[httpx.Response] = []

    def bucket(request: httpx.Request) -> httpx.Response:
        if "Content-MD5" in request.headers:
            return refusal
        return answers.pop(0)

    fake.s3_handler = bucket
    # the same wrong ETag twice: S3 received the same other bytes twice (corruption)
    answers[:] = [httpx.Response(200, headers={"ETag": '"' + "0" * 32 + '"'})] * 2
    with pytest.raises(S3UploadError) as info:
        client.upload_part(part_url(1), small_file, 0, 1000)
    assert info.value.code == "ETagMismatch" and PART_SIGNATURE not in str(info.value)
    # corrupted once: the second send's ETag is the MD5 of the bytes
    good = _md5_etag(small_file.read_bytes()[:1000])
    answers[:] = [
        httpx.Response(200, headers={"ETag": '"' + "1" * 32 + '"'}),
        httpx.Response(200, headers={"ETag": good}),
    ]
    assert client.upload_part(part_url(1), small_file, 0, 1000) == good
    # SSE-KMS: every send gets a new non-MD5 ETag: accepted, and remembered for the bucket
    answers[:] = [httpx.Response(200, headers={"ETag": '"' + c * 32 + '"'}) for c in "abc"]
    assert client.upload_part(part_url(1), small_file, 0, 1000) == '"' + "b" * 32 + '"'
    puts = puts_of(fake)
    assert client.upload_part(part_url(2), small_file, 0, 1000) == '"' + "c" * 32 + '"'
    assert puts_of(fake) == puts + 1, "no second send once the bucket is known"
    # the check can still be switched off
    answers[:] = [httpx.Response(200, headers={"ETag": '"x"'})]
    assert client.upload_part(part_url(1), small_file, 0, 1000, verify_md5=False)


def test_upload_part_missing_etag(
    client: FireworkClient, fake: FakeFirework, small_file: Path
) -> None:
    fake.s3_handler = lambda r: httpx.Response(200)
    with pytest.raises(S3UploadError) as info:
        client.upload_part(part_url(1), small_file, 0, 10)
    assert info.value.code == "MissingETag"


def test_upload_part_expired(client: FireworkClient, fake: FakeFirework, small_file: Path) -> None:
    fake.s3_handler = lambda r: s3_error(403, "AccessDenied", "Request has expired")
    with pytest.raises(S3UploadError) as info:
        client.upload_part(part_url(1), small_file, 0, 10)
    assert (info.value.code, info.value.status_code) == ("AccessDenied", 403)
    assert "expired" in str(info.value)


def test_upload_part_short_source_is_not_sent(
    client: FireworkClient, fake: FakeFirework, small_file: Path
) -> None:
    size = small_file.stat().st_size
    with pytest.raises(SourceChangedError) as info:
        client.upload_part(part_url(1), small_file, size - 100, 5000)
    assert "5000-byte range" in str(info.value) and "truncated" in str(info.value)
    assert fake.s3_requests == []  # the transport never got a complete request


def test_upload_part_rejects_empty_range(client: FireworkClient, small_file: Path) -> None:
    with pytest.raises(ValueError):
        client.upload_part(part_url(1), small_file, 0, 0)


def test_no_secret_in_logs(
    client: FireworkClient,
    fake: FakeFirework,
    small_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "prefect_firework.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    sig = make_signature(client, fake)
    client.post_to_s3(sig, small_file, mime_type="video/mp4")
    client.upload_part(part_url(1), small_file, 0, 1000)
    fake.expire_tokens()
    with pytest.raises(NotFoundError):
        client.get_video("nope")
    token = client.get_access_token().access_token.get_secret_value()
    assert "HTTP Request" in caplog.text  # httpx did log, through the filter
    assert "/api/v1/upload_signatures" in caplog.text
    for secret in (token, CLIENT_SECRET, POLICY, SIGNATURE, PART_SIGNATURE):
        assert secret not in caplog.text
    assert "X-Amz-Signature" not in caplog.text


def test_repr_has_no_secret(client: FireworkClient) -> None:
    assert CLIENT_SECRET not in repr(client)
    assert CLIENT_SECRET not in repr(client.token_manager)


@pytest.mark.parametrize(
    ("response", "cls", "text"),
    [
        (httpx.Response(200, json={"token": "tok-SECRETSECRET"}), FireworkError, "access_token"),
        (httpx.Response(200, text="tok-SECRETSECRET"), FireworkError, "not JSON"),
        (httpx.Response(503, json={"error": "down"}), ServerError, "down"),
        (httpx.Response(400, json={"error": "invalid_scope"}), AuthenticationError, "scope"),
    ],
)
def test_token_endpoint_failures(response: httpx.Response, cls: type, text: str) -> None:
    with (
        FireworkClient(
            CLIENT_ID, CLIENT_SECRET, base_url=API, transport=FakeTransport(lambda r: response)
        ) as fw,
        pytest.raises(cls, match=text) as info,
    ):
        fw.get_access_token()
    assert "tok-SECRETSECRET" not in str(info.value)
