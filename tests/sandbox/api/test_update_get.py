"""Spec 7 and 8: ``PATCH`` and ``GET /api/v1/videos/{id}``."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from sandbox_support import GET_VIDEO_KEYS, HTTP, VIDEO_KEYS, Api, error_of, wait_for


@pytest.fixture
def video(api: Api, media) -> dict[str, Any]:
    return api.create_ok(
        s3_key=api.upload(media.clip),
        description="First",
        hashtags=["a"],
        custom_fields={"one": "1", "two": "2"},
        archived_at="2025-01-01T00:00:00Z",
    )


def _get(api: Api, video_id: str) -> dict[str, Any]:
    resp = api.get(f"/api/v1/videos/{video_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _patch(api: Api, video_id: str, body: Any) -> dict[str, Any]:
    resp = api.patch(f"/api/v1/videos/{video_id}", body)
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == VIDEO_KEYS
    return dict(resp.json())


def test_get_video_shape_thumbnail_and_generated_poster(api: Api, video: dict[str, Any]) -> None:
    fresh = _get(api, video["id"])
    assert set(fresh) == GET_VIDEO_KEYS
    assert {k: fresh[k] for k in VIDEO_KEYS} == video
    # still "transcoding": no thumbnail, no posters yet
    assert fresh["thumbnail_url"] is None and fresh["video_posters"] == []
    ready = wait_for(lambda: (v := _get(api, video["id"]))["thumbnail_url"] and v, timeout=5)
    (poster,) = ready["video_posters"]
    assert poster == {
        "url": poster["url"],
        "aspect_ratio": "9:16",
        "format": "png",
        "width": 540,
        "height": 960,
    }
    for url in (ready["thumbnail_url"], poster["url"]):
        image = HTTP.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert struct.unpack(">II", image.content[16:24]) == (540, 960)


def test_get_unknown_video_is_404(api: Api) -> None:
    resp = api.get("/api/v1/videos/NoSuchVideo")
    assert resp.status_code == 404 and error_of(resp) == "Video not found"


def test_patch_changes_only_what_is_sent(api: Api, video: dict[str, Any]) -> None:
    body = _patch(api, video["id"], {"caption": "Renamed", "access": "private"})
    assert body == {**video, "caption": "Renamed", "access": "private"}
    assert _patch(api, video["id"], {}) == body  # an empty patch changes nothing


def test_patch_null_and_replace_semantics(api: Api, video: dict[str, Any]) -> None:
    body = _patch(
        api,
        video["id"],
        {
            "description": None,
            "archived_at": None,
            "hashtags": ["b", "c"],
            "custom_fields": {"three": "3"},
            "audio_disabled": True,
        },
    )
    assert body["description"] is None and body["archived_at"] is None
    assert body["hashtags"] == ["b", "c"]
    assert body["custom_fields"] == {"three": "3"}  # replaced, not merged
    assert body["audio_disabled"] is True
    assert _patch(api, video["id"], {"custom_fields": {}})["custom_fields"] == {}


def test_patch_social_attribution_needs_external_media_existing_or_new(
    api: Api, video: dict[str, Any]
) -> None:
    path = f"/api/v1/videos/{video['id']}"
    refused = api.patch(path, {"display_social_attributions": True})
    assert refused.status_code == 422 and "external_media" in error_of(refused)
    media = {"source": "instagram", "url": "https://instagram.com/p/1"}
    body = _patch(api, video["id"], {"external_media": media})
    assert body["external_media"]["source"] == "instagram"
    # the video now has external_media, so attribution alone passes (spec 6.7)
    assert _patch(api, video["id"], {"display_social_attributions": True})[
        "display_social_attributions"
    ]
    removing = api.patch(path, {"external_media": None})
    assert removing.status_code == 422
    assert _get(api, video["id"])["external_media"]["source"] == "instagram"


def test_poster_omit_null_and_empty_string(api: Api, video: dict[str, Any], media) -> None:
    base = api.sb.serve_files(media.dir)
    _patch(api, video["id"], {"poster_url": f"{base}/poster.png"})
    custom = _get(api, video["id"])["video_posters"]
    assert [(p["format"], p["width"], p["height"]) for p in custom] == [("png", 90, 160)]
    _patch(api, video["id"], {"caption": "poster untouched"})
    assert _get(api, video["id"])["video_posters"] == custom
    _patch(api, video["id"], {"poster_url": f"{base}/poster.jpg"})
    (replaced,) = _get(api, video["id"])["video_posters"]
    assert replaced["format"] == "jpg" and replaced["url"] != custom[0]["url"]
    for removal in (None, ""):
        _patch(api, video["id"], {"poster_url": f"{base}/poster.png"})
        _patch(api, video["id"], {"poster_url": removal})
        assert api.sb.video(video["id"])["poster_url"] is None
        posters = _get(api, video["id"])["video_posters"]
        assert all(p["format"] == "png" and p["width"] == 540 for p in posters)


def test_patch_invalid_poster_is_422_and_keeps_the_old_one(
    api: Api, video: dict[str, Any], media
) -> None:
    base = api.sb.serve_files(media.dir)
    _patch(api, video["id"], {"poster_url": f"{base}/poster.png"})
    for bad in (f"{base}/missing.png", f"{base}/not_image.png", "https://example.com/p.webp"):
        resp = api.patch(f"/api/v1/videos/{video['id']}", {"poster_url": bad})
        assert resp.status_code == 422, bad
    assert api.sb.video(video["id"])["poster_url"] == f"{base}/poster.png"


PATCH_ERRORS = [
    ("caption-null", {"caption": None}, 422),
    ("access-bad", {"access": "friends"}, 422),
    ("archived-bad", {"archived_at": "soon"}, 422),
    ("hashtags-bad", {"hashtags": "x"}, 400),
    ("custom-bad-key", {"custom_fields": {"BAD": "x"}}, 422),
    ("custom-key-trailing-newline", {"custom_fields": {"abc\n": "x"}}, 422),
    ("video-hidden-bad", {"video_hidden": 1}, 400),
]


@pytest.mark.parametrize(
    ("body", "status"), [c[1:] for c in PATCH_ERRORS], ids=[c[0] for c in PATCH_ERRORS]
)
def test_patch_errors_change_nothing(
    api: Api, video: dict[str, Any], body: dict[str, Any], status: int
) -> None:
    resp = api.patch(f"/api/v1/videos/{video['id']}", {"description": "changed", **body})
    assert resp.status_code == status
    error_of(resp)
    assert _get(api, video["id"])["description"] == "First"


def test_patch_malformed_bodies_and_unknown_video(api: Api, video: dict[str, Any]) -> None:
    path = f"/api/v1/videos/{video['id']}"
    for content in (b"{nope", b"[]", b"null"):
        resp = api.http.patch(path, content=content, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400
        error_of(resp)
    assert api.patch("/api/v1/videos/NoSuchVideo", {"caption": "x"}).status_code == 404
