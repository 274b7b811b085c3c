"""Every public exception of prefect-firework, under one root.

``except PrefectFireworkError`` catches anything this package raises on purpose::

    PrefectFireworkError
    ├── FireworkError                 the API or S3 answered an error, or nothing answered
    │   ├── AuthenticationError       401: the token or the client credentials were refused
    │   ├── PermissionDeniedError     403: a missing scope, or another business's channel
    │   ├── NotFoundError             404: channel, video, import job or membership
    │   ├── InvalidRequestError       400 / 422: the API refused the parameters
    │   ├── PayloadTooLargeError      413: the assembled upload is too large
    │   ├── RateLimitedError          429: the channel's create budget is spent
    │   ├── ServerError               5xx
    │   ├── S3UploadError             S3 refused an upload, or its integrity check failed
    │   ├── SourceChangedError        the source changed or shrank during its upload
    │   └── FireworkTransportError    no response: refused, reset, timed out
    ├── CredentialsNotFoundError      no credentials given, named or configured
    ├── SourceError                   a source cannot be read as asked
    │   └── PreflightError            a source breaks the API's rules (type, size, duration)
    ├── ContainerError                the bytes are not a readable MP4/QuickTime container
    ├── ManifestError                 a manifest file cannot be read (bad rows are results)
    ├── LedgerError                   the ledger cannot be read or written
    │   └── LedgerLockTimeout         another run held a row's key past the deadline
    ├── MultipartUploadFailed         parts could not be uploaded; names the upload left open
    ├── ImportFailedError             an async import ended ``errored``
    ├── ImportTimeoutError            an async import did not finish before the deadline
    └── RowErrorsFound                no row succeeded (or one failed, ``fail_on_row_errors``)

``ValidationError`` is a deprecated alias of ``InvalidRequestError`` (it shadowed pydantic's).
Every exception pickles with its attributes: Prefect ships task exceptions between processes.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from prefect_firework._redact import redact, redact_url

if TYPE_CHECKING:
    import httpx

    from prefect_firework.models import VideoImport

__all__ = [
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
    "PrefectFireworkError",
    "PreflightError",
    "RateLimitedError",
    "RowErrorsFound",
    "S3UploadError",
    "ServerError",
    "SourceChangedError",
    "SourceError",
]

_MAX_MESSAGE = 1000


class PrefectFireworkError(Exception):
    """The root of every exception prefect-firework raises on purpose."""


# ---------------------------------------------------------------------- the client's


class FireworkError(PrefectFireworkError):
    """An error from the Firework API or S3, or no answer at all.

    ``status_code`` is the HTTP status (``None`` when no response arrived), ``message`` the
    server's explanation (``{"error": ...}`` for the API, ``<Message>`` for S3), ``method`` and
    ``url`` the request's, with the URL redacted. The httpx request and response (whose
    headers hold the bearer token) are not kept.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.message = redact(message)[:_MAX_MESSAGE]
        self.status_code = status_code
        self.method = method
        self.url = redact_url(url) if url is not None else None
        super().__init__(self.message)

    def __str__(self) -> str:
        head = f"{self.status_code} " if self.status_code is not None else ""
        where = ""
        if self.method or self.url:
            where = f" ({' '.join(p for p in (self.method, self.url) if p)})"
        return f"{head}{self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the (already redacted) message, then restore every attribute as it was.
        return (type(self), (self.message,), self.__dict__.copy())

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        self.__dict__.update(state or {})


class AuthenticationError(FireworkError):
    """401: the token is missing, invalid or expired even after one refresh, or the client
    credentials were rejected by the token endpoint."""


class PermissionDeniedError(FireworkError):
    """403: the credentials lack the scope, or the channel belongs to another business."""


class NotFoundError(FireworkError):
    """404: channel, video, import job or membership not found."""


class InvalidRequestError(FireworkError):
    """400 or 422: the API refused the request's parameters (never retried)."""


class PayloadTooLargeError(FireworkError):
    """413: the assembled upload exceeds the maximum size."""


class RateLimitedError(FireworkError):
    """429: the per-channel create limit (20 videos per 5 minutes) is exhausted.

    ``retry_after`` is the server's ``Retry-After`` in seconds, or ``None`` when it sent none
    (the API promises none; callers back off instead).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 429,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, method=method, url=url)
        self.retry_after = retry_after


class ServerError(FireworkError):
    """5xx: a failure on the API side; safe to retry except on a create (``create_outcome``)."""


class S3UploadError(FireworkError):
    """An upload to S3 failed: S3's error (``code`` such as ``AccessDenied``, ``EntityTooSmall``,
    ``BadDigest``) or an integrity failure seen by the client (``ETagMismatch``,
    ``MissingETag``).

    A 403 means the presigned URL is invalid or expired: the caller must get new signatures
    (for a multipart upload, a new upload) rather than retry the same URL.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str | None = None,
        url: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, method=method, url=url)
        self.code = code

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.code}: {base}" if self.code else base


