"""Spec 6: 20 video creates per 5 minutes per channel, all four modes counted, then 429."""

from __future__ import annotations

import math

import httpx
import pytest
from sandbox_support import SMALL, Api, error_of, wait_for

LIMIT = SMALL.rate_limit_count
WINDOW = SMALL.rate_limit_window


def _creates(api: Api, media, key: str, base: str) -> list[tuple[str, object]]:
    """One create call per mode (a zero-argument callable each)."""
    meta = {"channel_id": api.sb.channel_id, "caption": "A clip"}
    clip = media.clip.read_bytes()
    return [
        ("s3_key", lambda: api.create(s3_key=key)),
        ("file", lambda: api.create_file(meta, clip)),
        ("url", lambda: api.create(url=f"{base}/clip.mp4")),
        ("async", lambda: api.create(url=f"{base}/clip.mp4", **{"async": True})),
    ]


def test_every_mode_counts_and_every_mode_is_limited(api: Api, media) -> None:
    key = api.upload(media.clip)
    base = api.sb.serve_files(media.dir)
    modes = _creates(api, media, key, base)
    for i in range(LIMIT):
        name, call = modes[i % len(modes)]
        resp: httpx.Response = call()  # type: ignore[operator]
        assert resp.status_code in (201, 202), (i, name, resp.text)
    for name, call in modes:
        resp = call()  # type: ignore[operator]
        assert resp.status_code == 429, name
        assert "Rate limit" in error_of(resp)
        retry_after = resp.headers["retry-after"]
        assert retry_after.isdigit() and 0 < int(retry_after) <= math.ceil(WINDOW)
    # a refused create is not counted, and other channels have their own budget
    other = api.create(s3_key=key, channel_id=api.sb.channel_ids[1])
    assert other.status_code == 201
    wait_for(lambda: all(j["status"] != "running" for j in api.sb.imports()))


def test_window_slides_and_retry_after_tells_when(api: Api, media) -> None:
    key = api.upload(media.clip)
    half = LIMIT // 2
    for _ in range(half):
        assert api.create(s3_key=key).status_code == 201
    api.sb.advance_clock(200)
    for _ in range(LIMIT - half):
        assert api.create(s3_key=key).status_code == 201
    full = api.create(s3_key=key)
    assert full.status_code == 429
    assert int(full.headers["retry-after"]) == pytest.approx(WINDOW - 200, abs=2)
    api.sb.advance_clock(WINDOW - 200 + 1)  # the first half leaves the window, not the second
    for _ in range(half):
        assert api.create(s3_key=key).status_code == 201
    again = api.create(s3_key=key)
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) == pytest.approx(200 - 1, abs=2)


def _refused_on_its_face(api: Api, media, key: str, base: str) -> list[tuple[str, httpx.Response]]:
    """One create per kind of refusal the request alone decides (issue 13: the unparsable URL
    used to answer 500 *after* taking a slot)."""
    clip = f"{base}/clip.mp4"
    meta = {"channel_id": api.sb.channel_id, "caption": "A clip"}
    clip_bytes = media.clip.read_bytes()
    return [
        ("access", api.create(s3_key=key, access="friends")),
        ("caption", api.create(s3_key=key, caption=" ")),
        ("hashtags-type", api.create(s3_key=key, hashtags="rain")),
        ("social", api.create(s3_key=key, display_social_attributions=True)),
        ("store", api.create(s3_key=key, business_store_id="NoStore")),
        ("both-sources", api.create(s3_key=key, url=clip)),
        ("no-source", api.create()),
        ("url-unparsable", api.create(url="http://[abc/x.mp4")),
        ("url-port", api.create(url="http://cdn.example.com:99999/x.mp4", **{"async": True})),
        ("url-no-path", api.create(url=base)),
        ("poster-unparsable", api.create(s3_key=key, poster_url="http://[abc/p.jpg")),
        ("poster-gif", api.create(url=clip, poster_url=f"{base}/p.gif")),
        ("s3-key-type", api.create(s3_key=5)),
        ("file-octet", api.create_file(meta, clip_bytes, "a.mp4", "application/octet-stream")),
        ("file-avi", api.create_file(meta, clip_bytes, "clip.avi", "video/mp4")),
    ]


def test_requests_refused_on_their_face_spend_no_slot(api: Api, media) -> None:
    key = api.upload(media.clip)
    base = api.sb.serve_files(media.dir)
    for _ in range(2):  # more refusals than the budget
        for name, resp in _refused_on_its_face(api, media, key, base):
            assert resp.status_code in (400, 404, 422), (name, resp.text)
            error_of(resp)
    for i in range(LIMIT):
        assert api.create(s3_key=key).status_code == 201, i
    assert api.create(s3_key=key).status_code == 429


def test_creates_refused_after_the_work_started_still_count(api: Api, media) -> None:
    """Once the slot is taken the create counts, whatever the video turns out to be."""
    key = api.upload(media.clip)
    short = api.upload(media.short)
    base = api.sb.serve_files(media.dir)
    refusals = [
        lambda: api.create(s3_key="uploads/never-uploaded.mp4"),  # 400: no such object
        lambda: api.create(s3_key=short),  # 422: duration
        lambda: api.create(url=f"{base}/missing.mp4"),  # 400: the download fails
        lambda: api.create(s3_key=key, poster_url=f"{base}/missing.png"),  # 422: poster
    ]
    for i in range(LIMIT):
        assert refusals[i % len(refusals)]().status_code in (400, 422)
    assert api.create(s3_key=key).status_code == 429


def test_reset_clears_the_windows(api: Api, media) -> None:
    key = api.upload(media.clip)
    for _ in range(LIMIT):
        api.create(s3_key="uploads/never-uploaded.mp4")
    assert api.create(s3_key=key).status_code == 429
    api.sb.reset()
    key = api.upload(media.clip)
    assert api.create(s3_key=key).status_code == 201
