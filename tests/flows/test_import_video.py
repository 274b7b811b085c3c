"""import_video against the sandbox: sync, async + wait, async errored, URL rules."""

from __future__ import annotations

import pytest
from flows_support import field, requests_to

from prefect_firework.flows import import_video
from prefect_firework.models import Video, VideoImport
from prefect_firework.sandbox.media import make_mp4
from prefect_firework.tasks import ImportFailedError

pytestmark = pytest.mark.prefect_server


@pytest.fixture
def served(sb, tmp_path):
    directory = tmp_path / "served"
    make_mp4(directory / "clip.mp4", 4, size=200_000)
    return sb.serve_files(directory).rstrip("/")


def test_sync_import_returns_the_video(sb, credentials, served):
    video = import_video(
        f"{served}/clip.mp4", sb.channel_id, "Sync", mode="sync", credentials=credentials
    )
    assert isinstance(video, Video)
    assert video.id in {field(v, "id") for v in sb.videos()}


def test_async_import_without_wait_returns_the_job(sb, credentials, served):
    job = import_video(
        f"{served}/clip.mp4", sb.channel_id, "Async", wait=False, credentials=credentials
    )
    assert isinstance(job, VideoImport)
    assert job.status == "running"


def test_async_import_waits_until_completed(sb, credentials, served):
    video = import_video(
        f"{served}/clip.mp4",
        sb.channel_id,
        "Async",
        poll_interval=0.2,
        timeout=30,
        credentials=credentials,
    )
    assert isinstance(video, Video)
    assert video.caption == "Async"
    assert len(requests_to(sb, "get_import")) >= 1


def test_async_import_errored_raises_with_import_id(sb, credentials, served):
    with pytest.raises(ImportFailedError) as info:
        import_video(
            f"{served}/missing.mp4",
            sb.channel_id,
            "Broken",
            poll_interval=0.2,
            timeout=30,
            credentials=credentials,
        )
    assert info.value.video_import.id in str(info.value)
    assert info.value.video_import.status == "errored"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.mp4",
        "http://localhost/a.mp4",
        "https://example.com",
        "example.com/a.mp4",
    ],
)
def test_url_rules_checked_before_any_request(sb, credentials, url):
    with pytest.raises(ValueError):
        import_video(url, sb.channel_id, "Bad URL", credentials=credentials)
    assert list(sb.requests) == []
