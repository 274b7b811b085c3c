"""Every ``/api/v1`` endpoint: bearer tokens (401), scopes (403), channels (403/404) and
memberships (404)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sandbox_support import HTTP, Api, bearer, error_of, token_for

from prefect_firework.sandbox import Sandbox

# (method, path, body, scope needed)
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/v1/upload_signatures", {"filename": "a.mp4"}, "videos:write"),
    ("POST", "/api/v1/upload_multipart/signatures", {"filename": "a.mp4"}, "videos:write"),
    ("POST", "/api/v1/upload_multipart/complete", {"key": "k"}, "videos:write"),
    ("POST", "/api/v1/videos", {"caption": "x"}, "videos:write"),
    ("GET", "/api/v1/videos/imports/nope", None, "videos:read"),
    ("GET", "/api/v1/videos/nope", None, "videos:read"),
    ("PATCH", "/api/v1/videos/nope", {"caption": "x"}, "videos:write"),
]
IDS = [f"{m} {p}" for m, p, _, _ in ENDPOINTS]


def _call(
    sb: Sandbox, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    return HTTP.request(method, f"{sb.base_url}{path}", json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-token", "Basic Zm9vOmJhcg==", "not-even-a-scheme"],
    ids=["missing", "empty-bearer", "garbled", "basic", "no-scheme"],
)
def test_bad_bearer_is_401(
    sb: Sandbox, method: str, path: str, body: Any, scope: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    resp = _call(sb, method, path, body, headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    error_of(resp)


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_expired_token_is_401(sb: Sandbox, method: str, path: str, body: Any, scope: str) -> None:
    token = token_for(sb)
    sb.expire_tokens()
    resp = _call(sb, method, path, body, bearer(token))
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert "expired" in error_of(resp)
    fresh = _call(sb, method, path, body, bearer(token_for(sb)))
    assert fresh.status_code not in (401, 403)


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_scopes(sb: Sandbox, method: str, path: str, body: Any, scope: str) -> None:
    read_only = token_for(sb, sb.read_only_client_id, sb.read_only_client_secret)
    resp = _call(sb, method, path, body, bearer(read_only))
    if scope == "videos:write":
        assert resp.status_code == 403
        assert "scope" in error_of(resp)
    else:
        assert resp.status_code == 404  # allowed in, the thing just does not exist


CHANNEL_BODIES = {
    "upload_signatures": (
        "/api/v1/upload_signatures",
        {"filename": "a.mp4", "mime_type": "video/mp4"},
    ),
    "multipart_signatures": (
        "/api/v1/upload_multipart/signatures",
        {"filename": "a.mp4", "mime_type": "video/mp4", "parts_count": 2},
    ),
    "create_video": ("/api/v1/videos", {"caption": "x", "s3_key": "uploads/none.mp4"}),
}


@pytest.mark.parametrize("name", list(CHANNEL_BODIES))
def test_channel_of_another_business_is_403_and_unknown_is_404(api: Api, name: str) -> None:
    path, body = CHANNEL_BODIES[name]
    other = api.post(path, {**body, "channel_id": api.sb.other_business_channel_id})
    assert other.status_code == 403, other.text
    error_of(other)
    unknown = api.post(path, {**body, "channel_id": "NoSuchCh"})
    assert unknown.status_code == 404, unknown.text
    assert "Channel not found" in error_of(unknown)


@pytest.mark.parametrize("name", list(CHANNEL_BODIES))
def test_a_client_without_membership_gets_404_membership_not_found(
    sb: Sandbox, media, name: str
) -> None:
    """Spec 6.9: "Channel not found or membership not found". The seeded no-membership
    client has valid credentials of the main business but no membership in it."""
    path, body = CHANNEL_BODIES[name]
    outsider = Api(sb, token_for(sb, sb.no_membership_client_id, sb.no_membership_client_secret))
    try:
        resp = outsider.post(path, {**body, "channel_id": sb.channel_id})
        assert resp.status_code == 404, resp.text
        assert error_of(resp) == "Membership not found"
        unknown = outsider.post(path, {**body, "channel_id": "NoSuchCh"})
        assert error_of(unknown) == "Channel not found"  # the channel is looked up first
        if name == "create_video":
            meta = {"channel_id": sb.channel_id, "caption": "x"}
            form = outsider.create_file(meta, media.clip.read_bytes())
            assert (form.status_code, error_of(form)) == (404, "Membership not found")
    finally:
        outsider.close()
    assert sb.videos() == [] and sb.multipart_uploads() == []


def test_no_membership_client_is_exposed_like_the_other_seeds(sb: Sandbox) -> None:
    info = HTTP.get(f"{sb.base_url}/_sandbox/info").json()
    assert info["no_membership_client_id"] == sb.no_membership_client_id
    assert info["no_membership_client_secret"] == sb.no_membership_client_secret
    assert sb.no_membership_client_id not in (sb.client_id, sb.read_only_client_id)


def test_multipart_create_checks_the_channel_inside_metadata(api: Api, media) -> None:
    data = media.clip.read_bytes()
    other = api.create_file({"channel_id": api.sb.other_business_channel_id, "caption": "x"}, data)
    assert other.status_code == 403
    unknown = api.create_file({"channel_id": "NoSuchCh", "caption": "x"}, data)
    assert unknown.status_code == 404


def test_videos_and_imports_of_another_business_are_forbidden(api: Api, media) -> None:
    video = api.create_ok(s3_key=api.upload(media.clip))
    base = api.sb.serve_files(media.dir)
    job = api.create(url=f"{base}/clip.mp4", **{"async": True}).json()
    other = Api(
        api.sb,
        token_for(api.sb, api.sb.other_business_client_id, api.sb.other_business_client_secret),
    )
    try:
        assert other.get(f"/api/v1/videos/{video['id']}").status_code == 403
        assert other.patch(f"/api/v1/videos/{video['id']}", {"caption": "mine"}).status_code == 403
        assert other.get(f"/api/v1/videos/imports/{job['id']}").status_code == 403
        # and another business's channel id is not usable the other way round either
        resp = other.post(
            "/api/v1/upload_signatures",
            {"filename": "a.mp4", "mime_type": "video/mp4", "channel_id": api.sb.channel_id},
        )
        assert resp.status_code == 403
    finally:
        other.close()
    assert api.sb.video(video["id"])["caption"] == "A clip"
