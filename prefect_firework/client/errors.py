"""The client's exceptions, and :func:`is_retryable`, the one rule tasks use to decide on retries.

Each exception carries what a person needs to act on it (status, the API's message, method and
URL) and nothing a person must not see: the URL is redacted, the message is scrubbed, and the
httpx request/response (whose headers hold the bearer token) are not kept. Every exception pickles
(Prefect ships task exceptions between processes): ``__reduce__`` rebuilds it from its message and
restores the attributes from its ``__dict__``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import httpx

from prefect_firework.client.redact import redact, redact_url

__all__ = [
    "AuthenticationError",
    "FireworkError",
    "FireworkTransportError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "S3UploadError",
    "ServerError",
    "SourceChangedError",
    "ValidationError",
    "error_from_response",
    "is_retryable",
    "parse_retry_after",
    "s3_error_from_response",
]

_MAX_MESSAGE = 1000


class FireworkError(Exception):
    """Base class of every error this client raises (besides pydantic's on bad input).

    ``status_code`` is the HTTP status (``None`` when no response arrived), ``message`` the
    server's explanation (``{"error": ...}`` for the API, ``<Message>`` for S3), ``method`` and
    ``url`` the request's, with the URL redacted.
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class AuthenticationError(FireworkError):
    """401: the token is missing, invalid or expired even after one refresh, or the client
    credentials were rejected by the token endpoint."""


class PermissionDeniedError(FireworkError):
    """403: the credentials lack the scope, or the channel belongs to another business."""


class NotFoundError(FireworkError):
    """404: channel, video, import job or membership not found."""


class ValidationError(FireworkError):
    """400 or 422: the API rejected the request's parameters (never retried)."""


class PayloadTooLargeError(FireworkError):
    """413: the assembled upload exceeds the maximum size."""


class RateLimitedError(FireworkError):
    """429: the per-channel create limit (20 videos per 5 minutes) is exhausted.

    ``retry_after`` is the server's ``Retry-After`` in seconds, or ``None`` when it sent none
    (the spec documents none; callers fall back to the rate-limit window).
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
    """5xx: a transient failure on the API side; safe to retry."""


class S3UploadError(FireworkError):
    """An upload to S3 failed: S3's error (``code`` such as ``AccessDenied``, ``EntityTooSmall``,
    ``SignatureDoesNotMatch``) or an integrity failure detected by the client
    (``code="ETagMismatch"``, ``"MissingETag"``).

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
    """The source gave fewer bytes than planned: it was truncated or replaced mid-upload.

    Raised before the short body is completed, so S3 never stores a partial object. Retrying
    the same plan cannot help; the caller must re-plan from the source's current size.
    """


class FireworkTransportError(FireworkError):
    """No HTTP response: connection refused or reset, DNS failure, timeout. Safe to retry.

    ``cause`` names the httpx exception type (``ConnectError``, ``ReadTimeout``, ...); the
    original is chained as ``__cause__`` in the process that raised it (``__cause__`` does not
    survive pickling; ``cause`` and ``maybe_sent`` do). ``maybe_sent`` is False only when the
    request certainly never reached the server (connect failure or timeout, pool timeout), which
    is what decides whether a non-idempotent create may be repeated.
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
        cls, exc: httpx.TransportError, *, method: str, url: str | httpx.URL
    ) -> FireworkTransportError:
        """Wrap an httpx transport error; its text is redacted, its request is not kept."""
        detail = str(exc) or "no detail"
        return cls(
            f"{type(exc).__name__}: {detail}",
            method=method,
            url=str(url),
            cause=type(exc).__name__,
            maybe_sent=not isinstance(exc, _NOT_SENT),
        )


#: transport failures that happen before any byte of the request reached the server
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_STATUS_ERRORS: dict[int, type[FireworkError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitedError,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse ``Retry-After``: delta seconds or an HTTP date; ``None`` if absent or unparsable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _api_message(response: httpx.Response) -> str:
    """The API's explanation: ``{"error": ...}`` (plus OAuth's ``error_description``)."""
    text = _body_text(response)
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("error", "message", "detail", "errors"):
            if key in payload:
                value = payload[key]
                message = value if isinstance(value, str) else json.dumps(value)
                description = payload.get("error_description")
                if isinstance(description, str) and description:
                    message = f"{message}: {description}"
                return message
    if text.strip():
        return text.strip()
    return response.reason_phrase or f"HTTP {response.status_code}"


def _body_text(response: httpx.Response, limit: int = 64 * 1024) -> str:
    try:
        content = response.content
    except httpx.ResponseNotRead:
        content = response.read()
    return content[:limit].decode("utf-8", errors="replace")


def error_from_response(response: httpx.Response) -> FireworkError:
    """Map an API error response (4xx/5xx) to the exception class for its status."""
    status = response.status_code
    message = _api_message(response)
    request = response.request
    kwargs: dict[str, Any] = {
        "status_code": status,
        "method": request.method,
        "url": str(request.url),
    }
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    cls = _STATUS_ERRORS.get(status, FireworkError)
    return cls(message, **kwargs)


_XML_TAG = re.compile(r"<(Code|Message)>([^<]*)</\1>")


def parse_s3_error(text: str) -> tuple[str | None, str | None]:
    """Return ``(Code, Message)`` from an S3 XML error document (either may be ``None``)."""
    code = message = None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        found = dict(_XML_TAG.findall(text))
        return found.get("Code"), found.get("Message")
    for child in root.iter():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "Code" and code is None:
            code = (child.text or "").strip() or None
        elif tag == "Message" and message is None:
            message = (child.text or "").strip() or None
    return code, message


def s3_error_from_response(response: httpx.Response) -> S3UploadError:
    """Map an S3 error response (XML body) to :class:`S3UploadError`."""
    text = _body_text(response)
    code, message = parse_s3_error(text) if text.strip() else (None, None)
    request = response.request
    return S3UploadError(
        message or response.reason_phrase or f"HTTP {response.status_code}",
        status_code=response.status_code,
        method=request.method,
        url=str(request.url),
        code=code,
    )


def is_retryable(exc: BaseException) -> bool:
    """True for a 429, a 5xx or a transport failure (no response, timeout); False otherwise.

    This is the single retry rule of the package: tasks pass it as ``retry_condition_fn``.
    400/401/403/404/413/422, integrity failures and changed sources are never retryable; a
    401 has already been refreshed and replayed once by the client.
    """
    if isinstance(exc, (FireworkTransportError, httpx.TransportError, TimeoutError)):
        return True
    if isinstance(exc, RateLimitedError):
        return True
    if isinstance(exc, FireworkError):
        status = exc.status_code
        return status is not None and (status == 429 or 500 <= status <= 599)
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status == 429 or 500 <= status <= 599
    return False
