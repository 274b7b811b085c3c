"""The OAuth2 access token (client credentials grant)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import Field, SecretStr, model_validator

from prefect_firework.models._base import ResponseModel

__all__ = ["AccessToken"]

#: assumed lifetime when the token endpoint omits ``expires_in`` (Firework documents 3600 s)
DEFAULT_EXPIRES_IN = 3600.0


class AccessToken(ResponseModel):
    """A bearer token with its lifetime; ``access_token`` is secret.

    ``expires_at`` is absolute (UTC), computed from ``expires_in`` when the response is parsed,
    so a token that travels (pickled into a Prefect result, say) still knows when it dies.
    ``token_type`` and ``scope`` are optional: Firework may return neither.
    """

    access_token: SecretStr
    token_type: str = "Bearer"
    expires_in: float = Field(default=DEFAULT_EXPIRES_IN, ge=0)
    expires_at: datetime
    scope: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _absolute_expiry(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("expires_at") is None:
            data = dict(data)
            expires_in = data.get("expires_in")
            if expires_in is None:
                expires_in = DEFAULT_EXPIRES_IN
                data["expires_in"] = expires_in
            try:
                seconds = float(expires_in)
            except (TypeError, ValueError):
                return data  # let field validation report the bad expires_in
            data["expires_at"] = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        return data

    def expires_within(self, seconds: float) -> bool:
        """True if the token is expired or will be within ``seconds``."""
        return datetime.now(timezone.utc) + timedelta(seconds=seconds) >= self.expires_at
