"""The Firework API as a FastAPI app: its routes read from the route table, its error shapes.

Every error is ``{"error": "<message>"}`` - including FastAPI's own (422 validation errors
become 400, unknown routes 404, wrong methods 405) - and the OAuth endpoint answers with RFC
6749 errors (``{"error": "invalid_client"}``). The private prefix ``/_sandbox`` serves
inspection and control for tests (``api._private``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from prefect_firework.sandbox.api._errors import ApiError
from prefect_firework.sandbox.api._handlers import Handlers
from prefect_firework.sandbox.api._private import add_private_routes
from prefect_firework.sandbox.api._routes import ROUTES
from prefect_firework.sandbox.engine._core import Core

if TYPE_CHECKING:
    from prefect_firework.sandbox._inspection import Inspector

__all__ = ["create_api"]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_api(core: Core, inspector: Inspector, reset: Callable[[], None]) -> FastAPI:
    """Build the API app for ``core``; ``reset`` is what ``POST /_sandbox/reset`` calls."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(app)
    handlers = Handlers(core)
    for route in ROUTES:
        app.add_api_route(route.path, getattr(handlers, route.endpoint), methods=[route.method])
    add_private_routes(app, core, inspector, reset)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(400, f"Invalid request: {where} {first.get('msg', '')}".strip())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # the client went away mid-body (a timeout, a test closing early): nobody to answer,
        # and not a sandbox error worth a traceback; 499 is nginx's "client closed request"
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, "Internal server error")
