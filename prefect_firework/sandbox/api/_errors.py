"""How the API says no: ``ApiError`` and the exception handlers that render every error.

Every error is ``{"error": "<message>"}``, FastAPI's own included (a 422 validation error
becomes a 400, unknown routes 404, wrong methods 405); an injected fault's default body too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

if TYPE_CHECKING:
    from prefect_firework.sandbox.faults import FaultRule

__all__ = ["EXCEPTION_HANDLERS", "ApiError", "api_fault_body", "error_response"]


class ApiError(Exception):
    """An error response of the Firework API: a status, a message and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.headers)


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
