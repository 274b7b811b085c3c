"""Spec 6: ``POST /api/v1/videos`` in all four modes, and the metadata rules of 6.4-6.7."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import boto3
import httpx
import pytest
from sandbox_support import (
    HTTP,
    IMPORT_KEYS,
    MAX_FILE,
    MIN_FILE,
    SMALL,
    VIDEO_KEYS,
    Api,
    error_of,
    md5_of,
    token_for,
    wait_for,
)

from prefect_firework.sandbox import Sandbox
from prefect_firework.sandbox.api._validation import parse_url


@pytest.fixture
def key(api: Api, media) -> str:
    """An uploaded 4 s clip, ready for ``s3_key`` creates."""
    return api.upload(media.clip)


FULL_METADATA: dict[str, Any] = {
    "caption": "Trail jacket in the rain",
    "description": "Waterproof, breathable.",
    "access": "private",
    "archived_at": "2025-01-29T12:00:00Z",
    "audio_disabled": True,
    "hashtags": ["outdoor", "rain"],
    "product_ids": ["ext-1002", "ext-1001"],
    "custom_fields": {"campaign_id": "spring_25", "sku_group": "outerwear"},
    "display_social_attributions": True,
    "external_media": {
        "source": "tiktok",
        "url": "https://www.tiktok.com/@someone/video/1",
        "username": "someone",
    },
    "video_hidden": True,
}


def _expected_body(sb: Any, video: dict[str, Any]) -> dict[str, Any]:
    by_external = {
        p.external_id: p.id for p in sb.products if p.store_id == sb.business_store_ids[0]
    }
    return {
        "id": video["id"],
        "access": "private",
        "audio_disabled": True,
        "caption": FULL_METADATA["caption"],
        "description": FULL_METADATA["description"],
        "hashtags": ["outdoor", "rain"],
        "archived_at": "2025-01-29T12:00:00Z",
        "product_ids": [by_external["ext-1002"], by_external["ext-1001"]],
        "custom_fields": FULL_METADATA["custom_fields"],
        "display_social_attributions": True,
        "external_media": {**FULL_METADATA["external_media"], "navigation_enabled": True},
    }


def test_create_from_s3_key(api: Api, key: str, media) -> None:
    resp = api.create(s3_key=key, **FULL_METADATA)
    assert resp.status_code == 201, resp.text
    video = resp.json()
    assert video == _expected_body(api.sb, video)
    stored = api.sb.video(video["id"])
    assert (stored["source"], stored["s3_key"]) == ("s3_key", key)
    assert stored["duration"] == pytest.approx(4.0)
    assert stored["size"] == media.clip.stat().st_size
    assert [item["hidden"] for item in api.sb.product_listings(video["id"])] == [True, True]


def test_create_from_file_upload(api: Api, media) -> None:
    metadata = {"channel_id": api.sb.channel_id, **FULL_METADATA}
    resp = api.create_file(metadata, media.clip.read_bytes())
    assert resp.status_code == 201, resp.text
    video = resp.json()
    assert video == _expected_body(api.sb, video)
    stored = api.sb.video(video["id"])
    assert stored["source"] == "file"
    objects = {o["key"]: o for o in api.sb.objects()}
    assert objects[stored["s3_key"]]["md5"] == md5_of(media.clip)


def test_create_from_url_sync(api: Api, media) -> None:
    base = api.sb.serve_files(media.dir)
    resp = api.create(url=f"{base}/clip.mp4", **FULL_METADATA)
    assert resp.status_code == 201, resp.text
    video = resp.json()
    assert video == _expected_body(api.sb, video)
    stored = api.sb.video(video["id"])
    assert stored["source"] == "url"
    assert {o["key"]: o["md5"] for o in api.sb.objects()}[stored["s3_key"]] == md5_of(media.clip)


def test_create_from_url_async(api: Api, media) -> None:
    base = api.sb.serve_files(media.dir)
    resp = api.create(url=f"{base}/clip.mp4", **{"async": True}, **FULL_METADATA)
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert set(job) == IMPORT_KEYS
    assert (job["status"], job["video_id"], job["completed_at"]) == ("running", None, None)
    assert job["created_at"].endswith("Z")

    seen: list[tuple[str, str | None]] = []

    def poll() -> dict[str, Any] | None:
        state = api.get(f"/api/v1/videos/imports/{job['id']}").json()
        seen.append((state["status"], state["video_id"]))
        return state if state["status"] != "running" else None

    final = wait_for(poll, timeout=15, interval=0.01)
    assert set(final) == IMPORT_KEYS and final["status"] == "completed"
    assert final["completed_at"] >= final["created_at"]
    # the video appears while the import is still running (spec 6.3, async flow step 3)
    assert any(status == "running" and vid for status, vid in seen)
    video = api.get(f"/api/v1/videos/{final['video_id']}").json()
    assert video["caption"] == FULL_METADATA["caption"]
    assert video["thumbnail_url"]
    assert api.sb.video(final["video_id"])["import_id"] == job["id"]


def test_unknown_import_is_404(api: Api) -> None:
    resp = api.get("/api/v1/videos/imports/nope")
    assert resp.status_code == 404
    error_of(resp)


def test_defaults_of_a_minimal_create(api: Api, key: str) -> None:
    video = api.create_ok(s3_key=key)
    assert set(video) == VIDEO_KEYS
    assert video == {
        "id": video["id"],
        "access": "public",
        "audio_disabled": False,
        "caption": "A clip",
        "description": None,
        "hashtags": [],
        "archived_at": None,
        "product_ids": [],
        "custom_fields": {},
        "display_social_attributions": False,
        "external_media": None,
    }


# -- metadata rules (spec 6.4-6.7, 10) -------------------------------------------------------

METADATA_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("caption-missing", {"caption": None}, 422),
    ("caption-empty", {"caption": ""}, 422),
    ("caption-blank", {"caption": "   "}, 422),
    ("caption-not-string", {"caption": 12}, 400),
    ("description-not-string", {"description": 12}, 400),
    ("access-unlisted", {"access": "unlisted"}, 422),
    ("access-not-string", {"access": True}, 400),
    ("archived-at-words", {"archived_at": "yesterday"}, 422),
    ("archived-at-number", {"archived_at": 1700000000}, 400),
    ("audio-disabled-string", {"audio_disabled": "yes"}, 400),
    ("hashtags-string", {"hashtags": "rain"}, 400),
    ("hashtags-numbers", {"hashtags": [1, 2]}, 400),
    ("product-ids-string", {"product_ids": "ext-1001"}, 400),
    ("custom-fields-list", {"custom_fields": ["a"]}, 400),
    ("custom-key-upper", {"custom_fields": {"Campaign": "x"}}, 422),
    ("custom-key-dash", {"custom_fields": {"a-b": "x"}}, 422),
    ("custom-key-empty", {"custom_fields": {"": "x"}}, 422),
    ("custom-key-256", {"custom_fields": {"k" * 256: "x"}}, 422),
    ("custom-key-newline", {"custom_fields": {"abc\n": "x"}}, 422),
    ("custom-key-inner-newline", {"custom_fields": {"ab\ncd": "x"}}, 422),
    ("custom-key-255-newline", {"custom_fields": {"k" * 255 + "\n": "x"}}, 422),
    ("custom-value-1025", {"custom_fields": {"k": "v" * 1025}}, 422),
    ("custom-value-number", {"custom_fields": {"k": 5}}, 422),
    ("social-without-media", {"display_social_attributions": True}, 422),
    (
        "social-media-no-url",
        {"display_social_attributions": True, "external_media": {"source": "tiktok"}},
        422,
    ),
    (
        "social-media-no-source",
        {"display_social_attributions": True, "external_media": {"url": "https://t.co/x"}},
        422,
    ),
    ("external-media-string", {"external_media": "tiktok"}, 400),
    ("external-media-bad-url", {"external_media": {"source": "x", "url": "not a url"}}, 422),
    ("display-social-string", {"display_social_attributions": "true"}, 400),
    ("video-hidden-string", {"video_hidden": "no"}, 400),
    ("poster-ftp", {"poster_url": "ftp://example.com/p.jpg"}, 422),
    ("poster-gif", {"poster_url": "https://example.com/p.gif"}, 422),
    ("poster-not-string", {"poster_url": 5}, 400),
    ("async-string", {"async": "yes"}, 400),
    ("channel-missing", {"channel_id": None}, 400),
    ("store-unknown", {"business_store_id": "NoStore"}, 404),
]


@pytest.mark.parametrize(
    ("changes", "status"), [c[1:] for c in METADATA_CASES], ids=[c[0] for c in METADATA_CASES]
)
def test_metadata_rules(api: Api, key: str, changes: dict[str, Any], status: int) -> None:
    body = {"channel_id": api.sb.channel_id, "caption": "A clip", "s3_key": key, **changes}
    resp = api.post("/api/v1/videos", {k: v for k, v in body.items() if v is not None})
    assert resp.status_code == status, resp.text
    error_of(resp)
    assert api.sb.videos() == []


ACCEPTED_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("caption-200", {"caption": "x" * 200}, {"caption": "x" * 200}),
    # the spec gives no caption limit, so the sandbox has none by default
    ("caption-5000", {"caption": "x" * 5000}, {"caption": "x" * 5000}),
    (
        "archived-offset",
        {"archived_at": "2025-01-29T14:00:00+02:00"},
        {"archived_at": "2025-01-29T12:00:00Z"},
    ),
    ("archived-null", {"archived_at": None}, {"archived_at": None}),
    (
        "custom-key-255",
        {"custom_fields": {"k" * 255: "v" * 1024}},
        {"custom_fields": {"k" * 255: "v" * 1024}},
    ),
    ("custom-key-digits", {"custom_fields": {"a_1": "x"}}, {"custom_fields": {"a_1": "x"}}),
    (
        "social-without-username",
        {
            "display_social_attributions": True,
            "external_media": {"source": "ig", "url": "https://i.g/p"},
        },
        {
            "external_media": {
                "source": "ig",
                "url": "https://i.g/p",
                "username": None,
                "navigation_enabled": True,
            }
        },
    ),
    (
        "navigation-disabled",
        {"external_media": {"source": "yt", "url": "https://y.t/v", "navigation_enabled": False}},
        {
            "display_social_attributions": False,
            "external_media": {
                "source": "yt",
                "url": "https://y.t/v",
                "username": None,
                "navigation_enabled": False,
            },
        },
    ),
    ("poster-empty-means-none", {"poster_url": ""}, {}),
    ("description-null", {"description": None}, {"description": None}),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in ACCEPTED_CASES], ids=[c[0] for c in ACCEPTED_CASES]
)
def test_metadata_accepted(
    api: Api, key: str, changes: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = {"channel_id": api.sb.channel_id, "caption": "A clip", "s3_key": key, **changes}
    resp = api.post("/api/v1/videos", body)
    assert resp.status_code == 201, resp.text
    video = resp.json()
    for field, value in expected.items():
        assert video[field] == value


def test_business_store_of_another_business_is_403(api: Api, key: str) -> None:
    other_store = api.sb.other_business_store_id
    resp = api.create(s3_key=key, business_store_id=other_store)
    assert resp.status_code == 403
    error_of(resp)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{oops", "application/json"), (b"[]", "application/json"), (b"caption=x", "text/plain")],
    ids=["malformed", "array", "text"],
)
def test_malformed_create_bodies_are_400(api: Api, content: bytes, content_type: str) -> None:
    resp = api.http.post("/api/v1/videos", content=content, headers={"Content-Type": content_type})
    assert resp.status_code == 400
    error_of(resp)


def test_exactly_one_source(api: Api, key: str) -> None:
    neither = api.create()
    assert neither.status_code == 400 and "s3_key" in error_of(neither)
    both = api.create(s3_key=key, url="https://example.com/a.mp4")
    assert both.status_code == 400
    assert api.sb.videos() == []


def test_unknown_routes_and_methods_keep_the_error_shape(api: Api) -> None:
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)
    wrong = api.http.delete("/api/v1/videos/abc")
    assert wrong.status_code == 405 and error_of(wrong)


# -- posters (spec 6.5) ----------------------------------------------------------------------


def test_poster_is_downloaded_and_described(api: Api, key: str, media) -> None:
    base = api.sb.serve_files(media.dir)
    for name, fmt, size, ratio in (
        ("poster.png", "png", (90, 160), "9:16"),
        ("poster.jpg", "jpg", (1080, 1920), "9:16"),
    ):
        video = api.create_ok(s3_key=key, poster_url=f"{base}/{name}")
        (poster,) = api.get(f"/api/v1/videos/{video['id']}").json()["video_posters"]
        assert (poster["format"], poster["width"], poster["height"]) == (fmt, *size)
        assert poster["aspect_ratio"] == ratio
        served = HTTP.get(poster["url"])
        assert served.status_code == 200 and served.content == (media.dir / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "behaviour"),
    [("missing.png", {}), ("not_image.png", {}), ("poster.png", {"status": 500})],
    ids=["404", "not-an-image", "server-error"],
)
def test_unusable_poster_is_422(
    api: Api, key: str, media, name: str, behaviour: dict[str, Any]
) -> None:
    base = api.sb.serve_files(media.dir)
    if behaviour:
        api.sb.file_server(base).set_behavior(name, **behaviour)
    resp = api.create(s3_key=key, poster_url=f"{base}/{name}")
    assert resp.status_code == 422
    assert "poster_url" in error_of(resp)
    assert api.sb.videos() == []


# -- the S3 key mode -------------------------------------------------------------------------


def _moto_put(sb: Any, key: str, data: bytes) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=sb.moto_url,
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
    )
    s3.put_object(Bucket=sb.bucket, Key=key, Body=data)
    s3.close()


@pytest.mark.parametrize(
    ("fixture_name", "status", "message"),
    [
        ("short", 422, "duration"),
        ("long", 422, "duration"),
        ("not_video", 400, "Unsupported file type"),
    ],
)
def test_s3_key_media_rules(api: Api, media, fixture_name: str, status: int, message: str) -> None:
    key = api.upload(getattr(media, fixture_name))
    resp = api.create(s3_key=key)
    assert resp.status_code == status
    assert message in error_of(resp)


@pytest.mark.parametrize("fixture_name", ["exact_min", "exact_max", "mov"])
def test_s3_key_duration_bounds_are_inclusive(api: Api, media, fixture_name: str) -> None:
    path = getattr(media, fixture_name)
    key = api.upload(path, "video/quicktime" if path.suffix == ".mov" else "video/mp4")
    assert api.create(s3_key=key).status_code == 201


def test_s3_key_must_exist_and_be_within_size_limits(api: Api, media) -> None:
    missing = api.create(s3_key="uploads/never-uploaded.mp4")
    assert missing.status_code == 400 and "not found" in error_of(missing)
    _moto_put(api.sb, "direct/tiny.mp4", media.clip.read_bytes()[: MIN_FILE - 1])
    tiny = api.create(s3_key="direct/tiny.mp4")
    assert (tiny.status_code, error_of(tiny)) == (400, "File too small (min 25KB)")
    _moto_put(api.sb, "direct/huge.mp4", media.clip.read_bytes() + b"\0" * MAX_FILE)
    huge = api.create(s3_key="direct/huge.mp4")
    assert (huge.status_code, error_of(huge)) == (400, "File too large (max 1MB)")
    _moto_put(api.sb, "direct/ok.mp4", media.clip.read_bytes())
    assert api.create(s3_key="direct/ok.mp4").status_code == 201  # any object in the bucket


def test_s3_key_of_another_business_is_403(api: Api, media) -> None:
    other = Api(
        api.sb,
        token_for(api.sb, api.sb.other_business_client_id, api.sb.other_business_client_secret),
    )
    try:
        sig = other.post(
            "/api/v1/upload_signatures",
            {
                "filename": "x.mp4",
                "mime_type": "video/mp4",
                "channel_id": api.sb.other_business_channel_id,
            },
        ).json()
    finally:
        other.close()
    assert api.create(s3_key=sig["key"]).status_code == 403


# -- the file upload mode --------------------------------------------------------------------


def test_file_upload_rules(api: Api, media) -> None:
    meta = {"channel_id": api.sb.channel_id, "caption": "A clip"}
    clip = media.clip.read_bytes()
    cases: list[tuple[str, httpx.Response, int]] = [
        ("not-json", api.create_file("{nope", clip), 400),
        ("json-array", api.create_file("[]", clip), 400),
        ("avi-type", api.create_file(meta, clip, "clip.avi", "video/x-msvideo"), 400),
        ("avi-name", api.create_file(meta, clip, "clip.avi", "application/octet-stream"), 400),
        ("text", api.create_file(meta, clip, "clip.mp4", "text/plain"), 400),
        ("not-video", api.create_file(meta, media.not_video.read_bytes()), 400),
        ("too-large", api.create_file(meta, clip + b"\0" * MAX_FILE), 400),
        ("too-short", api.create_file(meta, media.short.read_bytes()), 422),
        ("no-caption", api.create_file({"channel_id": api.sb.channel_id}, clip), 422),
        (
            "no-file",
            api.http.post("/api/v1/videos", files={"metadata": (None, json.dumps(meta))}),
            400,
        ),
        (
            "no-metadata",
            api.http.post("/api/v1/videos", files={"file": ("clip.mp4", clip, "video/mp4")}),
            400,
        ),
    ]
    for name, resp, status in cases:
        assert resp.status_code == status, (name, resp.text)
        error_of(resp)
    assert api.sb.videos() == [] and api.sb.objects() == []
    ok_mp4 = api.create_file(meta, clip, "CLIP.MP4", "video/mp4; codecs=avc1")
    ok_mov = api.create_file(meta, clip, "clip.mov", "video/quicktime")
    assert (ok_mp4.status_code, ok_mov.status_code) == (201, 201)


def _raw_file_part(
    meta: dict[str, Any], data: bytes, disposition: str, content_type: str | None
) -> tuple[bytes, str]:
    """A multipart create whose file part has exactly these headers (httpx always adds a
    Content-Type, so the body is written out by hand)."""
    boundary = "file-part-boundary-3e9c"
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
        f"{json.dumps(meta)}\r\n".encode()
        + f"{head}\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


FILE_PART_CASES = [
    ("octet-stream", 'form-data; name="file"; filename="clip.mp4"', "application/octet-stream"),
    ("no-content-type", 'form-data; name="file"; filename="clip.mp4"', None),
    ("empty-content-type", 'form-data; name="file"; filename="clip.mp4"', ""),
    ("empty-filename", 'form-data; name="file"; filename=""', "video/mp4"),
    ("no-extension", 'form-data; name="file"; filename="clip"', "video/mp4"),
    ("webm", 'form-data; name="file"; filename="clip.webm"', "video/webm"),
    ("mp4-named-avi", 'form-data; name="file"; filename="clip.avi"', "video/mp4"),
]


@pytest.mark.parametrize(
    ("disposition", "content_type"),
    [c[1:] for c in FILE_PART_CASES],
    ids=[c[0] for c in FILE_PART_CASES],
)
def test_file_part_must_be_mp4_or_mov(
    api: Api, media, disposition: str, content_type: str | None
) -> None:
    """Spec 6.1: video/mp4 or video/quicktime, .mp4 or .mov; nothing else (400)."""
    meta = {"channel_id": api.sb.channel_id, "caption": "A clip"}
    body, form_type = _raw_file_part(meta, media.clip.read_bytes(), disposition, content_type)
    resp = api.http.post("/api/v1/videos", content=body, headers={"Content-Type": form_type})
    assert resp.status_code == 400, resp.text
    assert ".mp4" in error_of(resp) or "video/mp4" in error_of(resp)
    assert api.sb.videos() == [] and api.sb.objects() == []


# -- the URL modes ---------------------------------------------------------------------------


URL_FORMAT_CASES = [
    ("ftp", "ftp://{host}/clip.mp4", "scheme"),
    ("no-dot", "http://localhost:{port}/clip.mp4", "hostname"),
    ("no-path", "http://{host}:{port}", "path"),
    ("root-path", "http://{host}:{port}/", "path"),
    ("not-a-url", "clip.mp4", "scheme"),
]


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("template", "message"), [c[1:] for c in URL_FORMAT_CASES], ids=[c[0] for c in URL_FORMAT_CASES]
)
def test_url_format_rules_are_400_in_both_modes(
    api: Api, media, template: str, message: str, run_async: bool
) -> None:
    base = api.sb.serve_files(media.dir)
    host, port = base.split("//")[1].split(":")
    resp = api.create(url=template.format(host=host, port=port), **{"async": run_async})
    assert resp.status_code == 400
    assert message in error_of(resp)
    assert api.sb.imports() == []


REMOTE_CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("html", "clip.mp4", {"content_type": "text/html"}, 400, "Content-Type"),
    ("octet-bin", "clip.bin", {"content_type": "application/octet-stream"}, 400, "octet-stream"),
    ("no-length", "clip.mp4", {"content_length": False}, 400, "Content-Length"),
    ("http-404", "nothing.mp4", {}, 400, "HTTP 404"),
    ("http-500", "clip.mp4", {"status": 500}, 400, "HTTP 500"),
    ("not-video", "not_video.mp4", {}, 400, "Unsupported file type"),
    ("too-short", "short.mp4", {}, 422, "duration"),
    ("too-long", "long.mp4", {}, 422, "duration"),
    ("too-large", "huge.mp4", {}, 400, "File too large"),
]


def _remote(api: Api, media, tmp_path, name: str, behaviour: dict[str, Any]) -> str:
    (tmp_path / "clip.bin").write_bytes(media.clip.read_bytes())
    (tmp_path / "huge.mp4").write_bytes(media.clip.read_bytes() + b"\0" * MAX_FILE)
    for src in ("clip.mp4", "not_video.mp4", "short.mp4", "long.mp4", "clip.mov"):
        (tmp_path / src).write_bytes((media.dir / src).read_bytes())
    base = api.sb.serve_files(tmp_path)
    if behaviour:
        api.sb.file_server(base).set_behavior(name, **behaviour)
    return f"{base}/{name}"


@pytest.mark.parametrize(
    ("name", "behaviour", "status", "message"),
    [c[1:] for c in REMOTE_CASES],
    ids=[c[0] for c in REMOTE_CASES],
)
def test_url_sync_remote_rules(
    api: Api, media, tmp_path, name: str, behaviour: dict[str, Any], status: int, message: str
) -> None:
    resp = api.create(url=_remote(api, media, tmp_path, name, behaviour))
    assert resp.status_code == status, resp.text
    assert message in error_of(resp)
    assert api.sb.videos() == [] and api.sb.objects() == []


@pytest.mark.parametrize(
    ("name", "behaviour", "status", "message"),
    [c[1:] for c in REMOTE_CASES],
    ids=[c[0] for c in REMOTE_CASES],
)
def test_url_async_failures_end_errored(
    api: Api, media, tmp_path, name: str, behaviour: dict[str, Any], status: int, message: str
) -> None:
    resp = api.create(url=_remote(api, media, tmp_path, name, behaviour), **{"async": True})
    assert resp.status_code == 202
    job_id = resp.json()["id"]

    def finished() -> dict[str, Any] | None:
        state = api.get(f"/api/v1/videos/imports/{job_id}").json()
        return state if state["status"] != "running" else None

    final = wait_for(finished, timeout=15)
    assert final["status"] == "errored"
    assert message in final["error"]
    assert final["video_id"] is None and final["completed_at"] is None
    assert api.sb.videos() == [] and api.sb.objects() == []


@pytest.mark.parametrize(
    ("name", "behaviour"),
    [
        ("clip.mp4", {"content_type": "application/octet-stream"}),
        ("clip.mov", {}),
        ("clip.mp4", {"content_type": "video/mp4; codecs=avc1"}),
    ],
    ids=["octet-stream-mp4", "quicktime", "type-with-parameters"],
)
def test_url_accepted_remote_types(
    api: Api, media, tmp_path, name: str, behaviour: dict[str, Any]
) -> None:
    resp = api.create(url=_remote(api, media, tmp_path, name, behaviour))
    assert resp.status_code == 201, resp.text


def test_async_poster_failure_errors_the_import(api: Api, media) -> None:
    base = api.sb.serve_files(media.dir)
    resp = api.create(url=f"{base}/clip.mp4", poster_url=f"{base}/missing.png", **{"async": True})
    assert resp.status_code == 202
    job_id = resp.json()["id"]
    final = wait_for(
        lambda: (
            (s := api.get(f"/api/v1/videos/imports/{job_id}").json())["status"] != "running" and s
        )
    )
    assert final["status"] == "errored" and "poster_url" in final["error"]


def test_download_timeout_is_configurable(media) -> None:
    """A server that accepts and never answers costs ``import_download_timeout``, then 400."""
    with socket.socket() as silent, Sandbox(SMALL.replace(import_download_timeout=0.3)) as sb:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        api = Api(sb)
        try:
            started = time.perf_counter()
            resp = api.create(url=f"http://127.0.0.1:{silent.getsockname()[1]}/clip.mp4")
            elapsed = time.perf_counter() - started
        finally:
            api.close()
    assert resp.status_code == 400 and "Timeout" in error_of(resp)
    assert 0.3 <= elapsed < 3


# -- URLs that do not parse (400, whatever field holds them) ---------------------------------

#: each is refused by urllib.parse or by httpx (the sandbox's two readings of a URL)
UNPARSABLE_URLS = [
    ("open-bracket", "http://[abc/x.mp4"),
    ("close-bracket", "http://]a.example.com/x.mp4"),
    ("half-ipv6", "http://[::1/x.mp4"),
    ("port-99999", "http://cdn.example.com:99999/x.mp4"),
    ("port-65536", "http://cdn.example.com:65536/x.mp4"),
    ("port-0", "http://cdn.example.com:0/x.mp4"),
    ("port-negative", "http://cdn.example.com:-1/x.mp4"),
    ("port-letters", "http://cdn.example.com:abc/x.mp4"),
    ("port-twice", "http://cdn.example.com:80:80/x.mp4"),
    ("port-fullwidth", "http://cdn.example.com:\uff11\uff12/x.mp4"),
    ("nul", "http://cdn.example.com\x00/x.mp4"),
    ("newline", "http://cdn.example.com/x\n.mp4"),
    ("bad-idna", "http://\u2603.example.com/x.mp4"),
    ("empty-label", "http://cdn..example.com/x.mp4"),
    ("space-in-host", "http://cdn .example.com/x.mp4"),
    ("percent-in-host", "http://cdn%zz.example.com/x.mp4"),
    ("lone-surrogate", "http://cdn.example.com/\udcff.mp4"),
]


def _with_extension(url: str, extension: str) -> str:
    return url.replace(".mp4", extension)


@pytest.mark.parametrize(
    "field", ["url-sync", "url-async", "poster_url", "external_media.url"]
)
@pytest.mark.parametrize(
    "url", [c[1] for c in UNPARSABLE_URLS], ids=[c[0] for c in UNPARSABLE_URLS]
)
def test_unparsable_urls_are_400(api: Api, key: str, field: str, url: str) -> None:
    if field == "url-sync":
        fields: dict[str, Any] = {"url": url}
    elif field == "url-async":
        fields = {"url": url, "async": True}
    elif field == "poster_url":
        fields = {"s3_key": key, "poster_url": _with_extension(url, ".jpg")}
    else:
        fields = {"s3_key": key, "external_media": {"source": "tiktok", "url": url}}
    # json.dumps escapes a lone surrogate, as any JSON encoder may
    body = json.dumps({"channel_id": api.sb.channel_id, "caption": "A clip", **fields})
    resp = api.http.post(
        "/api/v1/videos", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    assert "url" in error_of(resp)
    assert api.sb.videos() == [] and api.sb.imports() == []


def test_unparsable_url_in_a_patch_is_400(api: Api, key: str) -> None:
    video = api.create_ok(s3_key=key)
    for body in (
        {"poster_url": "http://[abc/p.jpg"},
        {"external_media": {"source": "x", "url": "http://a.example.com:99999/v"}},
    ):
        resp = api.patch(f"/api/v1/videos/{video['id']}", body)
        assert resp.status_code == 400, resp.text
        error_of(resp)


def test_urls_that_parse_still_reach_their_rules(api: Api, key: str, media) -> None:
    """The parse check is no stricter than it must be: IP hosts, explicit ports, userinfo,
    a trailing dot, an escaped space and IDNA names pass it (and meet the usual rules)."""
    base = api.sb.serve_files(media.dir)
    port = base.rsplit(":", 1)[1]
    assert api.create(url=f"{base}/clip.mp4").status_code == 201  # 127.0.0.1:port
    with_user = api.create(s3_key=key, poster_url=f"http://u:pw@127.0.0.1:{port}/poster.jpg")
    assert with_user.status_code == 201, with_user.text
    escaped = api.create(s3_key=key, poster_url=f"http://127.0.0.1:{port}/a%20b.png")
    assert escaped.status_code == 422 and "HTTP 404" in error_of(escaped)  # parsed, fetched
    ipv6 = api.create(url="http://[::1]:8080/clip.mp4")
    assert ipv6.status_code == 400 and "hostname" in error_of(ipv6)  # parses; no dot (6.3)
    for url in ("https://xn--bcher-kva.example/p.jpg", "https://b\u00fccher.example/p.jpg",
                "http://[fe80::1%25eth0]/p.jpg", "http://a_b.example.com/p.jpg",
                "https://cdn.example.com./p.jpg"):
        assert parse_url("poster_url", url).hostname


# -- the caption limit: a knob, off by default -------------------------------------------------


def test_caption_limit_is_off_by_default() -> None:
    assert SMALL.max_caption_length is None
    with pytest.raises(ValueError, match="max_caption_length"):
        SMALL.replace(max_caption_length=0)


def test_caption_limit_when_configured(media) -> None:
    """``max_caption_length`` rehearses spec 6.9's "caption too long" 422, create and PATCH."""
    with Sandbox(SMALL.replace(max_caption_length=10)) as sb:
        api = Api(sb)
        try:
            key = api.upload(media.clip)
            assert api.create(s3_key=key, caption="x" * 10).status_code == 201
            long = api.create(s3_key=key, caption="x" * 11)
            assert long.status_code == 422 and "caption too long" in error_of(long)
            video = api.create_ok(s3_key=key, caption="short")
            patch = api.patch(f"/api/v1/videos/{video['id']}", {"caption": "y" * 11})
            assert patch.status_code == 422 and "caption too long" in error_of(patch)
            assert sb.video(video["id"])["caption"] == "short"
        finally:
            api.close()


