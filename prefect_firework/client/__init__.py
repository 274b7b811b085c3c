"""HTTP client for the Firework Video API: no Prefect imports, usable from any script.

>>> from prefect_firework.client import FireworkClient
>>> with FireworkClient(client_id, client_secret) as fw:  # doctest: +SKIP
...     video = fw.get_video("abc123")
"""

from typing import Any

from prefect_firework._redact import install_log_redaction, redact, redact_url
from prefect_firework.client.auth import FireworkAuth, TokenManager
from prefect_firework.client.client import (
    DEFAULT_BASE_URL,
    DEFAULT_SCOPES,
    USER_AGENT,
    FireworkClient,
)
from prefect_firework.client.errors import (
    AuthenticationError,
    FireworkError,
    FireworkTransportError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    S3UploadError,
    ServerError,
    SourceChangedError,
    is_retryable,
)
from prefect_firework.errors import InvalidRequestError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SCOPES",
    "USER_AGENT",
    "AuthenticationError",
    "FireworkAuth",
    "FireworkClient",
    "FireworkError",
    "FireworkTransportError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "S3UploadError",
    "ServerError",
    "SourceChangedError",
    "TokenManager",
    "install_log_redaction",
    "is_retryable",
    "redact",
    "redact_url",
]


def __getattr__(name: str) -> Any:
    if name == "ValidationError":  # deprecated: it shadowed pydantic's ValidationError
        import prefect_firework.errors as errors

        return errors.ValidationError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
