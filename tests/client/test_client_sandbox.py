"""FireworkClient against the sandbox (a real API and strict S3 front over HTTP on 127.0.0.1).

Every endpoint's success path, each documented error mapped to its exception, token refresh on
expiry and on 401 with many threads, presigned POST/PUT streaming, ETag checks, and leaks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from prefect_firework.client import (
    AuthenticationError,
    FireworkClient,
    FireworkTransportError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    S3UploadError,
    ServerError,
    is_retryable,
)
from prefect_firework.models import (
    CompletedPart,
    ExternalMedia,
    Video,
    VideoImport,
    VideoMetadata,
    VideoUpdate,
)
from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.media import make_mp4

KiB = 1024
MiB = 1024 * KiB
PART = 64 * KiB  # the sandboxes below accept 64 KiB parts so multipart tests stay small


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    config = SandboxConfig(min_part_size=PART, rate_limit_count=10_000, transcoding_delay=0.2)
    with Sandbox(config=config) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _clear_faults(sb: Sandbox) -> Iterator[None]:
    yield
    sb.faults.clear()


class RecordingTransport(httpx.BaseTransport):
    """Wraps the real transport and keeps each request's method, URL and headers."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append((request.method, str(request.url), dict(request.headers)))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def make_client(sb: Sandbox, **kw: Any) -> FireworkClient:
    kw.setdefault("client_id", sb.client_id)
    kw.setdefault("client_secret", sb.client_secret)
    return FireworkClient(base_url=sb.base_url, token_url=sb.token_url, **kw)


@pytest.fixture
def s3_recorder() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def fw(sb: Sandbox, s3_recorder: RecordingTransport) -> Iterator[FireworkClient]:
    with make_client(sb, s3_transport=s3_recorder) as client:
        yield client


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 4 s MP4 padded to 200 KiB (above the 25 KiB minimum; 4 parts of 64 KiB max)."""
    return make_mp4(tmp_path_factory.mktemp("media") / "clip.mp4", 4, size=200 * KiB)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MP4 below the 25 KiB minimum."""
    path = make_mp4(tmp_path_factory.mktemp("tiny") / "tiny.mp4", 4)
    assert path.stat().st_size < 25 * KiB
    return path


def meta(sb: Sandbox, **kw: Any) -> VideoMetadata:
    return VideoMetadata(channel_id=sb.channel_id, caption="Sandbox clip", **kw)


def field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def requests_of(
    sb: Sandbox, endpoint: str, status: int | None = None, *, settle: float = 0.3
) -> list[Any]:
    """The sandbox's records for ``endpoint``. A record is written as the response finishes,
    which can be a moment after the client has it, so wait until the list stops growing."""

    def snapshot() -> list[Any]:
        records = sb.requests() if callable(sb.requests) else sb.requests
        return [
            r
            for r in records
            if field(r, "endpoint") == endpoint and (status is None or field(r, "status") == status)
        ]

    current = snapshot()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(settle)
        latest = snapshot()
        if len(latest) == len(current):
            return latest
        current = latest
    return current


def objects_by_key(sb: Sandbox) -> dict[str, Any]:
    return {field(o, "key"): o for o in sb.objects()}


def md5_of(path: Path, offset: int = 0, length: int | None = None) -> str:
    data = path.read_bytes()
    end = len(data) if length is None else offset + length
    return hashlib.md5(data[offset:end]).hexdigest()


