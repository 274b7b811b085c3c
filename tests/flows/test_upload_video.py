"""upload_video end to end against the sandbox: strategies, sources, refusals, resume."""

from __future__ import annotations

import os
import time

import boto3
import pytest
from flows_support import field, md5_of, requests_to

from prefect_firework.batch._steps import choose_strategy
from prefect_firework.errors import MultipartUploadFailed
from prefect_firework.flows import upload_video
from prefect_firework.sandbox.media import make_mp4, set_mp4_duration
from prefect_firework.sources import PreflightError

pytestmark = pytest.mark.prefect_server

MIB = 1024 * 1024


def stored_object(sb, key):
    matches = [o for o in sb.objects() if field(o, "key") == key]
    assert len(matches) == 1, f"expected one object at {key}, found {len(matches)}"
    return matches[0]


def assert_video_stored(sb, video, path):
    assert video.id in {field(v, "id") for v in sb.videos()}
    objects = [o for o in sb.objects() if field(o, "md5") == md5_of(path)]
    assert objects, "the uploaded object's MD5 must equal the source's"


def test_small_file_goes_in_one_presigned_post(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "small.mp4", 4, size=300_000)
    video = upload_video(
        str(path), sb.channel_id, "Small", metadata={"hashtags": ["a"]}, credentials=credentials
    )
    assert video.caption == "Small" and video.hashtags == ["a"]
    assert_video_stored(sb, video, path)
    assert len(requests_to(sb, "s3_post")) == 1
    assert requests_to(sb, "s3_part") == []
    assert len(requests_to(sb, "create_video")) == 1


@pytest.mark.parametrize(
    ("size", "part_size", "parts"), [(12 * MIB, 5 * MIB, 3), (60 * MIB, 5 * MIB, 12)]
)
def test_multipart_upload_parts_and_md5(sb, credentials, tmp_path, size, part_size, parts):
    path = make_mp4(tmp_path / f"big-{parts}.mp4", 5, size=size, seed=parts)
    video = upload_video(
        str(path),
        sb.channel_id,
        f"{parts} parts",
        credentials=credentials,
        strategy="multipart",
        part_size=part_size,
        max_concurrency=4,
    )
    assert_video_stored(sb, video, path)
    assert len(requests_to(sb, "s3_part")) == parts
    assert len(requests_to(sb, "multipart_signatures")) == 1
    assert len(requests_to(sb, "multipart_complete")) == 1


def test_auto_strategy_threshold():
    assert choose_strategy(100 * MIB, "auto") == "single"
    assert choose_strategy(100 * MIB + 1, "auto") == "multipart"
    assert choose_strategy(1 * MIB, "multipart") == "multipart"
    with pytest.raises(ValueError, match="strategy"):
        choose_strategy(1, "fast")  # type: ignore[arg-type]


def test_s3_source_streams_from_moto(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "s3src.mp4", 4, size=11 * MIB, seed=7)
    s3 = boto3.client(
        "s3",
        endpoint_url=sb.moto_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="source-bucket")
    s3.upload_file(str(path), "source-bucket", "videos/s3src.mp4")
    video = upload_video(
        "s3://source-bucket/videos/s3src.mp4",
        sb.channel_id,
        "From S3",
        credentials=credentials,
        strategy="multipart",
        part_size=5 * MIB,
        transport_params={
            "client_kwargs": {
                "S3.Client": {
                    "endpoint_url": sb.moto_url,
                    "aws_access_key_id": "test",
                    "aws_secret_access_key": "test",
                    "region_name": "us-east-1",
                }
            }
        },
    )
    assert_video_stored(sb, video, path)
    assert len(requests_to(sb, "s3_part")) == 3


def test_http_source(sb, credentials, tmp_path):
    served = tmp_path / "served"
    path = make_mp4(served / "web.mp4", 4, size=400_000, seed=8)
    base = sb.serve_files(served)
    video = upload_video(
        f"{base.rstrip('/')}/web.mp4", sb.channel_id, "From HTTP", credentials=credentials
    )
    assert_video_stored(sb, video, path)