class SourceChangedError(FireworkError):
    """The source changed since it was sized, or gave fewer bytes than planned.

    Raised before the body completes, so S3 never stores a partial or mixed object, and before
    any complete. Retrying the same plan cannot help; rerun to upload the current version.
    """


#: transport failures that happen before any byte of the request reached the server
_NOT_SENT_NAMES = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})


class FireworkTransportError(FireworkError):
    """No HTTP response: connection refused or reset, DNS failure, timeout. Safe to retry.

    ``cause`` names the httpx exception type (``ConnectError``, ``ReadTimeout``, ...);
    ``maybe_sent`` is False only when the request certainly never reached the server
    (connect failure or timeout, pool timeout), which is what decides whether a
    non-idempotent create may be repeated. Both survive pickling, unlike ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str | None = None,
        url: str | None = None,
        cause: str | None = None,
        maybe_sent: bool = True,
    ) -> None:
        super().__init__(message, status_code=status_code, method=method, url=url)
        self.cause = cause
        self.maybe_sent = maybe_sent

    @classmethod
    def from_httpx(
        cls, exc: httpx.TransportError, *, method: str, url: Any
    ) -> FireworkTransportError:
        """Wrap an httpx transport error; its text is redacted, its request is not kept."""
        detail = str(exc) or "no detail"
        name = type(exc).__name__
        return cls(
            f"{name}: {detail}",
            method=method,
            url=str(url),
            cause=name,
            maybe_sent=name not in _NOT_SENT_NAMES,
        )


# ---------------------------------------------------------------------- the rest


class CredentialsNotFoundError(PrefectFireworkError, RuntimeError):
    """No credentials were given, named or configured."""


class SourceError(PrefectFireworkError):
    """A source could not be read as asked (missing, forbidden, truncated, changed...).

    ``source`` is the redacted URI (safe to log); ``rule`` is a short machine name such as
    ``"unreadable"``, ``"range_unsupported"``, ``"truncated"`` or ``"changed"``; ``message``
    is the human part. ``str(error)`` reads ``"<source>: <message> (rule: <rule>)"``.
    """

    def __init__(self, source: str, rule: str, message: str) -> None:
        super().__init__(source, rule, message)
        self.source = source
        self.rule = rule
        self.message = message

    def __str__(self) -> str:
        return f"{self.source}: {self.message} (rule: {self.rule})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.rule, self.message))


class PreflightError(SourceError):
    """A source refused before any upload because it breaks one of the API's rules.

    ``rule`` is one of ``"mime_type"``, ``"min_file_size"``, ``"max_file_size"``,
    ``"min_duration"``, ``"max_duration"``, ``"unreadable"`` or ``"container"``.
    """


class ContainerError(PrefectFireworkError, ValueError):
    """The bytes are not a readable MP4/QuickTime container (or its duration is unknown)."""


class ManifestError(PrefectFireworkError, ValueError):
    """The manifest file cannot be read (unknown extension, not UTF-8, not CSV/JSON/Parquet).

    Bad *rows* are never an exception: they become ``invalid`` results.
    """


class LedgerError(PrefectFireworkError, RuntimeError):
    """The ledger cannot be read or written reliably (never read as "no entry")."""


class LedgerLockTimeout(LedgerError, TimeoutError):
    """Another holder kept the key's lock for longer than the timeout."""


class MultipartUploadFailed(PrefectFireworkError, RuntimeError):
    """Parts could not all be uploaded. Names the upload left open, so no orphan goes
    unreported (the API has no abort call; an S3 lifecycle rule cleans such uploads up)."""

    def __init__(self, message: str, key: str, upload_id: str) -> None:
        super().__init__(f"{message} (multipart upload {upload_id} for key {key} left open)")
        self.message = message
        self.key = key
        self.upload_id = upload_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.key, self.upload_id))


class ImportFailedError(PrefectFireworkError, RuntimeError):
    """An async import ended ``errored``; ``video_import`` is the job as last read."""

    def __init__(self, video_import: VideoImport) -> None:
        self.video_import = video_import
        detail = f": {video_import.error}" if getattr(video_import, "error", None) else ""
        super().__init__(f"video import {video_import.id} errored{detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.video_import,))


class ImportTimeoutError(PrefectFireworkError, TimeoutError):
    """An async import did not finish before the deadline (it may still complete)."""


class RowErrorsFound(PrefectFireworkError, RuntimeError):
    """Raised at the end of a batch that did nothing useful (no row succeeded and at least one
    failed or was refused), or when ``fail_on_row_errors=True`` and any row did not succeed.

    ``results`` is the results table, already written to ``output=`` and the artifacts.
    """

    def __init__(self, message: str, results: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.results = results

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.results))


def __getattr__(name: str) -> Any:
    if name == "ValidationError":
        warnings.warn(
            "prefect_firework's ValidationError is now InvalidRequestError (it shadowed "
            "pydantic's ValidationError)",
            DeprecationWarning,
            stacklevel=2,
        )
        return InvalidRequestError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
