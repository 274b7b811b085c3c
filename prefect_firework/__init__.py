"""Prefect 3 integration for the Firework Video API.

Public names resolve lazily on first access: Prefect imports this package at start-up through
the ``prefect.collections`` entry point, and a client-only user should not pay for the flows.
``prefect block register -m prefect_firework`` still finds the blocks (``dir()`` lists them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_firework._lazy import lazy_exports
from prefect_firework._version import __version__

if TYPE_CHECKING:
    from prefect_firework.blocks import (
        FireworkCredentials,
        FireworkWebhookSecret,
        resolve_credentials,
    )
    from prefect_firework.client import FireworkClient
    from prefect_firework.errors import (
        AuthenticationError,
        ContainerError,
        CredentialsNotFoundError,
        FireworkError,
        FireworkTransportError,
        ImportFailedError,
        ImportTimeoutError,
        InvalidRequestError,
        LedgerError,
        LedgerLockTimeout,
        ManifestError,
        MultipartUploadFailed,
        NotFoundError,
        PayloadTooLargeError,
        PermissionDeniedError,
        PrefectFireworkError,
        PreflightError,
        RateLimitedError,
        RowErrorsFound,
        S3UploadError,
        ServerError,
        SourceChangedError,
        SourceError,
    )
    from prefect_firework.flows import (
        get_videos,
        import_video,
        import_videos,
        update_videos,
        upload_video,
        upload_videos,
    )
    from prefect_firework.settings import FireworkSettings

_EXPORTS: dict[str, str] = {
    "FireworkCredentials": "prefect_firework.blocks",
    "FireworkWebhookSecret": "prefect_firework.blocks",
    "resolve_credentials": "prefect_firework.blocks",
    "FireworkSettings": "prefect_firework.settings",
    "FireworkClient": "prefect_firework.client",
    "PrefectFireworkError": "prefect_firework.errors",
    "upload_video": "prefect_firework.flows",
    "import_video": "prefect_firework.flows",
    "upload_videos": "prefect_firework.flows",
    "import_videos": "prefect_firework.flows",
    "update_videos": "prefect_firework.flows",
    "get_videos": "prefect_firework.flows",
    # every public error, so ``except prefect_firework.NotFoundError`` works from the top
    **dict.fromkeys(
        (
            "AuthenticationError",
            "ContainerError",
            "CredentialsNotFoundError",
            "FireworkError",
            "FireworkTransportError",
            "ImportFailedError",
            "ImportTimeoutError",
            "InvalidRequestError",
            "LedgerError",
            "LedgerLockTimeout",
            "ManifestError",
            "MultipartUploadFailed",
            "NotFoundError",
            "PayloadTooLargeError",
            "PermissionDeniedError",
            "PreflightError",
            "RateLimitedError",
            "RowErrorsFound",
            "S3UploadError",
            "ServerError",
            "SourceChangedError",
            "SourceError",
        ),
        "prefect_firework.errors",
    ),
}

__all__ = [
    "AuthenticationError",
    "ContainerError",
    "CredentialsNotFoundError",
    "FireworkClient",
    "FireworkCredentials",
    "FireworkError",
    "FireworkSettings",
    "FireworkTransportError",
    "FireworkWebhookSecret",
    "ImportFailedError",
    "ImportTimeoutError",
    "InvalidRequestError",
    "LedgerError",
    "LedgerLockTimeout",
    "ManifestError",
    "MultipartUploadFailed",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PrefectFireworkError",
    "PreflightError",
    "RateLimitedError",
    "RowErrorsFound",
    "S3UploadError",
    "ServerError",
    "SourceChangedError",
    "SourceError",
    "__version__",
    "get_videos",
    "import_video",
    "import_videos",
    "resolve_credentials",
    "update_videos",
    "upload_video",
    "upload_videos",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, eager=("__version__",))
