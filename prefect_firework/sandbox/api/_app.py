"""The Firework API as a FastAPI app: routing, body parsing and error shapes only.

Every error is ``{"error": "<message>"}`` - including FastAPI's own (422 validation errors
become 400, unknown routes 404, wrong methods 405) - and the OAuth endpoint answers with RFC
6749 errors (``{"error": "invalid_client"}``). Handlers check the bearer token before reading
the body. Blocking work (moto, downloads, mutagen) runs in the threadpool.

The private prefix ``/_sandbox`` serves inspection and control for tests, unauthenticated:
``GET info|videos|videos/{id}|videos/{id}/product_listings|objects|requests|imports|
multipart_uploads|faults``, ``POST faults|expire_tokens|reset|clock``, ``DELETE faults``,
and ``GET cdn/videos/{id}/{image}`` (the pretend CDN behind thumbnail and poster URLs).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from prefect_firework.sandbox._inspection import Inspector
from prefect_firework.sandbox.api._auth import OAuthError, Principal, authenticate, issue_token
from prefect_firework.sandbox.api._create import UploadedFile, create_video
from prefect_firework.sandbox.api._errors import ApiError
from prefect_firework.sandbox.api._uploads import (
    complete_multipart,
    initiate_multipart,
    upload_signature,
)
from prefect_firework.sandbox.api._videos import find_import, find_video, update_video
from prefect_firework.sandbox.api._views import import_body, video_body, video_get_body
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.faults import SETTLE_KEY, FaultRule

__all__ = ["MAX_JSON_DEPTH", "api_fault_body", "classify_api", "create_api", "parse_json"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def classify_api(method: str, path: str) -> str | None:
    """Endpoint names of the API, for faults and the request log."""
    if method == "POST":
        return {
            "/oauth/token": "token",
            "/api/v1/upload_signatures": "upload_signature",
            "/api/v1/upload_multipart/signatures": "multipart_signatures",
            "/api/v1/upload_multipart/complete": "multipart_complete",
            "/api/v1/videos": "create_video",
        }.get(path)
    if path.startswith("/api/v1/videos/imports/") and path.count("/") == 5:
        return "get_import" if method == "GET" else None
    if path.startswith("/api/v1/videos/") and path.count("/") == 4:
        return {"GET": "get_video", "PATCH": "update_video"}.get(method)
    return None


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


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


#: deepest JSON nesting accepted in a body; the spec's deepest is 3 (``parts[].etag``)
MAX_JSON_DEPTH = 64


def parse_json(raw: bytes | str, what: str = "JSON body") -> Any:
    """``raw`` parsed, or a 400: malformed, or nested deeper than ``MAX_JSON_DEPTH``.

    ``json.loads`` raises ``RecursionError`` (not ``ValueError``) about 1,000 levels down,
    and anything nested nearly that deep would recurse again when encoded, so depth is
    bounded here, with an iterative walk, once for every body.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ApiError(400, f"Malformed {what}: nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, f"Malformed {what}") from exc
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ApiError(
                    400, f"Malformed {what}: nested deeper than {MAX_JSON_DEPTH} levels"
                )
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
    return data


async def _json_object(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(400, "Content-Type must be application/json")
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return data


def _principal(core: Core, request: Request, scope: str) -> Principal:
    principal = authenticate(core.state, request.headers.get("authorization"))
    principal.require(scope)
    return principal


def create_api(core: Core, inspector: Inspector, reset: Callable[[], None]) -> FastAPI:
    """Build the API app for ``core``; ``reset`` is what ``POST /_sandbox/reset`` calls."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

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

    # -- OAuth ---------------------------------------------------------------------------------

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            result = issue_token(
                core.state,
                core.config,
                content_type=request.headers.get("content-type", ""),
                body=body,
                authorization=request.headers.get("authorization"),
            )
        except OAuthError as exc:
            return JSONResponse(
                {"error": exc.code, "error_description": exc.description},
                status_code=exc.status,
                headers={**_NO_STORE, **exc.headers},
            )
        return JSONResponse(result, headers=_NO_STORE)

    # -- uploads -------------------------------------------------------------------------------

    @app.post("/api/v1/upload_signatures")
    async def signatures(request: Request) -> JSONResponse:
        principal = _principal(core, request, "videos:write")
        data = await _json_object(request)
        return JSONResponse(upload_signature(core, principal, data), status_code=201)

    @app.post("/api/v1/upload_multipart/signatures")
    async def multipart_signatures(request: Request) -> JSONResponse:
        principal = _principal(core, request, "videos:write")
        data = await _json_object(request)
        body = await run_in_threadpool(initiate_multipart, core, principal, data)
        return JSONResponse(body, status_code=201)

    @app.post("/api/v1/upload_multipart/complete")
    async def multipart_complete(request: Request) -> Response:
        principal = _principal(core, request, "videos:write")
        data = await _json_object(request)
        await run_in_threadpool(complete_multipart, core, principal, data)
        return Response(status_code=204)

    # -- videos --------------------------------------------------------------------------------

    @app.post("/api/v1/videos")
    async def create(request: Request) -> JSONResponse:
        principal = _principal(core, request, "videos:write")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            status, body = await _create_from_form(core, principal, request)
        else:
            data = await _json_object(request)
            status, body = await run_in_threadpool(create_video, core, principal, data)
        timeout = request.scope.get(SETTLE_KEY)
        if status == 202 and timeout:
            body = await _settled_import(core, body, timeout)
        return JSONResponse(body, status_code=status)

    @app.get("/api/v1/videos/imports/{import_id}")
    async def get_import(import_id: str, request: Request) -> JSONResponse:
        principal = _principal(core, request, "videos:read")
        with core.state.locked():
            body = import_body(find_import(core, principal, import_id))
        return JSONResponse(body)

    @app.get("/api/v1/videos/{video_id}")
    async def get_video(video_id: str, request: Request) -> JSONResponse:
        principal = _principal(core, request, "videos:read")
        now = core.state.now()
        with core.state.locked():
            body = video_get_body(core, find_video(core, principal, video_id), now)
        return JSONResponse(body)

    @app.patch("/api/v1/videos/{video_id}")
    async def patch_video(video_id: str, request: Request) -> JSONResponse:
        principal = _principal(core, request, "videos:write")
        data = await _json_object(request)
        video = await run_in_threadpool(update_video, core, principal, video_id, data)
        with core.state.locked():
            body = video_body(video)
        return JSONResponse(body)

    _private_routes(app, core, inspector, reset)
    return app


async def _settled_import(core: Core, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    """``answer_when_settled``: the 202's import job once it left ``running`` (or at the
    timeout), rendered now rather than when the job was created."""
    deadline = time.monotonic() + timeout
    while True:
        with core.state.locked() as state:
            job = state.imports.get(body["id"])
            if job is None:  # reset meanwhile: nothing newer to tell
                return body
            if job.status != "running" or time.monotonic() >= deadline:
                return import_body(job)
        await asyncio.sleep(0.01)


async def _create_from_form(
    core: Core, principal: Principal, request: Request
) -> tuple[int, dict[str, Any]]:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except (StarletteHTTPException, ValueError) as exc:
        raise ApiError(400, "Malformed multipart/form-data body") from exc
    try:
        metadata = form.get("metadata")
        upload = form.get("file")
        if not isinstance(metadata, str):
            raise ApiError(400, "metadata is required (a JSON string)")
        data = parse_json(metadata, "metadata JSON")
        if not isinstance(data, dict):
            raise ApiError(400, "metadata must be a JSON object")
        if isinstance(upload, str):  # a part without a filename (or filename="") is a field
            raise ApiError(400, "file must be a file part named .mp4 or .mov (it had no filename)")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "file is required")
        uploaded = UploadedFile(
            file=upload.file,
            filename=upload.filename or "",
            content_type=upload.content_type,
        )
        return await run_in_threadpool(create_video, core, principal, data, uploaded)
    finally:
        await form.close()


def _private_routes(
    app: FastAPI, core: Core, inspector: Inspector, reset: Callable[[], None]
) -> None:
    """``/_sandbox``: inspection and control for tests (no auth; loopback only)."""

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
            raise ApiError(404, "Video not found") from None

    @app.get("/_sandbox/videos/{video_id}/product_listings")
    def product_listings(video_id: str) -> list[dict[str, Any]]:
        try:
            return inspector.product_listings(video_id)
        except KeyError:
            raise ApiError(404, "Video not found") from None

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
            raise ApiError(400, str(exc)) from exc
        return core.faults.active()

    @app.delete("/_sandbox/faults", status_code=204)
    def clear_faults() -> Response:
        core.faults.clear()
        return Response(status_code=204)

    @app.post("/_sandbox/expire_tokens")
    def expire_tokens() -> dict[str, int]:
        from prefect_firework.sandbox.api._auth import expire_all

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
            raise ApiError(400, 'expected {"advance": seconds >= 0}') from exc
        return {"now": core.state.now()}

    @app.get("/_sandbox/cdn/videos/{video_id}/{name}")
    def cdn(video_id: str, name: str) -> Response:
        media_type, data = inspector.cdn_image(video_id, name)
        return Response(data, media_type=media_type)
