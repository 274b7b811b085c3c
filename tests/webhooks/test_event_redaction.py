"""Issue 14 item 8: no presigned URL's credentials in a Prefect event, payload or resources.

The unit test reads the events the receiver emits in memory; the end-to-end one runs the
sandbox (signed webhooks of presigned imports) into a served receiver, lets Prefect's test
server store the events, reads them back through the API and greps the server's database
(the ``events`` and ``event_resources`` tables) for the signature.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from prefect.utilities.asyncutils import run_coro_as_sync
from webhook_support import SECRET, AsgiClient, body, signed

from prefect_firework.client import FireworkClient
from prefect_firework.models import VideoMetadata
from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.media import make_mp4
from prefect_firework.webhooks import (
    IMPORT_FAILED_EVENT,
    VIDEO_CREATED_EVENT,
    WebhookReceiver,
    WebhookServer,
    create_webhook_app,
)

pytestmark = pytest.mark.prefect_server

SIGNATURE = "5ec2e7c0ffeeb7e1f00dfacade0123456789abcdef0123456789abcdef01234599"
CREDENTIAL = "AKIAWEBHOOKTEST7%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
CDN_TOKEN = "cdn-token-27182818"
QUERY = (
    f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={CREDENTIAL}&X-Amz-Date=20261201T000000Z"
    f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}&token={CDN_TOKEN}"
)
SECRETS = (SIGNATURE, "AKIAWEBHOOKTEST7", CDN_TOKEN, "s3cr3t-pass")


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_urls_in_events_lose_their_credentials(events):
    presigned = f"https://bucket.s3.amazonaws.com/videos/a.mp4?{QUERY}"
    raw = body(
        "video_import_failed",
        import_id="I1",
        video_id="V1",
        url=presigned,
        error=f"Could not download {presigned}: HTTP 403",
        source_url=f"https://user:s3cr3t-pass@cdn.example.com/a.mp4?{QUERY}",
        signature=SIGNATURE,  # a secret-looking key, whatever its value looks like
        video={"id": "V1", "external_media": {"url": f"https://t.co/x?token={CDN_TOKEN}"}},
        attempts=[{"url": presigned}],
    )
    client = AsgiClient(create_webhook_app(SECRET))
    assert client.post("/", content=raw, headers=signed(raw)).status_code == 202
    raw2 = body("video_created", video_id="V2", import_id="I2", url=presigned)
    assert client.post("/", content=raw2, headers=signed(raw2)).status_code == 202
    failed, created = events.named()
    for event in (failed, created):
        dumped = event.model_dump_json()
        assert _leaks(dumped) == [], dumped
    # what stays: scheme, host and path, so the file is still recognisable
    assert failed.payload["url"].startswith("https://bucket.s3.amazonaws.com/videos/a.mp4?")
    assert failed.resource["firework.import.url"] == failed.payload["url"]
    assert failed.payload["error"].startswith(
        "Could not download https://bucket.s3.amazonaws.com/videos/a.mp4?"
    )
    assert failed.payload["data"]["source_url"].startswith("https://cdn.example.com/a.mp4?")
    assert failed.payload["data"]["signature"] == "[REDACTED]"
    [imported] = [r for r in created.related if r.role == "import"]
    assert imported["firework.import.url"].startswith("https://bucket.s3.amazonaws.com/")
    # a URL without a query string is kept as it is (the automation's URL re-run needs it)
    raw3 = body("video_import_failed", import_id="I3", url="https://cdn.example.com/b.mp4")
    assert client.post("/", content=raw3, headers=signed(raw3)).status_code == 202
    assert events.named()[-1].payload["url"] == "https://cdn.example.com/b.mp4"


# -- end to end: sandbox -> receiver -> Prefect's database ----------------------------------


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    with WebhookServer(WebhookReceiver(SECRET)) as server:  # the real emit_event
        yield server.url


@pytest.fixture(scope="module")
def hooked(receiver_url: str) -> Iterator[Sandbox]:
    config = SandboxConfig(
        transcoding_delay=0.2,
        webhook_url=receiver_url,
        webhook_secret=SECRET,
        webhook_retry_delays=(0.05, 0.1),
    )
    with Sandbox(config) as sb:
        yield sb


def _stored(import_ids: set[str], timeout: float = 60.0) -> dict[str, Any]:
    """The stored firework events of ``import_ids`` (by ``payload.import_id``), once all are
    there: other tests of the session store firework events too, so count nothing else."""
    names = [VIDEO_CREATED_EVENT, IMPORT_FAILED_EVENT]

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            page = await client.read_events(
                EventFilter(event=EventNameFilter(name=names)), limit=50
            )  # newest first
        return {
            e.payload.get("import_id"): e for e in page.events
            if e.payload.get("import_id") in import_ids
        }

    deadline = time.monotonic() + timeout
    while True:
        found = run_coro_as_sync(read())
        if set(found) == import_ids or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def _database_rows() -> str:
    """Every row of the server's ``events`` and ``event_resources`` tables, as text."""
    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    assert url and url.startswith("sqlite"), url
    path = Path(url.split(":///", 1)[1])
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        rows = [
            *db.execute("SELECT * FROM events").fetchall(),
            *db.execute("SELECT * FROM event_resources").fetchall(),
        ]
    return "\n".join(json.dumps(row, default=str) for row in rows)


def test_presigned_imports_leave_no_signature_in_prefects_database(hooked, tmp_path):
    sb = hooked
    make_mp4(tmp_path / "clip.mp4", 4, size=50_000, seed=8)
    base = sb.serve_files(tmp_path).rstrip("/")
    meta = VideoMetadata(channel_id=sb.channel_id, caption="presigned")
    with FireworkClient(sb.client_id, sb.client_secret, base_url=sb.base_url) as fw:
        ok = fw.create_video_from_url(f"{base}/clip.mp4?{QUERY}", meta, asynchronous=True)
        bad = fw.create_video_from_url(f"{base}/gone.mp4?{QUERY}", meta, asynchronous=True)
    assert sb.wait_for_webhooks(30)
    by_import = _stored({ok.id, bad.id})
    assert set(by_import) == {ok.id, bad.id}
    stored = list(by_import.values())
    failed = by_import[bad.id]
    assert failed.event == IMPORT_FAILED_EVENT
    assert failed.resource["firework.import.url"].startswith(f"{base}/gone.mp4?")
    created = by_import[ok.id]
    assert created.payload["url"].startswith(f"{base}/clip.mp4?")
    for event in stored:
        assert _leaks(event.model_dump_json()) == []
    # and in the tables themselves (the receiver is the only writer of firework.* events here)
    rows = _database_rows()
    assert f"firework.import.{bad.id}" in rows and f"{base}/gone.mp4" in rows
    assert _leaks(rows) == []
