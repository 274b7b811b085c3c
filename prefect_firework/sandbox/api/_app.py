"""The API app factory: the FastAPI app with its error handlers, the routes of the route
table (answered by ``Handlers``) and the private ``/_sandbox`` routes, and the same app inside
the request-log and fault middleware, as the sandbox serves it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI

from prefect_firework.sandbox.api._errors import EXCEPTION_HANDLERS, api_fault_body
from prefect_firework.sandbox.api._handlers import Handlers
from prefect_firework.sandbox.api._private import add_private_routes
from prefect_firework.sandbox.api._routes import ROUTES
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._middleware import Instrument

if TYPE_CHECKING:
    from prefect_firework.sandbox._inspection import Inspector

__all__ = ["create_api", "instrumented_api"]


def create_api(core: Core, inspector: Inspector, reset: Callable[[], None]) -> FastAPI:
    """Build the API app for ``core``; ``reset`` is what ``POST /_sandbox/reset`` calls."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for exc_class, on_error in EXCEPTION_HANDLERS.items():
        app.add_exception_handler(exc_class, on_error)
    handlers = Handlers(core)
    for route in ROUTES:
        app.add_api_route(route.path, getattr(handlers, route.endpoint), methods=[route.method])
    add_private_routes(app, core, inspector, reset)
    return app


def instrumented_api(core: Core, inspector: Inspector, reset: Callable[[], None]) -> Instrument:
    """The API app inside the middleware that logs its requests and injects armed faults."""
    return Instrument(
        create_api(core, inspector, reset),
        state=core.state,
        faults=core.faults,
        routes=ROUTES,
        fault_body=api_fault_body,
    )
