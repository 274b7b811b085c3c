"""Units: the signature scheme, the replay cache, reading bodies, mapping them to events."""

from __future__ import annotations

import base64
import json

import pytest
from webhook_support import SECRET, body, now_ms, signature

from prefect_firework.webhooks import signature as sigmod
from prefect_firework.webhooks.delivery import MalformedDelivery, parse_delivery
from prefect_firework.webhooks.events import to_event
from prefect_firework.webhooks.replay import ReplayCache
from prefect_firework.webhooks.signature import (
    BadSignature,
    MalformedSignature,
    StaleSignature,
    parse_signature_header,
    sign,
    verify_signature,
)

pytestmark = pytest.mark.prefect_server

RAW = body("video_created", video_id="V1")


def test_own_signer_matches_an_independent_one():
    t = now_ms()
    assert sign(SECRET, RAW, timestamp_ms=t) == signature(SECRET, RAW, t)
    assert verify_signature(signature(SECRET, RAW, t), RAW, [SECRET]).timestamp == str(t)


def test_wrong_secret_and_altered_body_are_bad_signatures():
    header = signature(SECRET, RAW, now_ms())
    with pytest.raises(BadSignature):
        verify_signature(header, RAW, ["another-secret"])
    with pytest.raises(BadSignature):
        verify_signature(header, RAW.replace(b"V1", b"V2"), [SECRET])
    # the timestamp is signed too: moving it breaks the signature
    t = header.split(",")[0].split("=")[1]
    with pytest.raises(BadSignature):
        verify_signature(header.replace(t, str(int(t) + 1)), RAW, [SECRET])


def test_stale_and_future_timestamps_are_refused_after_the_signature_check():
    clock = lambda: 1_700_000_000.0  # noqa: E731
    t_ok = 1_700_000_000_000 - 299_000
    verify_signature(signature(SECRET, RAW, t_ok), RAW, [SECRET], clock=clock)
    for t in (1_700_000_000_000 - 301_000, 1_700_000_000_000 + 301_000):
        with pytest.raises(StaleSignature):
            verify_signature(signature(SECRET, RAW, t), RAW, [SECRET], clock=clock)
    # a stale *and* forged header is a bad signature: staleness is told only to genuine senders
    with pytest.raises(BadSignature):
        verify_signature(signature("x", RAW, t_ok - 10**6), RAW, [SECRET], clock=clock)
    # configurable tolerance
    t_old = 1_700_000_000_000 - 500_000
    verify_signature(signature(SECRET, RAW, t_old), RAW, [SECRET], clock=clock, tolerance=600)


def test_timestamps_in_seconds_are_read_as_seconds():
    t = int(now_ms() / 1000)
    assert abs(parse_signature_header(signature(SECRET, RAW, t)).timestamp_seconds - t) < 1
    verify_signature(signature(SECRET, RAW, t), RAW, [SECRET])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",
        "t=123",
        "t=abc,v1=AAAA",
        "t=1,t=2,v1=AAAA",
        "t=123,v1=***",
        "garbage",
        "t=1," + "v1=AAAA," * 1000,
    ],
)
def test_malformed_headers(header):
    with pytest.raises(MalformedSignature):
        verify_signature(header, RAW, [SECRET])


def test_rotation_any_secret_and_any_v1_may_match():
    t = now_ms()
    good = signature(SECRET, RAW, t).split(",")[1]
    header = f"t={t},v1={base64.b64encode(b'x' * 32).decode()},{good},v2=ignored"
    verify_signature(header, RAW, ["old-secret", SECRET])
    verify_signature(signature("old-secret", RAW, t), RAW, [SECRET, "old-secret"])


def test_digests_are_compared_in_constant_time(monkeypatch):
    calls = []
    real = sigmod.hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(sigmod.hmac, "compare_digest", spy)
    header = signature(SECRET, RAW, now_ms())
    verify_signature(header, RAW, [SECRET, "second"])
    # every secret is compared, even after the first matched (no early exit)
    assert len(calls) == 2
    with pytest.raises(BadSignature):
        verify_signature(header, RAW, ["nope"])
    assert len(calls) == 3


def test_replay_cache_forgets_at_expiry_and_stays_bounded():
    now = [1000.0]
    cache = ReplayCache(max_entries=3, clock=lambda: now[0])
    assert cache.add("a", 1010.0)
    assert not cache.add("a", 1010.0)
    now[0] = 1011.0
    assert "a" not in cache and cache.add("a", 1020.0)
    for key in "bcd":
        assert cache.add(key, 1020.0)
    assert len(cache) == 3 and "a" not in cache  # the oldest went first


def test_envelope_body_is_read():
    d = parse_delivery(
        body(
            "video_created", delivery_id="evt_1", video_id="V1", import_id="I1", url="https://a.b/c"
        )
    )
    assert (d.event_type, d.delivery_id, d.video_id, d.import_id) == (
        "video_created",
        "evt_1",
        "V1",
        "I1",
    )
    assert d.url == "https://a.b/c"


def test_other_shapes_are_read():
    nested = json.dumps({"event": "video_updated", "data": {"video": {"id": "V9"}}}).encode()
    assert parse_delivery(nested).video_id == "V9"
    flat = json.dumps({"type": "video_import_failed", "import_id": "I2", "error": "boom"})
    d = parse_delivery(flat.encode())
    assert (d.import_id, d.video_id, d.error) == ("I2", None, "boom")
    subject = json.dumps({"event_type": "video_import_failed", "data": {"id": "I3"}}).encode()
    assert parse_delivery(subject).import_id == "I3"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"data": {}}',
        json.dumps({"event_type": "video_created", "data": {"video_id": "../x y"}}).encode(),
        json.dumps({"event_type": "bad name!", "data": {}}).encode(),
    ],
)
def test_malformed_bodies(raw):
    with pytest.raises(MalformedDelivery):
        parse_delivery(raw)


def test_created_from_an_import_is_about_the_video_with_the_import_related():
    d = parse_delivery(body("video_created", video_id="V1", import_id="I1", channel_id="C1"))
    event = to_event(d)
    assert event["event"] == "firework.video.created"
    assert event["resource"]["prefect.resource.id"] == "firework.video.V1"
    related = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
    assert related == {"import": "firework.import.I1", "channel": "firework.channel.C1"}
    assert event["payload"]["import_id"] == "I1"


def test_import_failed_is_about_the_import():
    d = parse_delivery(body("video_import_failed", import_id="I1", url="https://a.b/c.mp4"))
    event = to_event(d)
    assert event["event"] == "firework.video.import_failed"
    assert event["resource"]["prefect.resource.id"] == "firework.import.I1"
    assert event["payload"]["url"] == "https://a.b/c.mp4"


def test_retries_of_one_delivery_are_one_event_id_and_unknown_types_still_map():
    a = to_event(parse_delivery(body("video_updated", delivery_id="evt_7", video_id="V")))
    b = to_event(parse_delivery(body("video_updated", delivery_id="evt_7", video_id="V")))
    assert a["id"] == b["id"]
    other = to_event(parse_delivery(body("livestream_started", delivery_id="evt_8")))
    assert other["event"] == "firework.webhook.livestream_started"
