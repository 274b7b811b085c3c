"""From responses to exceptions (``prefect_firework.errors`` holds the classes), and
:func:`is_retryable`, the one rule tasks use to decide on retries."""

from __future__ import annotations

import email.utils
import json
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import httpx

from prefect_firework.errors import (
    AuthenticationError,
    FireworkError,
    FireworkTransportError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    S3UploadError,
    ServerError,
    SourceChangedError,
)

__all__ = [
    "AuthenticationError",
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
    "error_from_response",
    "is_retryable",
    "parse_retry_after",
    "s3_error_from_response",
]

_STATUS_ERRORS: dict[int, type[FireworkError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
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


def __getattr__(name: str) -> Any:
    if name == "ValidationError":  # deprecated: it shadowed pydantic's ValidationError
        import prefect_firework.errors as errors

        return errors.ValidationError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
