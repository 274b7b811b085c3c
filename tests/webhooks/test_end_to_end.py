"""Sandbox -> receiver -> Prefect, over real HTTP and a real Prefect server; and the batch flow's
opt-in event-driven wait, with its fallback to polling."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from flow_results import results_of
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventResourceFilter
from webhook_support import SECRET

from prefect_firework.batch._ledger import Ledger
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows import import_videos
from prefect_firework.models import VideoMetadata
from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.media import make_mp4
from prefect_firework.webhooks import WebhookReceiver, WebhookServer

pytestmark = pytest.mark.prefect_server


class Switch:
    """The receiver, or a 503 while switched off (a receiver that is down)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.on = True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.on or scope["type"] != "http":
            return await self.app(scope, receive, send)
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def switch() -> Iterator[tuple[Switch, str]]:
    app = Switch(WebhookReceiver(SECRET))
    with WebhookServer(app) as server:
        yield app, server.url


@pytest.fixture(scope="module")
def hooked(switch) -> Iterator[Sandbox]:
    config = SandboxConfig(
        transcoding_delay=0.2,
        webhook_url=switch[1],
        webhook_secret=SECRET,
        webhook_retry_delays=(0.05, 0.1),
    )
    with Sandbox(config) as sb:
        yield sb


@pytest.fixture
def sb(hooked: Sandbox, switch) -> Iterator[Sandbox]:
    hooked.reset()
    switch[0].on = True
    yield hooked
    switch[0].on = True


@pytest.fixture
def credentials(sb: Sandbox) -> FireworkCredentials:
    return FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )


def _stored_events(resource_id: str, timeout: float = 30.0) -> list[Any]:
    async def read() -> list[Any]:
        async with get_client() as client:
            page = await client.read_events(
                EventFilter(resource=EventResourceFilter(id=[resource_id])), limit=50
            )
            return page.events

    from prefect.utilities.asyncutils import run_coro_as_sync

    deadline = time.monotonic() + timeout
    while True:
        found = run_coro_as_sync(read())
        if found or time.monotonic() > deadline:
            return found or []
        time.sleep(0.25)


def _manifest(sb: Sandbox, tmp_path, *, bad: bool) -> pd.DataFrame:
    for i in range(2):
        make_mp4(tmp_path / f"u{i}.mp4", 4, size=60_000 + i, seed=40 + i)
    base = sb.serve_files(tmp_path).rstrip("/")
    rows = [
        {"url": f"{base}/u{i}.mp4", "channel_id": sb.channel_id, "caption": f"c{i}"}
        for i in range(2)
    ]
    if bad:
        rows.append({"url": f"{base}/missing.mp4", "channel_id": sb.channel_id, "caption": "x"})
    return pd.DataFrame(rows)


def _get_import_calls(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests if r.endpoint == "get_import")


def test_sandbox_to_receiver_to_prefect_event(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "e2e.mp4", 4, size=60_000, seed=5)
    meta = VideoMetadata(channel_id=sb.channel_id, caption="end to end")
    video = credentials.get_client().create_video_from_file(path, meta)
    [event] = _stored_events(f"firework.video.{video.id}")
    assert event.event == "firework.video.created"
    assert event.payload["video_id"] == video.id
    assert event.payload["channel_id"] == sb.channel_id
    assert any(r.id == f"firework.channel.{sb.channel_id}" for r in event.related)
    [delivery] = sb.webhook_deliveries()
    assert delivery["state"] == "delivered" and delivery["attempts"][0]["status"] == 202


def test_import_videos_waits_on_events_not_polls(sb, credentials, tmp_path):
    frame = results_of(
        import_videos,
        _manifest(sb, tmp_path, bad=True),
        credentials=credentials,
        ledger=Ledger(tmp_path / "ledger"),
        poll_interval=0.2,
        import_wait="events",
        event_timeout=60,
    )
    assert list(frame["status"]) == ["imported", "imported", "failed"]
    assert frame.loc[0:1, "video_id"].notna().all()
    assert "errored" in frame.loc[2, "error"]
    assert _get_import_calls(sb) == 0  # every import finished through its webhook event
    videos = {v["import_id"]: v["id"] for v in sb.videos()}
    assert set(frame.loc[0:1, "video_id"]) == set(videos.values())


def test_without_events_the_wait_falls_back_to_polling(sb, credentials, tmp_path, switch):
    switch[0].on = False  # the receiver is down: the sandbox's deliveries all fail
    started = time.monotonic()
    frame = results_of(
        import_videos,
        _manifest(sb, tmp_path, bad=False),
        credentials=credentials,
        ledger=Ledger(tmp_path / "ledger"),
        poll_interval=0.2,
        import_wait="events",
        event_timeout=1.5,
    )
    assert list(frame["status"]) == ["imported", "imported"]
    assert time.monotonic() - started >= 1.5
    assert _get_import_calls(sb) >= 2
    assert {d["state"] for d in sb.webhook_deliveries()} == {"failed"}


def test_polling_stays_the_default(sb, credentials, tmp_path):
    frame = results_of(
        import_videos,
        _manifest(sb, tmp_path, bad=False),
        credentials=credentials,
        ledger=Ledger(tmp_path / "ledger"),
        poll_interval=0.2,
    )
    assert list(frame["status"]) == ["imported", "imported"]
    assert _get_import_calls(sb) >= 2
    with pytest.raises(ValueError, match="import_wait"):
        import_videos(pd.DataFrame(), credentials=credentials, import_wait="webhooks")
