"""Inspection for tests: in-process (``sb.videos()`` ...) and over HTTP under ``/_sandbox``."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
from typing import Any

import httpx
import pytest
from sandbox_support import HTTP, PART, Api, post_fields, s3_post, split, wait_for

from prefect_firework.sandbox import Sandbox


def _private(sb: Sandbox, path: str) -> Any:
    resp = HTTP.get(f"{sb.base_url}/_sandbox/{path}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def _busy(api: Api, media) -> dict[str, Any]:
    """Touch every endpoint once; return what was made."""
    key = api.upload(media.clip)
    init = api.initiate(2)
    parts = api.put_parts(init, split(media.big.read_bytes(), [PART, -1]))
    assert api.complete(init, parts).status_code == 204
    video = api.create_ok(s3_key=key, product_ids=["ext-1001"])
    assert api.patch(f"/api/v1/videos/{video['id']}", {"caption": "x"}).status_code == 200
    assert api.get(f"/api/v1/videos/{video['id']}").status_code == 200
    base = api.sb.serve_files(media.dir)
    job = api.create(url=f"{base}/clip.mp4", **{"async": True}).json()
    job = wait_for(
        lambda: (
            (j := api.get(f"/api/v1/videos/imports/{job['id']}").json())["status"] == "completed"
            and j
        )
    )
    return {"key": key, "init": init, "video": video, "job": job}


def test_request_log_has_no_secrets(api: Api, media) -> None:
    made = _busy(api, media)
    records = api.sb.requests
    endpoints = {r.endpoint for r in records}
    assert endpoints >= {
        "token",
        "upload_signature",
        "s3_post",
        "multipart_signatures",
        "s3_part",
        "multipart_complete",
        "create_video",
        "update_video",
        "get_video",
        "get_import",
    }
    for record in records:
        assert "?" not in record.path
        assert record.method in ("GET", "POST", "PUT", "PATCH")
        assert isinstance(record.status, int) and record.time > 0
    dumped = json.dumps([r.as_dict() for r in records])
    sig = api.signature()  # a fresh one, to know what a signature and policy look like
    for secret in (
        api.sb.client_secret,
        api.token,
        made["init"]["upload_id"],
        sig["signature"],
        sig["policy"],
        "X-Amz-Signature",
    ):
        assert secret not in dumped
    assert _private(api.sb, "requests") == [r.as_dict() for r in api.sb.requests]


def test_http_inspection_matches_in_process(api: Api, media) -> None:
    made = _busy(api, media)
    sb = api.sb
    assert _private(sb, "videos") == json.loads(json.dumps(sb.videos()))
    assert {v["id"] for v in sb.videos()} == {made["video"]["id"], made["job"]["video_id"]}
    assert _private(sb, f"videos/{made['video']['id']}") == json.loads(
        json.dumps(sb.video(made["video"]["id"]))
    )
    listings = _private(sb, f"videos/{made['video']['id']}/product_listings")
    assert listings == sb.product_listings(made["video"]["id"])
    assert [item["order"] for item in listings] == [1]
    objects = _private(sb, "objects")
    assert objects == sb.objects()
    assert {o["key"] for o in objects} >= {made["key"], made["init"]["key"]}
    assert all({"key", "size", "md5"} <= set(o) for o in objects)
    assert _private(sb, "imports") == sb.imports()
    assert [j["status"] for j in sb.imports()] == ["completed"]
    uploads = _private(sb, "multipart_uploads")
    assert uploads == sb.multipart_uploads()
    assert [(u["status"], len(u["parts"])) for u in uploads] == [("completed", 2)]
    info = _private(sb, "info")
    assert info["client_id"] == sb.client_id and info["channel_ids"] == sb.channel_ids
    assert HTTP.get(f"{sb.base_url}/_sandbox/videos/nope").status_code == 404


def test_sandbox_requests_are_not_logged(sb: Sandbox) -> None:
    _private(sb, "videos")
    assert sb.requests == []


def test_faults_over_http(api: Api) -> None:
    url = f"{api.sb.base_url}/_sandbox/faults"
    resp = HTTP.post(
        url,
        json={
            "kind": "status",
            "endpoint": "get_video",
            "status": 503,
            "times": 1,
            "retry_after": 3,
        },
    )
    assert resp.status_code == 201 and resp.json()[0]["status"] == 503
    got = api.get("/api/v1/videos/x")
    assert got.status_code == 503 and got.headers["retry-after"] == "3"
    HTTP.post(
        url,
        json=[
            {"kind": "reset", "endpoint": "get_video"},
            {"kind": "delay", "endpoint": "token", "seconds": 0.1},
        ],
    )
    assert [f["kind"] for f in HTTP.get(url).json()] == ["reset", "delay"]
    assert HTTP.delete(url).status_code == 204 and HTTP.get(url).json() == []
    for bad in (
        {"kind": "status", "endpoint": "nope"},
        {"kind": "melt", "endpoint": "token"},
        {"endpoint": "token", "kind": "delay"},
    ):
        assert HTTP.post(url, json=bad).status_code == 400
    assert HTTP.post(url, content=b"{").status_code == 400


def test_expire_tokens_reset_and_clock_over_http(api: Api, media) -> None:
    sb = api.sb
    api.create_ok(s3_key=api.upload(media.clip))
    assert HTTP.post(f"{sb.base_url}/_sandbox/expire_tokens").json()["expired"] >= 1
    assert api.get("/api/v1/videos/x").status_code == 401
    seeds = (sb.client_id, sb.channel_ids, [p.id for p in sb.products])
    assert HTTP.post(f"{sb.base_url}/_sandbox/reset").status_code == 204
    assert sb.videos() == [] and sb.objects() == [] and sb.requests == []
    assert (sb.client_id, sb.channel_ids, [p.id for p in sb.products]) == seeds
    fresh = Api(sb)
    try:
        now = HTTP.post(f"{sb.base_url}/_sandbox/clock", json={"advance": 4000}).json()["now"]
        assert now > 4000
        assert fresh.get("/api/v1/videos/x").status_code == 401  # its token aged an hour+
        assert HTTP.post(f"{sb.base_url}/_sandbox/clock", json={"advance": -1}).status_code == 400
    finally:
        fresh.close()


def test_reset_forgets_everything_but_the_world(api: Api, media) -> None:
    _busy(api, media)
    api.sb.faults.inject("get_video", status=500, times=None)
    api.sb.reset()
    sb = api.sb
    assert (sb.videos(), sb.objects(), sb.imports(), sb.multipart_uploads(), sb.requests) == (
        [],
        [],
        [],
        [],
        [],
    )
    assert sb.faults.active() == []
    assert api.get("/api/v1/videos/x").status_code == 404  # the old token still works


def test_reset_stops_file_servers(api: Api, media) -> None:
    base = api.sb.serve_files(media.dir)
    assert HTTP.get(f"{base}/clip.mp4", headers={"Connection": "close"}).status_code == 200
    api.sb.reset()
    with pytest.raises(httpx.ConnectError):
        HTTP.get(f"{base}/clip.mp4")


def test_serve_files_applies_behaviour_to_every_file(api: Api, media) -> None:
    base = api.sb.serve_files(media.dir, content_type="text/plain")
    resp = HTTP.get(f"{base}/clip.mp4")
    assert resp.headers["content-type"] == "text/plain"
    assert api.create(url=f"{base}/clip.mp4").status_code == 400


def test_s3_post_objects_record_md5(api: Api, media) -> None:
    sig = api.signature()
    data = media.clip.read_bytes()
    assert s3_post(sig["post_url"], post_fields(sig), data).status_code == 204
    (obj,) = api.sb.objects()
    assert (obj["key"], obj["size"], obj["md5"]) == (
        sig["key"],
        len(data),
        hashlib.md5(data).hexdigest(),
    )


def test_client_vanishing_mid_body_is_logged_499_quietly(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = api.sb.base_url.split("//")[1].split(":")
    head = (
        "POST /api/v1/upload_signatures HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {api.token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG), socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + b'{"filename": ')
        time.sleep(0.1)
    (record,) = wait_for(lambda: [r for r in api.sb.requests if r.endpoint == "upload_signature"])
    assert record.status == 499
    assert not [r for r in caplog.records if r.name.startswith("uvicorn")]


def test_reset_empties_a_bucket_of_more_objects_than_one_listing_page(api: Api) -> None:
    """A 20,000-video batch leaves 20,000 objects: reset deletes them a page (1,000) at a
    time, one request per page, instead of one per object (minutes for a large sandbox)."""
    s3 = api.sb._core.s3  # filled directly: 1,001 uploads through the API would take long
    s3.ensure_bucket()
    for n in range(1001):
        s3.client.put_object(Bucket=s3.bucket, Key=f"videos/{n:05d}.mp4", Body=b"x")
    assert len(api.sb.objects()) == 1001
    deletes: list[str] = []

    def record(model: Any, **_: Any) -> None:
        deletes.append(model.name)

    s3.client.meta.events.register("before-call.s3.*", record)
    try:
        api.sb.reset()
    finally:
        s3.client.meta.events.unregister("before-call.s3.*", record)
    assert api.sb.objects() == []
    assert deletes.count("DeleteObjects") == 2 and "DeleteObject" not in deletes