# -- poster_url null or "" on a create: no custom poster (spec 6.4/6.5) ----------------------


@pytest.mark.parametrize("poster", [None, ""], ids=["null", "empty"])
@pytest.mark.parametrize("mode", ["s3_key", "file", "url-sync", "url-async"])
def test_poster_url_null_or_empty_on_create_means_no_custom_poster(
    api: Api, media, mode: str, poster: str | None
) -> None:
    base = api.sb.serve_files(media.dir)
    meta: dict[str, Any] = {"channel_id": api.sb.channel_id, "caption": "A clip",
                            "poster_url": poster}
    if mode == "file":
        resp = api.create_file(meta, media.clip.read_bytes())
    elif mode == "s3_key":
        resp = api.post("/api/v1/videos", {**meta, "s3_key": api.upload(media.clip)})
    else:
        body = {**meta, "url": f"{base}/clip.mp4", "async": mode == "url-async"}
        resp = api.post("/api/v1/videos", body)
    assert resp.status_code in (201, 202), resp.text
    if resp.status_code == 202:
        job_id = resp.json()["id"]
        done = wait_for(
            lambda: (j := api.get(f"/api/v1/videos/imports/{job_id}").json())["status"]
            != "running" and j
        )
        assert done["status"] == "completed", done
        video_id = done["video_id"]
    else:
        video_id = resp.json()["id"]
    assert api.sb.video(video_id)["poster_url"] is None
    posters = wait_for(lambda: api.get(f"/api/v1/videos/{video_id}").json()["video_posters"])
    assert [p["url"].rsplit("/", 1)[1] for p in posters] == ["poster-auto.png"]


