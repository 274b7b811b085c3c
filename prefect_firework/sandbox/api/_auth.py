"""OAuth 2.0 client credentials (RFC 6749 4.4) and bearer checks for ``/api/v1``.

Tokens are opaque random strings held in memory; ``expire_tokens`` marks every one issued so
far as expired, so a client's refresh-on-401 path can be tested without waiting an hour.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from dataclasses import dataclass

from prefect_firework.sandbox.api._errors import (
    ApiError,
    Forbidden,
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    NotFound,
    Unauthorized,
    UnsupportedGrantType,
)
from prefect_firework.sandbox.config import SandboxConfig
from prefect_firework.sandbox.engine._ids import new_secret
from prefect_firework.sandbox.engine._state import Channel, OAuthClient, State, Token

__all__ = ["Principal", "authenticate", "expire_all", "issue_token"]

_REALM = 'realm="firework"'


@dataclass(frozen=True)
class Principal:
    """Who is calling: the client, its business and the scopes of its token."""

    client_id: str
    business_id: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"Insufficient scope: {scope} required")

    def channel(self, state: State, channel_id: str) -> Channel:
        """The channel, if it exists (404), belongs to the caller's business (403) and the
        caller is a member of that business (404 "Membership not found").

        Every channel-scoped call checks this (creates, upload signatures, multipart
        initiation); the spec names the membership 404 for creates, and the other endpoints
        document a 404 too.
        """
        with state.locked():
            channel = state.channels.get(channel_id)
            member = (self.client_id, self.business_id) in state.memberships
        if channel is None:
            raise NotFound("Channel not found")
        if channel.business_id != self.business_id:
            raise Forbidden("Insufficient permissions to access this channel")
        if not member:
            raise NotFound("Membership not found")
        return channel


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("Malformed HTTP Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("Malformed HTTP Basic credentials")
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


def issue_token(
    state: State,
    config: SandboxConfig,
    *,
    content_type: str,
    body: bytes,
    authorization: str | None,
) -> dict[str, object]:
    """Answer ``POST /oauth/token`` or raise an ``OAuthError``."""
    form = _token_form(content_type, body)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    if grant_type != "client_credentials":
        raise UnsupportedGrantType("Only client_credentials is supported")
    client = _authenticate_client(state, form, authorization)
    scopes = _granted_scopes(client, form.get("scope"))
    token = Token(
        value=new_secret(32),
        client_id=client.client_id,
        business_id=client.business_id,
        scopes=scopes,
        expires_at=state.now() + config.token_lifetime,
    )
    with state.locked():
        state.tokens[token.value] = token
    return {
        "access_token": token.value,
        "token_type": "Bearer",
        "expires_in": config.token_lifetime,
        "scope": " ".join(sorted(scopes)),
    }


def _token_form(content_type: str, body: bytes) -> dict[str, str]:
    """The parameters of a token request: a form body, each parameter at most once."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise InvalidRequest("Use application/x-www-form-urlencoded")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode(), keep_blank_values=True, strict_parsing=bool(body)
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("Malformed form body") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"Parameter {name} repeated")
        form[name] = value
    return form


def _authenticate_client(
    state: State, form: dict[str, str], authorization: str | None
) -> OAuthClient:
    """The client, by HTTP Basic credentials or ``client_id``/``client_secret`` (not both)."""
    basic = _basic_credentials(authorization)
    if basic is not None and "client_secret" in form:
        raise InvalidRequest("Use one client authentication method")
    if basic is not None:
        client_id, secret = basic
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    challenge = {"WWW-Authenticate": f"Basic {_REALM}"} if basic is not None else {}
    with state.locked():
        client = state.clients.get(client_id)
    if client is None or not secret or secret != client.client_secret:
        raise InvalidClient("Client authentication failed", challenge)
    return client


def _granted_scopes(client: OAuthClient, requested: str | None) -> frozenset[str]:
    """The scopes asked for (all of the client's when none are), if the client has them."""
    if requested is None or not requested.strip():
        return client.scopes
    wanted = frozenset(requested.split())
    if not wanted <= client.scopes:
        raise InvalidScope("Requested scope exceeds the client's scopes")
    return wanted


def _unauthorized(message: str, *, invalid: bool) -> ApiError:
    challenge = f"Bearer {_REALM}"
    if invalid:
        challenge += f', error="invalid_token", error_description="{message}"'
    return Unauthorized(message, {"WWW-Authenticate": challenge})


def authenticate(state: State, authorization: str | None) -> Principal:
    """The caller behind a ``Bearer`` header, or a 401."""
    if not authorization:
        raise _unauthorized("Missing authentication token", invalid=False)
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise _unauthorized("Invalid authentication token", invalid=True)
    with state.locked():
        token = state.tokens.get(value)
    if token is None:
        raise _unauthorized("Invalid authentication token", invalid=True)
    if token.revoked or state.now() >= token.expires_at:
        raise _unauthorized("Authentication token expired", invalid=True)
    return Principal(token.client_id, token.business_id, token.scopes)


def expire_all(state: State) -> int:
    """Expire every token issued so far; returns how many."""
    with state.locked():
        for token in state.tokens.values():
            token.revoked = True
        return len(state.tokens)
