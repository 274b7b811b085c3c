"""The ASGI receiver: what it accepts, what it refuses, and what reaches Prefect's events."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from fastapi import FastAPI
from prefect.events.clients import AssertingEventsClient
from webhook_support import HEADER, SECRET, AsgiClient, body, now_ms, signed

from prefect_firework.blocks import FireworkWebhookSecret
from prefect_firework.webhooks import WebhookReceiver, create_webhook_app

pytestmark = pytest.mark.prefect_server


@pytest.fixture
def client() -> AsgiClient:
    return AsgiClient(create_webhook_app(SECRET))


def test_valid_signature_is_accepted_and_emitted(client, events):
    raw = body("video_created", delivery_id="evt_1", video_id="V1", import_id="I1")
    response = client.post("/", content=raw, headers=signed(raw))
    assert response.status_code == 202, response.text
    [event] = events.named()
    assert event.event == "firework.video.created"
    assert event.resource.id == "firework.video.V1"
    assert [r.id for r in event.related if r.role == "import"] == ["firework.import.I1"]
    assert event.payload["import_id"] == "I1"
    assert str(event.id) == response.json()["event_id"]


@pytest.mark.parametrize(
    ("case", "status"),
    [("wrong secret", 401), ("altered body", 401), ("stale", 400), ("future", 400)],
)
def test_refused_deliveries_emit_nothing(client, events, case, status):
    raw = body("video_import_failed", import_id="I1", url="https://a.b/c.mp4")
    headers = signed(raw)
    if case == "wrong secret":
        headers = signed(raw, secret="not-the-secret")
    elif case == "altered body":
        raw = raw.replace(b"I1", b"I2")
    elif case == "stale":
        headers = signed(raw, t=now_ms() - 301_000)
    else:
        headers = signed(raw, t=now_ms() + 301_000)
    response = client.post("/", content=raw, headers=headers)
    assert response.status_code == status
    assert events.named() == []


def test_a_replayed_delivery_is_refused(client, events):
    raw = body("video_updated", video_id="V1")
    headers = signed(raw)
    assert client.post("/", content=raw, headers=headers).status_code == 202
    replay = client.post("/", content=raw, headers=headers)
    assert replay.status_code == 400
    assert "replay" in replay.json()["error"]
    # reordering or padding the header does not make it a new delivery
    t, v1 = headers[HEADER].split(",")
    reordered = {**headers, HEADER: f"{v1},v1=AAAA,{t}"}
    assert client.post("/", content=raw, headers=reordered).status_code == 400
    assert len(events.named()) == 1
    # the same body signed at another time is a new delivery (Firework's retries re-sign)
    assert client.post("/", content=raw, headers=signed(raw, t=now_ms() + 5)).status_code == 202


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (body(), {}),
        (body(), {HEADER: "t=1"}),
        (b"not json", None),
        (b'{"no": "event"}', None),
    ],
)
def test_malformed_input_is_400_and_emits_nothing(client, events, raw, headers):
    response = client.post("/", content=raw, headers=signed(raw) if headers is None else headers)
    assert response.status_code == 400
    assert events.named() == []


def _nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 500_000,  # json.loads gives up with RecursionError (was a 500)
        ('{"event_type": "video_created", "data": ' + _nested(5_000) + "}").encode(),
        ('{"event_type": "video_created", "data": ' + _nested(32) + "}").encode(),
    ],
    ids=["brackets-500k", "nested-5000", "nested-33"],
)
def test_deeply_nested_bodies_are_400(client, events, raw):
    response = client.post("/", content=raw, headers=signed(raw))
    assert response.status_code == 400, response.text
    assert "nested" in response.json()["error"]
    assert events.named() == []


def test_nesting_up_to_the_limit_is_accepted(client, events):
    raw = ('{"event_type": "video_created", "data": {"video_id": "V1", "x": '
           + _nested(30) + "}}").encode()
    assert client.post("/", content=raw, headers=signed(raw)).status_code == 202
    [event] = events.named()
    assert event.resource.id == "firework.video.V1"


def test_identifiers_with_a_trailing_newline_are_refused(client, events):
    raw = body("video_created", video_id="V1\n")
    assert client.post("/", content=raw, headers=signed(raw)).status_code == 400
    assert events.named() == []


def test_oversized_body_is_refused_before_verification(events):
    app = AsgiClient(create_webhook_app(SECRET, max_body_bytes=1000))
    raw = body("video_created", video_id="V1", padding="x" * 2000)
    assert app.post("/", content=raw, headers=signed(raw)).status_code == 413
    assert events.named() == []


def test_the_secret_and_signatures_never_reach_the_logs(client, events, caplog):
    caplog.set_level(logging.DEBUG)
    raw = body("video_created", video_id="V1")
    good = signed(raw)
    client.post("/", content=raw, headers=good)
    client.post("/", content=raw, headers=good)  # replay
    client.post("/", content=raw, headers=signed(raw, secret="wrong"))
    assert "Accepted video_created" in caplog.text and "Refused webhook" in caplog.text
    digest = good[HEADER].split("v1=")[1]
    assert SECRET not in caplog.text
    assert digest not in caplog.text and digest[:16] not in caplog.text
    assert SECRET not in repr(create_webhook_app(SECRET))


def test_answers_without_waiting_for_prefect(events, monkeypatch):
    """The answer is sent once the event is queued, not once Prefect has it."""
    sent = []

    async def slow_emit(self, event):  # a Prefect API that takes 1.5 s per event
        await asyncio.sleep(1.5)
        sent.append(event)

    monkeypatch.setattr(AssertingEventsClient, "_emit", slow_emit)
    raw = body("video_created", video_id="V1")
    started = time.perf_counter()
    response = AsgiClient(create_webhook_app(SECRET)).post("/", content=raw, headers=signed(raw))
    elapsed = time.perf_counter() - started
    assert response.status_code == 202
    assert elapsed < 1.0 and not sent  # answered before the event reached "Prefect"
    events.worker.wait_until_empty()
    assert [e.resource.id for e in sent] == ["firework.video.V1"]


def test_mounts_in_fastapi_and_routes_at_an_exact_path(events):
    receiver = WebhookReceiver(SECRET)
    api = FastAPI()
    api.mount("/webhooks/firework", receiver)
    api.add_route("/hooks/firework", receiver.endpoint, methods=["POST", "GET"])
    client = AsgiClient(api)
    raw = body("video_created", video_id="V1")
    assert client.post("/webhooks/firework/", content=raw, headers=signed(raw)).status_code == 202
    raw2 = body("video_created", video_id="V2")
    assert client.post("/hooks/firework", content=raw2, headers=signed(raw2)).status_code == 202
    assert client.get("/hooks/firework").json()["status"] == "ok"
    assert client.put("/webhooks/firework/").status_code == 405
    assert [e.resource.id for e in events.named()] == ["firework.video.V1", "firework.video.V2"]


def test_the_block_supplies_secrets_and_tolerance(events):
    block = FireworkWebhookSecret(secret="new-secret", previous_secret="old-secret", tolerance=900)
    client = AsgiClient(block.get_receiver())
    for secret in ("new-secret", "old-secret"):
        raw = body("video_updated", video_id=secret)
        assert client.post("/", content=raw, headers=signed(raw, secret=secret)).status_code == 202
    raw = body("video_updated", video_id="V3")
    old = signed(raw, secret="new-secret", t=now_ms() - 600_000)
    assert client.post("/", content=raw, headers=old).status_code == 202
    assert client.post("/", content=raw, headers=signed(raw, secret=SECRET)).status_code == 401
    assert len(events.named()) == 3


def test_an_event_prefect_does_not_take_is_503_and_may_come_again(events, monkeypatch):
    import prefect.events.utilities

    client = AsgiClient(create_webhook_app(SECRET))
    raw = body("video_created", video_id="V1")
    headers = signed(raw)
    monkeypatch.setattr(prefect.events.utilities, "should_emit_events", lambda: False)
    assert client.post("/", content=raw, headers=headers).status_code == 503
    monkeypatch.undo()
    monkeypatch.setattr(type(events.worker), "instance", lambda *_: events.worker)
    # the same signed delivery, sent again, is not a replay: it never became an event
    assert client.post("/", content=raw, headers=headers).status_code == 202
    assert [e.resource.id for e in events.named()] == ["firework.video.V1"]
