"""The sandbox's signed webhooks: the lifecycle moments, retries, never blocking, clean stop."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webhook_support import SECRET, RecordingEndpoint, signature

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.client import FireworkClient
from prefect_firework.models import VideoMetadata, VideoUpdate
from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.media import make_mp4
from prefect_firework.webhooks import WebhookServer, verify_signature

pytestmark = pytest.mark.prefect_server

RETRIES = (0.05, 0.1, 0.1)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[RecordingEndpoint, str]]:
    app = RecordingEndpoint()
    with WebhookServer(app) as server:
        yield app, server.url


@pytest.fixture(scope="module")
def hooked(endpoint) -> Iterator[Sandbox]:
    config = SandboxConfig(
        transcoding_delay=0.2,
        webhook_url=endpoint[1],
        webhook_secret=SECRET,
        webhook_retry_delays=RETRIES,
        webhook_timeout=5.0,
    )
    with Sandbox(config) as sb:
        yield sb


@pytest.fixture
def sb(hooked: Sandbox, endpoint) -> Sandbox:
    hooked.reset()
    endpoint[0].requests.clear()
    endpoint[0].statuses.clear()
    endpoint[0].delay = 0.0
    return hooked


@pytest.fixture
def client(sb: Sandbox) -> FireworkClient:
    return FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    ).get_client()


def _served(sb: Sandbox, tmp_path) -> str:
    make_mp4(tmp_path / "ok.mp4", 4, size=60_000, seed=7)
    return sb.serve_files(tmp_path).rstrip("/")


def _wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_every_lifecycle_moment_is_signed_and_sent(sb, client, endpoint, tmp_path):
    app = endpoint[0]
    meta = VideoMetadata(channel_id=sb.channel_id, caption="hello")
    video = client.create_video_from_file(make_mp4(tmp_path / "f.mp4", 4, size=60_000), meta)
    client.update_video(video.id, VideoUpdate(caption="renamed"))
    base = _served(sb, tmp_path)
    ok = client.create_video_from_url(f"{base}/ok.mp4", meta, asynchronous=True)
    bad = client.create_video_from_url(f"{base}/missing.mp4", meta, asynchronous=True)
    _wait_for(lambda: all(job["status"] != "running" for job in sb.imports()))
    assert sb.wait_for_webhooks(15)
    bodies = {(b["event_type"], b["data"].get("import_id")): b for b in app.bodies()}
    assert len(bodies) == len(app.bodies()) == 4

    created = bodies[("video_created", None)]["data"]
    assert created["video_id"] == video.id and created["channel_id"] == sb.channel_id
    assert bodies[("video_updated", None)]["data"]["video"]["caption"] == "renamed"
    imported = bodies[("video_created", ok.id)]["data"]
    assert imported["url"] == f"{base}/ok.mp4" and imported["video_id"]
    failed = bodies[("video_import_failed", bad.id)]["data"]
    assert failed["url"] == f"{base}/missing.mp4" and failed["status"] == "errored"
    assert failed["error"]

    # video_created means transcoded: an import's is sent once the import is completed
    assert client.get_video_import(ok.id).status == "completed"
    for request in app.requests:
        header = request["headers"]["fw-webhooks-signature"]
        t = header.split(",")[0].removeprefix("t=")
        assert header == signature(SECRET, request["body"], t)  # independent recomputation
        verify_signature(header, request["body"], [SECRET])  # and the receiver's check
        assert request["headers"]["content-type"] == "application/json"


def test_a_failing_receiver_is_retried_on_the_schedule(sb, client, endpoint, tmp_path):
    app = endpoint[0]
    video = _create(sb, client, tmp_path)
    assert sb.wait_for_webhooks(15)  # its video_created went through at once
    app.statuses.extend([500, 503, 204])
    client.update_video(video.id, VideoUpdate(caption="again"))
    assert sb.wait_for_webhooks(15)
    [delivery] = [d for d in sb.webhook_deliveries() if d["event_type"] == "video_updated"]
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 204]
    times = [a["at"] for a in delivery["attempts"]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= delay * 0.9 for gap, delay in zip(gaps, RETRIES, strict=False))
    # each attempt is signed afresh, with the same body
    updates = [r for r in app.requests if b"video_updated" in r["body"]]
    assert len({r["headers"]["fw-webhooks-signature"] for r in updates}) == 3
    assert len({r["body"] for r in updates}) == 1


def test_gives_up_after_the_last_attempt(sb, client, endpoint, tmp_path):
    video = _create(sb, client, tmp_path)
    assert sb.wait_for_webhooks(15)
    endpoint[0].statuses.extend([500] * 20)
    client.update_video(video.id, VideoUpdate(caption="x"))
    assert sb.wait_for_webhooks(15)
    [delivery] = [d for d in sb.webhook_deliveries() if d["event_type"] == "video_updated"]
    assert delivery["state"] == "failed"
    assert len(delivery["attempts"]) == 1 + len(RETRIES)


def test_a_slow_receiver_never_blocks_the_api(sb, client, endpoint, tmp_path):
    video = _create(sb, client, tmp_path)
    assert sb.wait_for_webhooks(15)
    endpoint[0].delay = 1.5
    endpoint[0].arrived.clear()
    started = time.perf_counter()
    client.update_video(video.id, VideoUpdate(caption="fast anyway"))
    assert time.perf_counter() - started < 0.75
    assert endpoint[0].arrived.wait(5)  # the delivery is under way meanwhile
    assert sb.wait_for_webhooks(15)


def test_stop_is_clean_with_deliveries_pending(endpoint, tmp_path):
    app = endpoint[0]
    config = SandboxConfig(
        transcoding_delay=0.0,
        webhook_url=endpoint[1],
        webhook_secret=SECRET,
        webhook_retry_delays=(60.0,),
    )
    before = set(threading.enumerate())
    sb = Sandbox(config).start()
    try:
        client = FireworkCredentials(
            client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
        ).get_client()
        app.statuses.extend([500] * 5)
        _create(sb, client, tmp_path)
        _wait_for(lambda: any(d["attempts"] for d in sb.webhook_deliveries()))
    finally:
        started = time.perf_counter()
        sb.stop()
    assert time.perf_counter() - started < 5.0
    assert not [t for t in set(threading.enumerate()) - before if t.name == "sandbox-webhooks"]


def test_no_url_no_webhooks():
    assert SandboxConfig().webhook_url is None
    with pytest.raises(ValueError, match="webhook_url"):
        SandboxConfig(webhook_url="ftp://example.com/hooks")


def _create(sb: Sandbox, client: FireworkClient, tmp_path: Path) -> Any:
    path = tmp_path / "c.mp4"
    if not path.exists():
        make_mp4(path, 4, size=60_000, seed=3)
    return client.create_video_from_file(path, VideoMetadata(channel_id=sb.channel_id, caption="c"))