def multipart_upload(fw: FireworkClient, sb: Sandbox, path: Path, parts: int) -> str:
    size = path.stat().st_size
    upload = fw.create_multipart_upload(
        filename=path.name, mime_type="video/mp4", channel_id=sb.channel_id, parts_count=parts
    )
    part_size = -(-size // parts)
    done = []
    for p in upload.parts:
        offset = (p.part - 1) * part_size
        length = min(part_size, size - offset)
        done.append(
            CompletedPart(part=p.part, etag=fw.upload_part(p.put_url, path, offset, length))
        )
    fw.complete_multipart_upload(key=upload.key, upload_id=upload.upload_id, parts=done)
    return upload.key


# -- tokens -------------------------------------------------------------------------------------


def test_token_fetched_once_and_cached(sb: Sandbox, fw: FireworkClient) -> None:
    before = len(requests_of(sb, "token"))
    token = fw.get_access_token()
    assert fw.get_access_token() is token
    assert token.expires_in > 0 and token.access_token.get_secret_value()
    assert len(requests_of(sb, "token")) == before + 1


def test_wrong_secret_is_authentication_error(sb: Sandbox) -> None:
    with (
        make_client(sb, client_secret="definitely-not-the-secret") as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.get_video("anything")
    assert "definitely-not-the-secret" not in str(info.value)
    assert not is_retryable(info.value)


def test_read_only_credentials_cannot_write(sb: Sandbox) -> None:
    creds = {"client_id": sb.read_only_client_id, "client_secret": sb.read_only_client_secret}
    # asking for more scope than the client has is refused at the token endpoint
    with make_client(sb, **creds) as client, pytest.raises(AuthenticationError, match="scope"):
        client.get_video("no-such-video")
    with make_client(sb, scopes="videos:read", **creds) as client:
        with pytest.raises(PermissionDeniedError) as info:
            client.create_upload_signature(
                filename="a.mp4", mime_type="video/mp4", channel_id=sb.channel_id
            )
        assert info.value.status_code == 403
        with pytest.raises(NotFoundError):
            client.get_video("no-such-video")


def test_expired_tokens_refresh_once_across_threads(sb: Sandbox, fw: FireworkClient) -> None:
    sig = fw.create_upload_signature(
        filename="a.mp4", mime_type="video/mp4", channel_id=sb.channel_id
    )
    assert sig.key
    sb.expire_tokens()
    before = len(requests_of(sb, "token"))
    barrier = threading.Barrier(12)

    def work(i: int) -> str:
        barrier.wait()
        return fw.create_upload_signature(
            filename=f"t{i}.mp4", mime_type="video/mp4", channel_id=sb.channel_id
        ).key

    with ThreadPoolExecutor(12) as pool:
        keys = list(pool.map(work, range(12)))
    assert len(set(keys)) == 12
    assert len(requests_of(sb, "token")) == before + 1  # exactly one refresh


def test_short_lived_token_is_refreshed_before_expiry() -> None:
    with Sandbox(config=SandboxConfig(token_lifetime=2)) as short, make_client(short) as client:
        first = client.get_access_token()
        with pytest.raises(NotFoundError):
            client.get_video("nope")
        time.sleep(1.2)  # past half of the 2 s lifetime: refreshed proactively, no 401 needed
        with pytest.raises(NotFoundError):
            client.get_video("nope")
        assert client.get_access_token() is not first
        assert len(requests_of(short, "token")) == 2
        assert requests_of(short, "get_video", 401) == []


# -- single upload ------------------------------------------------------------------------------


def test_signature_post_and_create_from_key(
    sb: Sandbox, fw: FireworkClient, media: Path, s3_recorder: RecordingTransport
) -> None:
    sig = fw.create_upload_signature(
        filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id
    )
    assert sig.algorithm == "AWS4-HMAC-SHA256" and sig.acl == "private"
    fw.post_to_s3(sig, media, mime_type="video/mp4")
    stored = objects_by_key(sb)[sig.key]
    assert field(stored, "size") == media.stat().st_size
    assert field(stored, "md5") == md5_of(media)
    video = fw.create_video_from_s3_key(sig.key, meta(sb, hashtags=["a"]))
    assert isinstance(video, Video) and video.caption == "Sandbox clip"
    assert video.hashtags == ["a"]
    # the bearer token never went to S3
    assert s3_recorder.seen and all("authorization" not in h for _, _, h in s3_recorder.seen)


def test_upload_signature_errors(sb: Sandbox, fw: FireworkClient) -> None:
    with pytest.raises(NotFoundError):
        fw.create_upload_signature(filename="a.mp4", mime_type="video/mp4", channel_id="nochan")
    with pytest.raises(PermissionDeniedError):
        fw.create_upload_signature(
            filename="a.mp4", mime_type="video/mp4", channel_id=sb.other_business_channel_id
        )
    # The server's own mime check, behind the client's: send the raw request.
    with pytest.raises(InvalidRequestError) as info:
        fw._request(
            "POST",
            "/api/v1/upload_signatures",
            json={"filename": "a.avi", "mime_type": "video/avi", "channel_id": sb.channel_id},
        )
    assert info.value.status_code == 400 and not is_retryable(info.value)


def test_s3_rejects_tampered_signature_and_small_file(
    sb: Sandbox, fw: FireworkClient, media: Path, tiny: Path
) -> None:
    sig = fw.create_upload_signature(
        filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id
    )
    forged = sig.model_copy(update={"signature": SecretStr("0" * 64)})
    with pytest.raises(S3UploadError) as info:
        fw.post_to_s3(forged, media, mime_type="video/mp4")
    assert info.value.status_code == 403 and info.value.code
    assert sig.signature.get_secret_value() not in str(info.value)
    assert sig.policy.get_secret_value() not in str(info.value)
    small = fw.create_upload_signature(
        filename=tiny.name, mime_type="video/mp4", channel_id=sb.channel_id
    )
    with pytest.raises(S3UploadError) as info:
        fw.post_to_s3(small, tiny, mime_type="video/mp4")
    assert info.value.status_code == 400 and info.value.code == "EntityTooSmall"


def test_s3_post_fault_is_retryable(sb: Sandbox, fw: FireworkClient, media: Path) -> None:
    sig = fw.create_upload_signature(
        filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id
    )
    sb.faults.inject("s3_post", status=503)
    with pytest.raises(S3UploadError) as info:
        fw.post_to_s3(sig, media, mime_type="video/mp4")
    assert is_retryable(info.value)
    fw.post_to_s3(sig, media, mime_type="video/mp4")  # the same signature works on retry


# -- multipart ----------------------------------------------------------------------------------


def test_multipart_round_trip(sb: Sandbox, fw: FireworkClient, media: Path) -> None:
    key = multipart_upload(fw, sb, media, parts=3)
    stored = objects_by_key(sb)[key]
    assert field(stored, "size") == media.stat().st_size
    assert field(stored, "md5") == md5_of(media)
    assert fw.create_video_from_s3_key(key, meta(sb)).id


def test_multipart_errors(sb: Sandbox, fw: FireworkClient, media: Path, tiny: Path) -> None:
    # parts below the minimum: S3 refuses at complete -> "Multipart upload failed" (400)
    size = media.stat().st_size
    upload = fw.create_multipart_upload(
        filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id, parts_count=4
    )
    small = 16 * KiB
    done = []
    for p in upload.parts:
        offset = (p.part - 1) * small
        length = small if p.part < 4 else size - 3 * small
        done.append(
            CompletedPart(part=p.part, etag=fw.upload_part(p.put_url, media, offset, length))
        )
    with pytest.raises(InvalidRequestError, match="Multipart upload failed"):
        fw.complete_multipart_upload(key=upload.key, upload_id=upload.upload_id, parts=done)

    # assembled file below 25 KiB -> "File too small (min 25KB)" (400)
    one = fw.create_multipart_upload(
        filename=tiny.name, mime_type="video/mp4", channel_id=sb.channel_id, parts_count=1
    )
    etag = fw.upload_part(one.parts[0].put_url, tiny, 0, tiny.stat().st_size)
    with pytest.raises(InvalidRequestError, match="File too small"):
        fw.complete_multipart_upload(
            key=one.key, upload_id=one.upload_id, parts=[CompletedPart(part=1, etag=etag)]
        )

    # 500 on complete: a ServerError the task layer retries
    sb.faults.inject("multipart_complete", status=500)
    with pytest.raises(ServerError) as info:
        fw.complete_multipart_upload(
            key="k", upload_id="u", parts=[CompletedPart(part=1, etag="e")]
        )
    assert is_retryable(info.value)

    # server-side parts_count rule, behind the client's
    with pytest.raises(InvalidRequestError):
        fw._request(
            "POST",
            "/api/v1/upload_multipart/signatures",
            json={
                "filename": "a.mp4",
                "mime_type": "video/mp4",
                "channel_id": sb.channel_id,
                "parts_count": 101,
            },
        )


def test_file_too_large_is_413(media: Path) -> None:
    config = SandboxConfig(min_part_size=PART, max_file_size=128 * KiB)
    with (
        Sandbox(config=config) as small_sb,
        make_client(small_sb) as client,
        pytest.raises(PayloadTooLargeError, match="File too large") as info,
    ):
        multipart_upload(client, small_sb, media, parts=2)  # 200 KiB > 128 KiB
    assert info.value.status_code == 413 and not is_retryable(info.value)


class CorruptingTransport(httpx.BaseTransport):
    """Flips one bit of the first body chunk of each PUT: corruption in transit."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            original = request.stream

            def corrupted() -> Iterator[bytes]:
                first = True
                for chunk in original:  # type: ignore[union-attr]
                    if first and chunk:
                        chunk = bytes([chunk[0] ^ 1]) + chunk[1:]
                        first = False
                    yield chunk

            request.stream = _IterStream(corrupted())
        return self.inner.handle_request(request)


class _IterStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


def test_part_corrupted_on_the_way_is_caught_by_content_md5(sb: Sandbox, media: Path) -> None:
    # every PUT is corrupted: S3 checks the local file's Content-MD5 (BadDigest), twice
    with make_client(sb, s3_transport=CorruptingTransport()) as client:
        upload = client.create_multipart_upload(
            filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id, parts_count=1
        )
        with pytest.raises(S3UploadError) as info:
            client.upload_part(upload.parts[0].put_url, media, 0, media.stat().st_size)
    assert info.value.code == "BadDigest"
    assert upload.parts[0].put_url.get_secret_value() not in str(info.value)


@pytest.mark.parametrize("etags", ["md5", "opaque"])
def test_part_corruption_is_caught_where_the_bucket_refuses_content_md5(
    media: Path, etags: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket that refuses the unsigned Content-MD5: corrupted on every send, the same
    wrong ETag comes back twice (MD5 ETags), so the part fails; with SSE-KMS-like ETags a
    clean part is accepted after one resend, and the bucket is remembered as such."""
    from prefect_firework.client import s3 as s3_module

    monkeypatch.setattr(s3_module, "_REFUSES_CONTENT_MD5", set())
    monkeypatch.setattr(s3_module, "_OPAQUE_ETAGS", set())
    config = SandboxConfig(min_part_size=PART, s3_etags=etags, s3_unsigned_headers="refuse")
    with Sandbox(config=config) as strict:
        size = media.stat().st_size
        if etags == "md5":
            with make_client(strict, s3_transport=CorruptingTransport()) as client:
                upload = client.create_multipart_upload(
                    filename=media.name,
                    mime_type="video/mp4",
                    channel_id=strict.channel_id,
                    parts_count=1,
                )
                with pytest.raises(S3UploadError) as info:
                    client.upload_part(upload.parts[0].put_url, media, 0, size)
            assert info.value.code == "ETagMismatch"
        else:
            with make_client(strict) as client:
                upload = client.create_multipart_upload(
                    filename=media.name,
                    mime_type="video/mp4",
                    channel_id=strict.channel_id,
                    parts_count=1,
                )
                etag = client.upload_part(upload.parts[0].put_url, media, 0, size)
                client.complete_multipart_upload(
                    key=upload.key,
                    upload_id=upload.upload_id,
                    parts=[CompletedPart(part=1, etag=etag)],
                )
            assert [o["md5"] for o in strict.objects()] == [md5_of(media)]


def test_expired_part_url_is_403(media: Path) -> None:
    config = SandboxConfig(min_part_size=PART, signature_lifetime=1)
    with Sandbox(config=config) as short, make_client(short) as client:
        upload = client.create_multipart_upload(
            filename=media.name, mime_type="video/mp4", channel_id=short.channel_id, parts_count=1
        )
        time.sleep(2.1)
        with pytest.raises(S3UploadError) as info:
            client.upload_part(upload.parts[0].put_url, media, 0, media.stat().st_size)
    assert info.value.status_code == 403 and info.value.code == "AccessDenied"
    assert not is_retryable(info.value)


def test_part_transport_reset_is_retryable(sb: Sandbox, fw: FireworkClient, media: Path) -> None:
    upload = fw.create_multipart_upload(
        filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id, parts_count=1
    )
    sb.faults.reset_connection("s3_part")
    with pytest.raises(FireworkTransportError) as info:
        fw.upload_part(upload.parts[0].put_url, media, 0, media.stat().st_size)
    assert is_retryable(info.value)
    assert upload.parts[0].put_url.get_secret_value() not in str(info.value)
    etag = fw.upload_part(upload.parts[0].put_url, media, 0, media.stat().st_size)
    assert etag.strip('"') == md5_of(media)


# -- create, get, update ------------------------------------------------------------------------


def test_create_from_file_replays_after_401(sb: Sandbox, fw: FireworkClient, media: Path) -> None:
    fw.get_access_token()
    sb.expire_tokens()
    before_creates = len(requests_of(sb, "create_video"))
    video = fw.create_video_from_file(media, meta(sb, description="from a file"))
    assert video.description == "from a file"
    creates = requests_of(sb, "create_video")[before_creates:]
    assert [field(r, "status") for r in creates] == [401, 201]


def test_create_from_url_sync_and_async(sb: Sandbox, fw: FireworkClient, media: Path) -> None:
    base = sb.serve_files(media.parent)
    url = f"{base.rstrip('/')}/{media.name}"
    video = fw.create_video_from_url(url, meta(sb))
    assert isinstance(video, Video)
    job = fw.create_video_from_url(url, meta(sb), asynchronous=True)
    assert isinstance(job, VideoImport) and job.status == "running"
    deadline = time.monotonic() + 30
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.2)
        job = fw.get_video_import(job.id)
    assert job.status == "completed" and job.video_id
    assert fw.get_video(job.video_id).id == job.video_id

    missing = f"{base.rstrip('/')}/missing.mp4"
    failed = fw.create_video_from_url(missing, meta(sb), asynchronous=True)
    deadline = time.monotonic() + 30
    while not failed.done and time.monotonic() < deadline:
        time.sleep(0.2)
        failed = fw.get_video_import(failed.id)
    assert failed.status == "errored"
    with pytest.raises(InvalidRequestError):
        fw.create_video_from_url(missing, meta(sb))


def test_get_and_update_video(sb: Sandbox, fw: FireworkClient, media: Path) -> None:
    video = fw.create_video_from_file(
        media,
        meta(
            sb,
            custom_fields={"campaign": "spring"},
            display_social_attributions=True,
            external_media=ExternalMedia(source="tiktok", url="https://tiktok.com/@a/video/1"),
        ),
    )
    fetched = fw.get_video(video.id)
    assert fetched.custom_fields == {"campaign": "spring"}
    assert fetched.external_media is not None and fetched.external_media.source == "tiktok"
    updated = fw.update_video(video.id, VideoUpdate(caption="Renamed", custom_fields={}))
    assert updated.caption == "Renamed" and updated.custom_fields == {}
    kept = fw.update_video(video.id, VideoUpdate(access="private"))
    assert kept.caption == "Renamed" and kept.access == "private"  # omitted fields preserved
    with pytest.raises(InvalidRequestError) as info:
        fw.update_video(video.id, VideoUpdate(caption="x" * 5000))
    assert info.value.status_code in (400, 422)


def test_not_found(sb: Sandbox, fw: FireworkClient) -> None:
    with pytest.raises(NotFoundError) as info:
        fw.get_video("no-such-video")
    assert "/api/v1/videos/no-such-video" in str(info.value) and "GET" in str(info.value)
    with pytest.raises(NotFoundError):
        fw.get_video_import("no-such-import")
    with pytest.raises(NotFoundError):
        fw.update_video("no-such-video", VideoUpdate(caption="x"))


def test_injected_status_errors_map(sb: Sandbox, fw: FireworkClient) -> None:
    cases = [
        ("get_video", 500, ServerError, True),
        ("get_video", 503, ServerError, True),
        ("get_video", 403, PermissionDeniedError, False),
        ("update_video", 422, InvalidRequestError, False),
        ("create_video", 413, PayloadTooLargeError, False),
    ]
    for endpoint, status, cls, retry in cases:
        sb.faults.inject(endpoint, status=status)
        with pytest.raises(cls) as info:
            if endpoint == "get_video":
                fw.get_video("x")
            elif endpoint == "update_video":
                fw.update_video("x", VideoUpdate(caption="y"))
            else:
                fw.create_video_from_s3_key("k", meta(sb))
        assert info.value.status_code == status and is_retryable(info.value) is retry
        assert pickle.loads(pickle.dumps(info.value)).status_code == status


def test_rate_limit(sb: Sandbox, fw: FireworkClient, media: Path) -> None:
    sb.faults.inject("create_video", status=429, retry_after=7)
    with pytest.raises(RateLimitedError) as info:
        fw.create_video_from_s3_key("k", meta(sb))
    assert info.value.retry_after == 7 and is_retryable(info.value)

    config = SandboxConfig(rate_limit_count=2, min_part_size=PART)
    with Sandbox(config=config) as tight, make_client(tight) as client:
        for _ in range(2):
            client.create_video_from_file(
                media, VideoMetadata(channel_id=tight.channel_id, caption="c")
            )
        with pytest.raises(RateLimitedError) as info:
            client.create_video_from_file(
                media, VideoMetadata(channel_id=tight.channel_id, caption="c")
            )
    assert info.value.status_code == 429


def test_transport_errors(sb: Sandbox) -> None:
    with make_client(sb, timeout=0.5) as client:
        client.get_access_token()
        sb.faults.reset_connection("get_video")
        with pytest.raises(FireworkTransportError) as info:
            client.get_video("x")
        assert is_retryable(info.value)
        sb.faults.delay("get_video", 2.0, times=1)
        with pytest.raises(FireworkTransportError) as info:
            client.get_video("x")
        assert info.value.cause == "ReadTimeout" and is_retryable(info.value)


# -- leaks --------------------------------------------------------------------------------------


def test_no_secrets_in_logs_or_errors(
    sb: Sandbox, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "prefect_firework.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    secrets: list[str] = [sb.client_secret]
    errors: list[str] = []
    with make_client(sb) as client:
        sig = client.create_upload_signature(
            filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id
        )
        client.post_to_s3(sig, media, mime_type="video/mp4")
        secrets += [sig.policy.get_secret_value(), sig.signature.get_secret_value()]
        upload = client.create_multipart_upload(
            filename=media.name, mime_type="video/mp4", channel_id=sb.channel_id, parts_count=1
        )
        put_url = upload.parts[0].put_url.get_secret_value()
        secrets.append(httpx.URL(put_url).params["X-Amz-Signature"])
        client.upload_part(upload.parts[0].put_url, media, 0, media.stat().st_size)
        secrets.append(client.get_access_token().access_token.get_secret_value())
        sb.expire_tokens()
        for call in (
            lambda: client.get_video("missing"),
            lambda: client.post_to_s3(
                sig.model_copy(update={"signature": SecretStr("f" * 64)}),
                media,
                mime_type="video/mp4",
            ),
        ):
            try:
                call()
            except Exception as exc:
                errors += [str(exc), repr(exc)]
        secrets.append(client.get_access_token().access_token.get_secret_value())
    assert "HTTP Request" in caplog.text
    assert "X-Amz-Signature" not in caplog.text
    for secret in secrets:
        assert secret not in caplog.text
        assert all(secret not in e for e in errors)


def test_50mb_upload_rss_growth_in_child_process(sb: Sandbox, tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "big.mp4", 4, size=50 * MiB)
    script = textwrap.dedent(
        """
        import json, resource, sys
        from prefect_firework.client import FireworkClient
        base, token_url, cid, secret, channel, path = sys.argv[1:7]
        with FireworkClient(cid, secret, base_url=base, token_url=token_url) as fw:
            sig = fw.create_upload_signature(filename="big.mp4", mime_type="video/mp4",
                                             channel_id=channel)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            fw.post_to_s3(sig, path, mime_type="video/mp4")
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"key": sig.key, "growth_kb": after - before}))
        """
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            sb.base_url,
            sb.token_url,
            sb.client_id,
            sb.client_secret,
            sb.channel_id,
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["growth_kb"] / 1024 < 16, result
    stored = objects_by_key(sb)[result["key"]]
    assert field(stored, "size") == 50 * MiB
