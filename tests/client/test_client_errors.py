"""Errors: status mapping, pickling, retry rule, and redaction of URLs, text and log records."""

from __future__ import annotations

import email.utils
import logging
import pickle
import time

import httpx
import pytest
from client_fakes import API, CLIENT_SECRET, PART_SIGNATURE, POLICY, SIGNATURE, part_url, s3_error

from prefect_firework._redact import RedactingFilter, register_secret
from prefect_firework.client import (
    AuthenticationError,
    FireworkClient,
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
    install_log_redaction,
    is_retryable,
    redact,
    redact_url,
)
from prefect_firework.client.errors import (
    error_from_response,
    parse_retry_after,
    s3_error_from_response,
)


def api_response(status: int, body: object = None, **headers: str) -> httpx.Response:
    request = httpx.Request("GET", f"{API}/api/v1/videos/v1?access_token=SECRETQUERY123")
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (422, InvalidRequestError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (409, FireworkError),
    ],
)
def test_status_mapping(status: int, cls: type[FireworkError]) -> None:
    exc = error_from_response(api_response(status, {"error": "Channel not found"}))
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.message == "Channel not found"
    assert exc.method == "GET"
    assert "SECRETQUERY123" not in exc.url
    text = str(exc)
    assert str(status) in text and "Channel not found" in text and "GET" in text
    assert "/api/v1/videos/v1" in text and "SECRETQUERY123" not in text


def test_message_fallbacks() -> None:
    oauth = error_from_response(
        api_response(400, {"error": "invalid_scope", "error_description": "bad scope"})
    )
    assert oauth.message == "invalid_scope: bad scope"
    plain = error_from_response(
        httpx.Response(502, text="Bad gateway", request=httpx.Request("GET", API))
    )
    assert plain.message == "Bad gateway"
    empty = error_from_response(httpx.Response(503, request=httpx.Request("GET", API)))
    assert empty.message == "Service Unavailable"


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31
    exc = error_from_response(api_response(429, {"error": "Rate limit"}, **{"Retry-After": "7"}))
    assert isinstance(exc, RateLimitedError) and exc.retry_after == 7.0
    none = error_from_response(api_response(429, {"error": "Rate limit"}))
    assert none.retry_after is None


def test_s3_xml_error() -> None:
    response = s3_error(403, "AccessDenied", "Request has expired")
    response.request = httpx.Request("PUT", part_url(1))
    exc = s3_error_from_response(response)
    assert exc.code == "AccessDenied" and exc.status_code == 403
    assert exc.message == "Request has expired"
    assert PART_SIGNATURE not in str(exc) and "X-Amz" not in str(exc)
    assert "partNumber=1" in str(exc)


ALL_ERRORS = [
    FireworkError("boom", status_code=418, method="GET", url=f"{API}/x"),
    AuthenticationError("bad token", status_code=401, method="GET", url=f"{API}/x"),
    PermissionDeniedError("no", status_code=403),
    NotFoundError("missing", status_code=404),
    InvalidRequestError("bad", status_code=422),
    PayloadTooLargeError("File too large (max 5GB)", status_code=413),
    RateLimitedError("slow down", retry_after=3.5, method="POST", url=f"{API}/api/v1/videos"),
    ServerError("oops", status_code=500),
    S3UploadError("denied", status_code=403, code="AccessDenied", method="PUT", url=part_url(2)),
    SourceChangedError("short"),
    FireworkTransportError("ConnectError: refused", method="GET", url=API, cause="ConnectError"),
]


@pytest.mark.parametrize("exc", ALL_ERRORS, ids=lambda e: type(e).__name__)
def test_errors_pickle(exc: FireworkError) -> None:
    restored = pickle.loads(pickle.dumps(exc))
    assert type(restored) is type(exc)
    assert vars(restored) == vars(exc)
    assert str(restored) == str(exc)
    assert is_retryable(restored) == is_retryable(exc)


