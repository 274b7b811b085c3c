"""The ``FireworkCredentials`` block and the one credential resolver every task and flow uses."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from prefect_firework import _defaults
from prefect_firework.blocks._card import LOGO_URL, documentation_url
from prefect_firework.errors import CredentialsNotFoundError
from prefect_firework.settings import DEFAULT_BASE_URL, FireworkSettings

if TYPE_CHECKING:
    from prefect_firework.client import FireworkClient

__all__ = ["CredentialsNotFoundError", "FireworkCredentials", "resolve_credentials"]


class FireworkCredentials(Block):
    """The OAuth app credentials every task and flow uses to call the Firework Video API.

    Pass the block, or its name, as ``credentials=``. ``get_client()`` returns a client shared
    by every task of the process with equal credentials: one connection pool, one access token.

    Attributes:
        client_id: The OAuth app's client id.
        client_secret: The OAuth app's client secret.
        base_url: The API base URL.
        token_url: The OAuth2 token endpoint; defaults to ``{base_url}/oauth/token``.
        scopes: Space-separated scopes to request.
        timeout: Timeout in seconds for API requests.

    Example:
        Load stored credentials and fetch a video:
        ```python
        from prefect_firework import FireworkCredentials

        credentials = FireworkCredentials.load("BLOCK_NAME")
        video = credentials.get_client().get_video("X6Xqd6W")
        ```
    """

    _block_type_name = "Firework Credentials"
    _logo_url = LOGO_URL  # type: ignore[assignment]
    _documentation_url = documentation_url("blocks-and-settings")  # type: ignore[assignment]

    client_id: str = Field(default=..., description="The OAuth app's client id.")
    client_secret: SecretStr = Field(default=..., description="The OAuth app's client secret.")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="The Firework API base URL.")
    token_url: str | None = Field(
        default=None,
        description="The OAuth2 token endpoint; defaults to {base_url}/oauth/token.",
    )
    scopes: str = Field(default=_defaults.SCOPES, description="Space-separated OAuth2 scopes.")
    timeout: float = Field(default=30.0, gt=0, description="API request timeout in seconds.")

    def get_client(self) -> FireworkClient:
        """Return this process's shared client for these credentials (created on first use,
        and again after a ``with block.get_client() as fw:`` closed it)."""
        return _client_for(self)

    def client_key(self) -> tuple[Any, ...]:
        """What makes two credentials interchangeable; the secret enters only as itself."""
        return (
            self.client_id,
            self.client_secret.get_secret_value(),
            self.base_url.rstrip("/"),
            self.resolved_token_url,
            self.scopes,
            self.timeout,
        )

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or f"{self.base_url.rstrip('/')}/oauth/token"

    def __repr__(self) -> str:  # never show the secret, even masked, plus a readable identity
        return f"FireworkCredentials(client_id={self.client_id!r}, base_url={self.base_url!r})"


_clients: dict[tuple[Any, ...], FireworkClient] = {}
_clients_pid = os.getpid()
_clients_lock = threading.Lock()


def _client_for(credentials: FireworkCredentials) -> FireworkClient:
    """One client per process per credentials; rebuilt after fork (sockets don't survive it)."""
    global _clients_pid
    from prefect_firework.client import FireworkClient

    key = credentials.client_key()
    with _clients_lock:
        if _clients_pid != os.getpid():
            _clients.clear()
            _clients_pid = os.getpid()
        client = _clients.get(key)
        if client is None or client.closed:
            client = FireworkClient(
                credentials.client_id,
                credentials.client_secret,
                base_url=credentials.base_url,
                token_url=credentials.resolved_token_url,
                scopes=credentials.scopes,
                timeout=credentials.timeout,
            )
            _clients[key] = client
        return client


def resolve_credentials(
    credentials: FireworkCredentials | str | None = None,
    *,
    settings: FireworkSettings | None = None,
) -> FireworkCredentials:
    """Find the credentials to use, in this order:

    1. ``credentials`` itself (a block, or the name of a saved block);
    2. the block named by ``FIREWORK_CREDENTIALS_BLOCK``;
    3. ``FIREWORK_CLIENT_ID`` / ``FIREWORK_CLIENT_SECRET`` (+ ``FIREWORK_BASE_URL``...);
    4. otherwise a ``CredentialsNotFoundError`` that says what to set.
    """
    if isinstance(credentials, FireworkCredentials):
        return credentials
    if isinstance(credentials, str):
        return FireworkCredentials.load(credentials)  # type: ignore[return-value]
    if credentials is not None:
        raise TypeError(
            f"credentials must be a FireworkCredentials block or a block name, "
            f"not {type(credentials).__name__}"
        )
    settings = settings or FireworkSettings()
    if settings.credentials_block:
        return FireworkCredentials.load(settings.credentials_block)  # type: ignore[return-value]
    if settings.client_id and settings.client_secret:
        return FireworkCredentials(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            base_url=settings.base_url,
            token_url=settings.token_url,
            scopes=settings.scopes,
            timeout=settings.timeout,
        )
    raise CredentialsNotFoundError(
        "No Firework credentials found. Pass credentials=FireworkCredentials(...) or a saved "
        "block name, set FIREWORK_CREDENTIALS_BLOCK to a saved block's name, or set "
        "FIREWORK_CLIENT_ID and FIREWORK_CLIENT_SECRET (and FIREWORK_BASE_URL for a "
        "non-default API) in the environment or a .env file."
    )
