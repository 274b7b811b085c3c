"""Fault injection: error statuses (before or after the handler), dropped connections,
delays and expired tokens."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sandbox_support import (
    HTTP,
    IMPORT_KEYS,
    PART,
    SMALL,
    Api,
    bearer,
    error_of,
    post_fields,
    s3_code,
    s3_post,
    token_for,
    wait_for,
)

from prefect_firework.sandbox import Sandbox

Call = Callable[[Api, Any], httpx.Response]


def _token(api: Api, media: Any) -> httpx.Response:
    return HTTP.post(
        api.sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": api.sb.client_id,
            "client_secret": api.sb.client_secret,
        },
    )


def _s3_post(api: Api, media: Any) -> httpx.Response:
    sig = api.signature()
    return s3_post(sig["post_url"], post_fields(sig), media.clip.read_bytes())


def _s3_part(api: Api, media: Any) -> httpx.Response:
    init = api.initiate(1)
    return HTTP.put(init["parts"][0]["signature"]["put_url"], content=b"x" * PART)


CALLS: dict[str, Call] = {
    "token": _token,
    "upload_signature": lambda api, media: api.post(
        "/api/v1/upload_signatures",
        {"filename": "a.mp4", "mime_type": "video/mp4", "channel_id": api.sb.channel_id},
    ),
    "multipart_signatures": lambda api, media: api.post(
        "/api/v1/upload_multipart/signatures",
        {
            "filename": "a.mp4",
            "mime_type": "video/mp4",
            "channel_id": api.sb.channel_id,
            "parts_count": 1,
        },
    ),
    "multipart_complete": lambda api, media: api.post(
        "/api/v1/upload_multipart/complete", {"key": "k", "upload_id": "u", "parts": []}
    ),
    "create_video": lambda api, media: api.create(s3_key="missing"),
    "get_import": lambda api, media: api.get("/api/v1/videos/imports/nope"),
    "get_video": lambda api, media: api.get("/api/v1/videos/nope"),
    "update_video": lambda api, media: api.patch("/api/v1/videos/nope", {}),
    "s3_post": _s3_post,
    "s3_part": _s3_part,
}
NORMAL = {
    "token": 200,
    "upload_signature": 201,
    "multipart_signatures": 201,
    "multipart_complete": 400,
    "create_video": 400,
    "get_import": 404,
    "get_video": 404,
    "update_video": 404,
    "s3_post": 204,
    "s3_part": 200,
}


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_injected_status_for_n_requests(api: Api, media, endpoint: str) -> None:
    api.sb.faults.inject(endpoint, status=503, times=2, retry_after=7)
    call = CALLS[endpoint]
    for _ in range(2):
        resp = call(api, media)
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "7"
        if endpoint.startswith("s3_"):
            assert s3_code(resp) == "SlowDown"
        else:
            assert "Injected" in error_of(resp)
    assert call(api, media).status_code == NORMAL[endpoint]
    faulted = [r for r in api.sb.requests if r.endpoint == endpoint and r.fault == "status"]
    assert [r.status for r in faulted] == [503, 503]


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_inject_after_handles_the_request_then_answers_the_fault(
    api: Api, media, endpoint: str
) -> None:
    api.sb.faults.inject_after(endpoint, status=504, retry_after=3)
    resp = CALLS[endpoint](api, media)
    assert resp.status_code == 504 and resp.headers["retry-after"] == "3"
    if endpoint.startswith("s3_"):
        s3_code(resp)
    else:
        assert "Injected" in error_of(resp)
    (record,) = [r for r in api.sb.requests if r.fault == "after"]
    assert (record.endpoint, record.status) == (endpoint, 504)
    assert record.handled_status == NORMAL[endpoint]  # what the client never saw
    assert CALLS[endpoint](api, media).status_code == NORMAL[endpoint]  # times=1


def test_inject_after_on_create_leaves_the_video_behind(api: Api, media) -> None:
    """Issue 13: the ambiguous create - the client gets 504, the video exists."""
    key = api.upload(media.clip)
    api.sb.faults.inject_after("create_video", status=504)
    resp = api.create(s3_key=key, caption="made behind a 504")
    assert resp.status_code == 504
    assert error_of(resp) == "Injected fault: HTTP 504"
    (video,) = api.sb.videos()
    assert (video["caption"], video["s3_key"]) == ("made behind a 504", key)
    fetched = api.get(f"/api/v1/videos/{video['id']}")
    assert fetched.status_code == 200  # a real video, visible through the API


def test_inject_after_spends_the_rate_limit_slot(media) -> None:
    with Sandbox(SMALL.replace(rate_limit_count=1)) as sb:
        api = Api(sb)
        try:
            key = api.upload(media.clip)
            sb.faults.inject_after("create_video", status=502)
            assert api.create(s3_key=key).status_code == 502
            assert len(sb.videos()) == 1
            assert api.create(s3_key=key).status_code == 429  # the 502's create counted
        finally:
            api.close()


def test_inject_after_on_an_async_create_starts_the_import(api: Api, media) -> None:
    base = api.sb.serve_files(media.dir)
    api.sb.faults.inject_after("create_video", status=504)
    resp = api.create(url=f"{base}/clip.mp4", **{"async": True})
    assert resp.status_code == 504
    (job,) = api.sb.imports()
    done = wait_for(lambda: (j := api.sb.imports()[0])["status"] != "running" and j)
    assert done["status"] == "completed" and done["id"] == job["id"]
    assert [v["id"] for v in api.sb.videos()] == [done["video_id"]]


def test_inject_after_over_http(api: Api, media) -> None:
    key = api.upload(media.clip)
    faults_url = f"{api.sb.base_url}/_sandbox/faults"
    armed = HTTP.post(faults_url, json={"kind": "after", "endpoint": "create_video"})
    assert armed.status_code == 201, armed.text
    (rule,) = armed.json()
    assert (rule["kind"], rule["status"], rule["remaining"]) == ("after", 504, 1)
    HTTP.post(faults_url, json={"kind": "after", "endpoint": "create_video", "status": 502})
    assert api.create(s3_key=key).status_code == 504
    assert api.create(s3_key=key).status_code == 502
    assert api.create(s3_key=key).status_code == 201
    assert len(api.sb.videos()) == 3
    bad = HTTP.post(faults_url, json={"kind": "after", "endpoint": "create_video", "status": 200})
    assert bad.status_code == 400 and "status" in error_of(bad)


def test_inject_after_combines_with_a_slow_response(api: Api, media) -> None:
    """The gateway waits, then gives up; the video was made at once."""
    key = api.upload(media.clip)
    api.sb.faults.slow_response("create_video", 0.4)
    api.sb.faults.inject_after("create_video", status=504)
    started = time.perf_counter()
    resp = api.create(s3_key=key)
    assert resp.status_code == 504 and time.perf_counter() - started >= 0.4
    assert len(api.sb.videos()) == 1


def test_slow_response_holds_a_202_rendered_before_the_wait(api: Api, media) -> None:
    """Why ``answer_when_settled`` exists: ``slow_response`` delays the bytes of a body made
    when the handler finished, so a held 202 says ``running`` even once the job is done."""
    base = api.sb.serve_files(media.dir)
    api.sb.faults.slow_response("create_video", 0.2)
    resp = api.create(url=f"{base}/clip.mp4", **{"async": True})
    assert resp.status_code == 202 and resp.json()["status"] == "running"


@pytest.mark.parametrize(
    ("name", "status"), [("clip.mp4", "completed"), ("missing.mp4", "errored")]
)
def test_answer_when_settled_sends_the_202_of_a_finished_import(
    api: Api, media, name: str, status: str
) -> None:
    """Issue 14 item 1: a 202 whose import already finished (completed or errored)."""
    base = api.sb.serve_files(media.dir)
    api.sb.faults.answer_when_settled("create_video")
    resp = api.create(url=f"{base}/{name}", **{"async": True})
    assert resp.status_code == 202
    body = resp.json()
    assert set(body) - {"error"} == IMPORT_KEYS and body["status"] == status
    (job,) = api.sb.imports()
    assert body["id"] == job["id"] and body["video_id"] == job["video_id"]
    if status == "completed":
        assert body["video_id"] and body["completed_at"]
        assert [v["id"] for v in api.sb.videos()] == [body["video_id"]]
    else:
        assert body["video_id"] is None and body["completed_at"] is None
        assert "HTTP 404" in body["error"]
    (record,) = [r for r in api.sb.requests if r.endpoint == "create_video"]
    assert (record.fault, record.status) == ("settle", 202)
    again = api.create(url=f"{base}/clip.mp4", **{"async": True})  # times=1
    assert again.json()["status"] == "running"


def test_answer_when_settled_gives_up_at_its_timeout(media) -> None:
    with Sandbox(SMALL.replace(transcoding_delay=30)) as sb:
        api = Api(sb)
        try:
            base = sb.serve_files(media.dir)
            sb.faults.answer_when_settled("create_video", timeout=0.3)
            started = time.perf_counter()
            resp = api.create(url=f"{base}/clip.mp4", **{"async": True})
            assert 0.3 <= time.perf_counter() - started < 5
            assert resp.json()["status"] == "running"
        finally:
            api.close()


def test_answer_when_settled_over_http_and_its_limits(api: Api, media) -> None:
    base = api.sb.serve_files(media.dir)
    faults_url = f"{api.sb.base_url}/_sandbox/faults"
    spec = {"kind": "settle", "endpoint": "create_video", "timeout": 20, "times": 2}
    armed = HTTP.post(faults_url, json=spec)
    assert armed.status_code == 201, armed.text
    key = api.upload(media.clip)
    assert api.create(s3_key=key).status_code == 201  # a sync create: sent as it is
    resp = api.create(url=f"{base}/clip.mp4", **{"async": True})
    assert resp.json()["status"] == "completed"
    assert api.sb.faults.active() == []  # both uses spent
    for spec in ({"kind": "settle", "endpoint": "get_import"},
                 {"kind": "settle", "endpoint": "create_video", "timeout": 0}):
        assert HTTP.post(faults_url, json=spec).status_code == 400


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_reset_connection_is_a_transport_error(
    api: Api, media, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    api.sb.faults.reset_connection(endpoint)
    with caplog.at_level(logging.DEBUG), pytest.raises(httpx.TransportError):
        CALLS[endpoint](api, media)
    assert CALLS[endpoint](api, media).status_code == NORMAL[endpoint]
    (dropped,) = [r for r in api.sb.requests if r.fault == "reset"]
    assert (dropped.endpoint, dropped.status) == (endpoint, None)
    # the sandbox hides uvicorn's complaint about the response it cut short on purpose
    assert not [r for r in caplog.records if r.name.startswith("uvicorn")]


def test_reset_of_a_large_upload_drops_it_mid_body(api: Api) -> None:
    init = api.initiate(1)
    api.sb.faults.reset_connection("s3_part")
    with pytest.raises(httpx.TransportError):
        HTTP.put(init["parts"][0]["signature"]["put_url"], content=b"x" * (8 * 1024 * 1024))
    assert api.sb.multipart_uploads()[0]["parts"] == []


def test_custom_fault_bodies(api: Api) -> None:
    faults = api.sb.faults
    faults.inject("get_video", status=502, body="<html>Bad gateway</html>")
    html = api.get("/api/v1/videos/x")
    assert (html.status_code, html.text) == (502, "<html>Bad gateway</html>")
    faults.inject("get_video", status=500, body={"error": "boom", "code": 7})
    assert api.get("/api/v1/videos/x").json() == {"error": "boom", "code": 7}


def test_faults_are_consumed_in_order_and_forever_until_cleared(api: Api) -> None:
    faults = api.sb.faults
    faults.inject("get_video", status=500)
    faults.inject("get_video", status=429, times=None)
    statuses = [api.get("/api/v1/videos/x").status_code for _ in range(4)]
    assert statuses == [500, 429, 429, 429]
    faults.clear()
    assert api.get("/api/v1/videos/x").status_code == 404


def test_delay(api: Api) -> None:
    api.sb.faults.delay("get_video", 0.4, times=1)
    started = time.perf_counter()
    assert api.get("/api/v1/videos/x").status_code == 404
    assert time.perf_counter() - started >= 0.4
    started = time.perf_counter()
    api.get("/api/v1/videos/x")
    assert time.perf_counter() - started < 0.3
    delayed = [r for r in api.sb.requests if r.fault == "delay"]
    assert len(delayed) == 1 and delayed[0].duration >= 0.4


def test_delay_until_cleared_and_a_timeout_client_sees_it(api: Api) -> None:
    api.sb.faults.delay("token", 0.5)
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(api.sb.token_url, data={"grant_type": "client_credentials"}, timeout=0.2)
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(api.sb.token_url, data={"grant_type": "client_credentials"}, timeout=0.2)
    api.sb.faults.clear()
    assert HTTP.post(api.sb.token_url, data={}, timeout=0.2).status_code == 400


def test_faulted_creates_change_nothing(api: Api, media) -> None:
    key = api.upload(media.clip)
    api.sb.faults.inject("create_video", status=500, times=30)
    for _ in range(25):
        assert api.create(s3_key=key).status_code == 500
    api.sb.faults.clear()
    assert api.sb.videos() == []
    assert api.create(s3_key=key).status_code == 201  # nor did they use the rate limit


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.inject("nope", status=500), "unknown endpoint"),
        (lambda f: f.inject("get_video", status=200), "status"),
        (lambda f: f.inject("get_video", status=500, times=0), "times"),
        (lambda f: f.reset_connection("get_video", times=-1), "times"),
        (lambda f: f.delay("get_video", -1), "seconds"),
    ],
    ids=["endpoint", "status", "times-zero", "times-negative", "negative-delay"],
)
def test_bad_fault_specs_are_refused(
    sb: Sandbox, call: Callable[[Any], None], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(sb.faults)
    assert sb.faults.active() == []


def test_expire_tokens(api: Api) -> None:
    old = api.token
    assert api.sb.expire_tokens() >= 1
    resp = HTTP.get(f"{api.sb.base_url}/api/v1/videos/x", headers=bearer(old))
    assert resp.status_code == 401
    new = token_for(api.sb)
    assert HTTP.get(f"{api.sb.base_url}/api/v1/videos/x", headers=bearer(new)).status_code == 404
