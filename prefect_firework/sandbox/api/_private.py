"""``/_sandbox``: inspection and control of a sandbox in another process (no auth; loopback).

``GET info|videos|videos/{id}|videos/{id}/product_listings|objects|requests|imports|
multipart_uploads|faults``, ``POST faults|expire_tokens|reset|clock``, ``DELETE faults``, and
``GET cdn/videos/{id}/{image}`` (the pretend CDN behind thumbnail and poster URLs). These are
not endpoints of the route table: the middleware neither logs nor faults them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from prefect_firework.sandbox.api._auth import expire_all
from prefect_firework.sandbox.api._errors import BadRequest, NotFound
from prefect_firework.sandbox.api._validation import parse_json
from prefect_firework.sandbox.engine._core import Core

if TYPE_CHECKING:
    from prefect_firework.sandbox._inspection import Inspector

__all__ = ["add_private_routes"]


def add_private_routes(
    app: FastAPI, core: Core, inspector: Inspector, reset: Callable[[], None]
) -> None:
    """Add the ``/_sandbox`` routes; ``reset`` is what ``POST /_sandbox/reset`` calls."""
    _inspection_routes(app, inspector)
    _control_routes(app, core, reset)

    @app.get("/_sandbox/cdn/videos/{video_id}/{name}")
    def cdn(video_id: str, name: str) -> Response:
        media_type, data = inspector.cdn_image(video_id, name)
        return Response(data, media_type=media_type)


def _inspection_routes(app: FastAPI, inspector: Inspector) -> None:
    @app.get("/_sandbox/info")
    def info() -> dict[str, Any]:
        return inspector.info()

    @app.get("/_sandbox/videos")
    def videos() -> list[dict[str, Any]]:
        return inspector.videos()

    @app.get("/_sandbox/videos/{video_id}")
    def video(video_id: str) -> dict[str, Any]:
        try:
            return inspector.video(video_id)
        except KeyError:
            raise NotFound("Video not found") from None

    @app.get("/_sandbox/videos/{video_id}/product_listings")
    def product_listings(video_id: str) -> list[dict[str, Any]]:
        try:
            return inspector.product_listings(video_id)
        except KeyError:
            raise NotFound("Video not found") from None

    @app.get("/_sandbox/objects")
    def objects() -> list[dict[str, Any]]:
        return inspector.objects()

    @app.get("/_sandbox/requests")
    def requests() -> list[dict[str, Any]]:
        return [r.as_dict() for r in inspector.requests()]

    @app.get("/_sandbox/imports")
    def imports() -> list[dict[str, Any]]:
        return inspector.imports()

    @app.get("/_sandbox/multipart_uploads")
    def multipart_uploads() -> list[dict[str, Any]]:
        return inspector.multipart_uploads()


def _control_routes(app: FastAPI, core: Core, reset: Callable[[], None]) -> None:
    @app.get("/_sandbox/faults")
    def faults() -> list[dict[str, Any]]:
        return core.faults.active()

    @app.post("/_sandbox/faults", status_code=201)
    async def add_fault(request: Request) -> list[dict[str, Any]]:
        spec = parse_json(await request.body())
        specs = spec if isinstance(spec, list) else [spec]
        try:
            for item in specs:
                if not isinstance(item, dict):
                    raise ValueError("each fault must be a JSON object")
                core.faults.apply(item)
        except (ValueError, TypeError) as exc:
            raise BadRequest(str(exc)) from exc
        return core.faults.active()

    @app.delete("/_sandbox/faults", status_code=204)
    def clear_faults() -> Response:
        core.faults.clear()
        return Response(status_code=204)

    @app.post("/_sandbox/expire_tokens")
    def expire_tokens() -> dict[str, int]:
        return {"expired": expire_all(core.state)}

    @app.post("/_sandbox/reset", status_code=204)
    def do_reset() -> Response:
        reset()
        return Response(status_code=204)

    @app.post("/_sandbox/clock")
    async def clock(request: Request) -> dict[str, float]:
        try:
            seconds = float(parse_json(await request.body())["advance"])
            core.state.clock.advance(seconds)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequest('expected {"advance": seconds >= 0}') from exc
        return {"now": core.state.now()}
