"""The route tables are written once: the API's router, the S3 front and the endpoint names of
faults and the request log all read them, and agree on every path."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from starlette.routing import Match

from prefect_firework.sandbox.api._app import create_api
from prefect_firework.sandbox.api._routes import ROUTES as API_ROUTES
from prefect_firework.sandbox.faults import ENDPOINTS
from prefect_firework.sandbox.s3._routes import ROUTES as S3_ROUTES

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
PATHS = (
    "/",
    "/oauth/token",
    "/api/v1/upload_signatures",
    "/api/v1/upload_multipart/signatures",
    "/api/v1/upload_multipart/complete",
    "/api/v1/videos",
    "/api/v1/videos/",
    "/api/v1/videos/X6Xqd6W",
    "/api/v1/videos/X6Xqd6W/",
    "/api/v1/videos/imports",
    "/api/v1/videos/imports/",
    "/api/v1/videos/imports/abc",
    "/api/v1/videos/imports/abc/def",
    "/api/v1/upload_signatures/extra",
    "/bucket",
    "/bucket/uploads/key.mp4",
)


@pytest.fixture(scope="module")
def app_routes() -> list[Any]:
    app = create_api(core=None, inspector=None, reset=lambda: None)  # type: ignore[arg-type]
    return [r for r in app.router.routes if not getattr(r, "path", "").startswith("/_sandbox")]


def test_the_api_registers_exactly_its_table(app_routes: list[Any]) -> None:
    registered = [(r.path, sorted(r.methods), r.endpoint.__name__) for r in app_routes]
    assert registered == [(r.path, [r.method], r.endpoint) for r in API_ROUTES]


@pytest.mark.parametrize(("method", "path"), list(itertools.product(METHODS, PATHS)))
def test_a_request_is_named_for_the_handler_the_router_sends_it_to(
    app_routes: list[Any], method: str, path: str
) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    handler = next(
        (r.endpoint.__name__ for r in app_routes if r.matches(scope)[0] == Match.FULL), None
    )
    assert API_ROUTES.endpoint(method, path) == handler


def test_the_s3_front_routes_on_the_method_alone() -> None:
    for method, path in itertools.product(METHODS, PATHS):
        expected = {"POST": "s3_post", "PUT": "s3_part"}.get(method)
        assert S3_ROUTES.endpoint(method, path) == expected


def test_faults_target_the_endpoints_of_the_tables() -> None:
    api = [r.endpoint for r in API_ROUTES]
    s3 = [r.endpoint for r in S3_ROUTES]
    assert len(set(api + s3)) == len(api + s3)
    assert set(api + s3) == ENDPOINTS