@pytest.mark.parametrize(
    ("name", "make", "rule"),
    [
        ("clip.avi", lambda p: make_mp4(p, 4, size=300_000), "mime_type"),
        ("tiny.mp4", lambda p: p.write_bytes(b"\0" * 24 * 1024), "min_file_size"),
        (
            "short.mp4",
            lambda p: (make_mp4(p, 4, size=300_000), set_mp4_duration(p, 2)),
            "min_duration",
        ),
        (
            "long.mp4",
            lambda p: (make_mp4(p, 4, size=300_000), set_mp4_duration(p, 3660)),
            "max_duration",
        ),
        ("missing.mp4", lambda p: None, "unreadable"),
    ],
)
def test_preflight_refusals_make_no_api_call(sb, credentials, tmp_path, name, make, rule):
    path = tmp_path / name
    make(path)
    with pytest.raises(PreflightError) as info:
        upload_video(str(path), sb.channel_id, "Refused", credentials=credentials)
    assert info.value.rule == rule
    assert name in str(info.value)
    assert list(sb.requests) == [], "a refused source must not cost a single request"


def test_invalid_metadata_refused_before_any_request(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "ok.mp4", 4, size=300_000)
    with pytest.raises(Exception, match="custom_fields"):
        upload_video(
            str(path),
            sb.channel_id,
            "Bad",
            metadata={"custom_fields": {"Bad Key": "x"}},
            credentials=credentials,
        )
    assert list(sb.requests) == []


def _fail_one_part(sb):
    sb.faults.inject("s3_part", status=400, times=1)


def test_resume_uploads_only_missing_parts(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "resume.mp4", 5, size=30 * MIB, seed=11)
    kwargs = dict(
        credentials=credentials, strategy="multipart", part_size=5 * MIB, max_concurrency=2
    )
    _fail_one_part(sb)
    with pytest.raises(MultipartUploadFailed) as info:
        upload_video(str(path), sb.channel_id, "Resume", **kwargs)
    assert info.value.upload_id
    first_puts = len(requests_to(sb, "s3_part"))
    assert first_puts == 6
    video = upload_video(str(path), sb.channel_id, "Resume", **kwargs)
    assert len(requests_to(sb, "s3_part")) - first_puts == 1, "only the failed part is re-sent"
    assert len(requests_to(sb, "multipart_signatures")) == 1, "the upload is resumed, not restarted"
    assert_video_stored(sb, video, path)
    assert len(sb.videos()) == 1


def test_changed_source_is_not_resumed(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "changes.mp4", 5, size=15 * MIB, seed=12)
    kwargs = dict(
        credentials=credentials, strategy="multipart", part_size=5 * MIB, max_concurrency=1
    )
    _fail_one_part(sb)
    with pytest.raises(MultipartUploadFailed):
        upload_video(str(path), sb.channel_id, "Changes", **kwargs)
    make_mp4(path, 6, size=15 * MIB, seed=13)  # same name and size, new content
    os.utime(path, (time.time() + 5, time.time() + 5))
    before = len(requests_to(sb, "s3_part"))
    video = upload_video(str(path), sb.channel_id, "Changes", **kwargs)
    assert len(requests_to(sb, "multipart_signatures")) == 2
    assert len(requests_to(sb, "s3_part")) - before == 3, "every part of the new content is sent"
    assert_video_stored(sb, video, path)


def test_expired_part_url_restarts_the_upload_once(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "expired.mp4", 5, size=15 * MIB, seed=14)
    sb.faults.inject("s3_part", status=403, times=1)
    video = upload_video(
        str(path),
        sb.channel_id,
        "Expired",
        credentials=credentials,
        strategy="multipart",
        part_size=5 * MIB,
        max_concurrency=1,
    )
    assert len(requests_to(sb, "multipart_signatures")) == 2, "one fresh multipart upload"
    assert_video_stored(sb, video, path)


def test_rerun_after_the_signature_window_starts_fresh(credentials, tmp_path):
    from prefect_firework.blocks import FireworkCredentials
    from prefect_firework.sandbox import Sandbox, SandboxConfig

    with Sandbox(config=SandboxConfig(signature_lifetime=2)) as short:
        creds = FireworkCredentials(
            client_id=short.client_id, client_secret=short.client_secret, base_url=short.base_url
        )
        path = make_mp4(tmp_path / "window.mp4", 5, size=15 * MIB, seed=15)
        kwargs = dict(credentials=creds, strategy="multipart", part_size=5 * MIB, max_concurrency=1)
        short.faults.inject("s3_part", status=400, times=1)
        with pytest.raises(MultipartUploadFailed):
            upload_video(str(path), short.channel_id, "Window", **kwargs)
        time.sleep(2.5)  # the cached initiate's URLs are now expired
        video = upload_video(str(path), short.channel_id, "Window", **kwargs)
        assert len(requests_to(short, "multipart_signatures")) == 2
        assert video.id in {field(v, "id") for v in short.videos()}