# -- deeply nested JSON (issue 14 item 9): 400, never a RecursionError's 500 ------------------


def _nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize("depth", [65, 5_000, 200_000])
def test_deeply_nested_json_is_400_everywhere(api: Api, media, depth: int) -> None:
    deep = _nested(depth)
    json_type = {"Content-Type": "application/json"}
    for path in ("/api/v1/upload_signatures", "/api/v1/upload_multipart/signatures",
                 "/api/v1/upload_multipart/complete", "/api/v1/videos"):
        resp = api.http.post(path, content=deep, headers=json_type)
        assert resp.status_code == 400, (path, resp.text[:200])
        assert "nested" in error_of(resp)
        inside = f'{{"channel_id": "{api.sb.channel_id}", "caption": "x", "extra": {deep}}}'
        resp = api.http.post(path, content=inside, headers=json_type)
        assert resp.status_code == 400 and "nested" in error_of(resp), path
    patch = api.http.patch("/api/v1/videos/x", content=deep, headers=json_type)
    assert patch.status_code == 400 and "nested" in error_of(patch)
    # (a form field is at most 1 MB, so the deepest case is cut to size there)
    form = api.create_file(_nested(min(depth, 5_000)), media.clip.read_bytes())
    assert form.status_code == 400 and "nested" in error_of(form)
    for private in ("/_sandbox/faults", "/_sandbox/clock"):
        resp = HTTP.post(f"{api.sb.base_url}{private}", content=deep)
        assert resp.status_code == 400 and "nested" in error_of(resp), private
    assert api.sb.faults.active() == [] and api.sb.videos() == []


def test_json_nested_64_deep_still_parses(api: Api, key: str) -> None:
    body = json.dumps({"channel_id": api.sb.channel_id, "caption": "x", "s3_key": key})
    body = body[:-1] + f', "extra": {_nested(63)}}}'
    resp = api.http.post(
        "/api/v1/videos", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 201, resp.text