def test_is_retryable_table() -> None:
    request = httpx.Request("GET", API)
    retryable = [
        RateLimitedError("x"),
        ServerError("x", status_code=500),
        ServerError("x", status_code=503),
        S3UploadError("SlowDown", status_code=503, code="SlowDown"),
        FireworkTransportError("x"),
        httpx.ConnectError("refused", request=request),
        httpx.ReadTimeout("slow", request=request),
        httpx.RemoteProtocolError("eof", request=request),
        TimeoutError(),
    ]
    never = [
        InvalidRequestError("x", status_code=400),
        InvalidRequestError("x", status_code=422),
        AuthenticationError("x", status_code=401),
        PermissionDeniedError("x", status_code=403),
        NotFoundError("x", status_code=404),
        PayloadTooLargeError("x", status_code=413),
        S3UploadError("x", status_code=403, code="AccessDenied"),
        S3UploadError("x", status_code=200, code="ETagMismatch"),
        SourceChangedError("x"),
        FireworkError("x"),
        ValueError("x"),
        KeyboardInterrupt(),
    ]
    assert all(is_retryable(e) for e in retryable)
    assert not any(is_retryable(e) for e in never)


# -- redaction ----------------------------------------------------------------------------------


def test_redact_url() -> None:
    out = redact_url(part_url(3))
    assert PART_SIGNATURE not in out and "X-Amz" not in out and "AKIAEXAMPLE" not in out
    assert "partNumber=3" in out and "uploadId=UP1" in out
    assert redact_url("https://user:pw123456@h.example.com/p?token=abcdefgh#f") == (
        "https://h.example.com/p?token=[REDACTED]"
    )
    assert redact_url(f"{API}/api/v1/videos/v1") == f"{API}/api/v1/videos/v1"


def test_redact_text() -> None:
    text = (
        f'{{"access_token": "tok-XYZ", "policy": "{POLICY}"}} Authorization: Bearer abc.def '
        f"client_secret={CLIENT_SECRET}&grant_type=client_credentials {part_url(1)}"
        f" X-Amz-Signature={SIGNATURE}"
    )
    out = redact(text)
    for secret in ("tok-XYZ", POLICY, "abc.def", CLIENT_SECRET, PART_SIGNATURE, SIGNATURE):
        assert secret not in out
    assert "grant_type=client_credentials" in out


def test_registered_secrets_are_scrubbed_anywhere() -> None:
    register_secret("an-opaque-value-9Z8Y7X")
    register_secret("short")  # too short to register safely
    assert redact("value is an-opaque-value-9Z8Y7X!") == "value is [REDACTED]!"
    assert redact("short stays") == "short stays"


def test_log_filter_installed_once_and_scrubs_httpx(caplog: pytest.LogCaptureFixture) -> None:
    import prefect_firework.client.client  # noqa: F401  (installs on import)

    install_log_redaction()
    install_log_redaction()
    httpx_logger = logging.getLogger("httpx")
    assert sum(isinstance(f, RedactingFilter) for f in httpx_logger.filters) == 1
    caplog.set_level(logging.DEBUG)
    httpx_logger.info('HTTP Request: %s %s "%s %d %s"', "PUT", part_url(4), "HTTP/1.1", 200, "OK")
    logging.getLogger("httpcore.http11").debug("headers %s", f"Bearer {CLIENT_SECRET}")
    assert PART_SIGNATURE not in caplog.text
    assert CLIENT_SECRET not in caplog.text
    assert "partNumber=4" in caplog.text


def test_transport_error_is_wrapped_and_redacted() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    with (
        FireworkClient(
            "id", CLIENT_SECRET, base_url=API, transport=httpx.MockTransport(refuse)
        ) as fw,
        pytest.raises(FireworkTransportError) as info,
    ):
        fw.get_access_token()
    exc = info.value
    assert is_retryable(exc) and exc.cause == "ConnectError" and exc.maybe_sent is False
    assert "/oauth/token" in str(exc)
    restored = pickle.loads(pickle.dumps(exc))
    assert restored.cause == "ConnectError" and restored.maybe_sent is False
    read_timeout = FireworkTransportError.from_httpx(
        httpx.ReadTimeout("slow"), method="POST", url=f"{API}/api/v1/videos"
    )
    assert read_timeout.maybe_sent is True
