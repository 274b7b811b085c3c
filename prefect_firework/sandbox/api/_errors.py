"""How the API says no: one error class per status, and the handlers that render them.

Every error is ``{"error": "<message>"}``, FastAPI's own included (a 422 validation error
becomes a 400, unknown routes 404, wrong methods 405), and so is an injected fault's default
body; the token endpoint answers OAuth errors, ``{"error": code, "error_description": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

if TYPE_CHECKING:
    from prefect_firework.sandbox.faults import FaultRule

__all__ = [
    "EXCEPTION_HANDLERS",
    "NO_STORE",
    "ApiError",
    "BadRequest",
    "Forbidden",
    "InternalServerError",
    "InvalidClient",
    "InvalidRequest",
    "InvalidScope",
    "NotFound",
    "OAuthError",
    "PayloadTooLarge",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedGrantType",
    "api_fault_body",
    "error_response",
]


class ApiError(Exception):
    """An error response of the Firework API: its status, a message and optional headers.

    Raise the class of the status (``NotFound("Video not found")``), not this one.
    """

    status: ClassVar[int] = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ApiError):
    """The request is malformed: unparsable, a wrong JSON type, a missing parameter."""

    status = 400


class Unauthorized(ApiError):
    """No bearer token, or one that is unknown or expired (with ``WWW-Authenticate``)."""

    status = 401


class Forbidden(ApiError):
    """Authenticated, but not allowed: a missing scope, another business's resource."""

    status = 403


class NotFound(ApiError):
    status = 404


class PayloadTooLarge(ApiError):
    status = 413


class UnprocessableEntity(ApiError):
    """The request parses but the video fails validation."""

    status = 422


class TooManyRequests(ApiError):
    status = 429


class InternalServerError(ApiError):
    status = 500


class OAuthError(Exception):
    """An error of the token endpoint, RFC 6749 5.2: ``{"error": code, "error_description"}``.

    Raise the class of the code (``InvalidClient("Client authentication failed")``).
    """

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(self, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = headers or {}


class InvalidRequest(OAuthError):
    code, status = "invalid_request", 400


class InvalidClient(OAuthError):
    code, status = "invalid_client", 401


class UnsupportedGrantType(OAuthError):
    code, status = "unsupported_grant_type", 400


class InvalidScope(OAuthError):
    code, status = "invalid_scope", 400


#: token responses, errors included, are never cached (RFC 6749 5.1)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.headers)


async def _oauth_error(request: Request, exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.code, "error_description": exc.description},
        status_code=exc.status,
        headers={**NO_STORE, **exc.headers},
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(400, f"Invalid request: {where} {first.get('msg', '')}".strip())


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    # the client went away mid-body (a timeout, a test closing early): nobody to answer,
    # and not a sandbox error worth a traceback; 499 is nginx's "client closed request"
    return Response(status_code=499)


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, "Internal server error")


#: exception class -> the handler the app registers for it
EXCEPTION_HANDLERS: dict[type[Exception], Callable[[Request, Any], Awaitable[Response]]] = {
    ApiError: _api_error,
    OAuthError: _oauth_error,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
    ClientDisconnect: _client_gone,
    Exception: _crash,
}


def api_fault_body(rule: FaultRule) -> tuple[str, bytes]:
    """Body of an injected fault on an API endpoint (``{"error": ...}`` unless given)."""
    if rule.body is None:
        return "application/json", json.dumps(
            {"error": f"Injected fault: HTTP {rule.status}"}
        ).encode()
    if isinstance(rule.body, bytes):
        return "application/octet-stream", rule.body
    if isinstance(rule.body, str):
        return "text/plain; charset=utf-8", rule.body.encode()
    return "application/json", json.dumps(rule.body).encode()
