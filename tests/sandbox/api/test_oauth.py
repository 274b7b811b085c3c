"""``POST /oauth/token``: OAuth 2.0 client credentials as RFC 6749 section 4.4 describes it."""

from __future__ import annotations

import base64

import pytest
from sandbox_support import HTTP, SMALL, bearer

from prefect_firework.sandbox import Sandbox


def _basic(client_id: str, secret: str) -> dict[str, str]:
    value = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def test_form_credentials_get_a_bearer_token(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
    )
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == SMALL.token_lifetime
    assert set(body["scope"].split(" ")) == {"videos:read", "videos:write"}
    assert resp.headers["cache-control"] == "no-store"
    video = HTTP.get(f"{sb.base_url}/api/v1/videos/nope", headers=bearer(body["access_token"]))
    assert video.status_code == 404  # authenticated: the video just does not exist


def test_http_basic_client_authentication(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        data={"grant_type": "client_credentials"},
        headers=_basic(sb.client_id, sb.client_secret),
    )
    assert resp.status_code == 200 and resp.json()["access_token"]


def test_requested_scope_narrows_the_token(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "scope": "videos:read",
        },
    )
    assert resp.status_code == 200 and resp.json()["scope"] == "videos:read"
    write = HTTP.post(
        f"{sb.base_url}/api/v1/upload_signatures",
        json={"filename": "a.mp4", "mime_type": "video/mp4", "channel_id": sb.channel_id},
        headers=bearer(resp.json()["access_token"]),
    )
    assert write.status_code == 403


BAD_REQUESTS = [
    # (id, form, extra headers, status, error)
    ("wrong-secret", {"client_secret": "nope"}, {}, 401, "invalid_client"),
    ("unknown-client", {"client_id": "ghost"}, {}, 401, "invalid_client"),
    ("empty-secret", {"client_secret": ""}, {}, 401, "invalid_client"),
    ("no-grant-type", {"grant_type": None}, {}, 400, "invalid_request"),
    ("password-grant", {"grant_type": "password"}, {}, 400, "unsupported_grant_type"),
    ("auth-code-grant", {"grant_type": "authorization_code"}, {}, 400, "unsupported_grant_type"),
    ("scope-not-granted", {"scope": "videos:read admin"}, {}, 400, "invalid_scope"),
]


@pytest.mark.parametrize(
    ("form_changes", "headers", "status", "error"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_token_errors(
    sb: Sandbox,
    form_changes: dict[str, str | None],
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        **form_changes,
    }
    resp = HTTP.post(
        sb.token_url, data={k: v for k, v in form.items() if v is not None}, headers=headers
    )
    assert resp.status_code == status
    assert resp.json()["error"] == error


def test_read_only_client_cannot_ask_for_write(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sb.read_only_client_id,
            "client_secret": sb.read_only_client_secret,
            "scope": "videos:read videos:write",
        },
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"


def test_wrong_basic_secret_challenges_with_basic(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        data={"grant_type": "client_credentials"},
        headers=_basic(sb.client_id, "wrong"),
    )
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"].startswith("Basic")


def test_two_client_authentication_methods_are_refused(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        data={"grant_type": "client_credentials", "client_secret": sb.client_secret},
        headers=_basic(sb.client_id, sb.client_secret),
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def test_json_body_is_not_a_token_request(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        json={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def test_tokens_expire_after_their_lifetime(sb: Sandbox) -> None:
    resp = HTTP.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
    )
    token = resp.json()["access_token"]
    url = f"{sb.base_url}/api/v1/videos/nope"
    sb.advance_clock(SMALL.token_lifetime - 5)
    assert HTTP.get(url, headers=bearer(token)).status_code == 404
    sb.advance_clock(5)
    expired = HTTP.get(url, headers=bearer(token))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
