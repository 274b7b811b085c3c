"""``FIREWORK_*`` environment settings (pydantic-settings), also read from a ``.env`` file.

Settings are the last resort of credential resolution (an explicit block wins, then the block
named by ``FIREWORK_CREDENTIALS_BLOCK``), and the home of the tunables that a deployment wants
to change without code: the per-channel create budget, polling interval and timeouts.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_BASE_URL", "FireworkSettings"]

DEFAULT_BASE_URL = "https://api.firework.com"


class FireworkSettings(BaseSettings):
    """Configuration read from ``FIREWORK_*`` environment variables and ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="FIREWORK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    client_id: str | None = Field(default=None, description="OAuth2 client id.")
    client_secret: SecretStr | None = Field(default=None, description="OAuth2 client secret.")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Firework API base URL.")
    token_url: str | None = Field(
        default=None, description="OAuth2 token URL; defaults to {base_url}/oauth/token."
    )
    scopes: str = Field(default="videos:read videos:write", description="Space-separated scopes.")
    timeout: float = Field(default=30.0, gt=0, description="API request timeout in seconds.")
    credentials_block: str | None = Field(
        default=None, description="Name of a saved FireworkCredentials block to use."
    )
    rate_limit_creates: int = Field(
        default=20, gt=0, description="Video creates allowed per channel per window (spec 6)."
    )
    rate_limit_window: float = Field(
        default=300.0, gt=0, description="Length of the per-channel create window in seconds."
    )
    rate_limit_backoff: float = Field(
        default=15.0,
        gt=0,
        description="Seconds a channel pauses after a 429 without Retry-After; doubles per "
        "further 429 up to the window.",
    )
    min_file_size: int = Field(
        default=25_600,
        ge=0,
        description="Smallest file uploaded, bytes. The spec says 25 KB; 25,600 (binary) "
        "refuses every file a decimal reading would.",
    )
    max_file_size: int = Field(
        default=5_000_000_000,
        gt=0,
        description="Largest file uploaded, bytes. The spec says 5 GB; 5,000,000,000 "
        "(decimal) never uploads a file a decimal reading would refuse.",
    )
    poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between polls of an async import (spec: 5-10 s)."
    )
    import_timeout: float = Field(
        default=3600.0, gt=0, description="Seconds to wait for an async import to finish."
    )
