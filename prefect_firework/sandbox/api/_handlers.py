"""The API's HTTP handling: one method per endpoint of the route table, named for it.

Each handler checks the bearer token and its scope before reading the body, parses the body
(JSON, or the multipart form of a file create), hands the work to the operation (blocking work
- moto, downloads, mutagen - runs in the threadpool) and renders the answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from prefect_firework.sandbox.api._auth import Principal, authenticate, issue_token
from prefect_firework.sandbox.api._create import UploadedFile, create_video
from prefect_firework.sandbox.api._errors import NO_STORE, BadRequest
from prefect_firework.sandbox.api._uploads import (
    complete_multipart,
    initiate_multipart,
    upload_signature,
)
from prefect_firework.sandbox.api._validation import parse_json
from prefect_firework.sandbox.api._videos import find_import, find_video, update_video
from prefect_firework.sandbox.api._views import import_body, video_body, video_get_body
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.faults import SETTLE_KEY

__all__ = ["Handlers"]


async def _json_object(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise BadRequest("Content-Type must be application/json")
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return data


class Handlers:
    """The endpoints of ``api._routes.ROUTES``, for one sandbox's ``Core``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _principal(self, request: Request, scope: str) -> Principal:
        principal = authenticate(self.core.state, request.headers.get("authorization"))
        principal.require(scope)
        return principal

    # -- OAuth ---------------------------------------------------------------------------------

    async def token(self, request: Request) -> JSONResponse:
        result = issue_token(
            self.core.state,
            self.core.config,
            content_type=request.headers.get("content-type", ""),
            body=await request.body(),
            authorization=request.headers.get("authorization"),
        )
        return JSONResponse(result, headers=NO_STORE)

    # -- uploads -------------------------------------------------------------------------------

    async def upload_signature(self, request: Request) -> JSONResponse:
        principal = self._principal(request, "videos:write")
        data = await _json_object(request)
        return JSONResponse(upload_signature(self.core, principal, data), status_code=201)

    async def multipart_signatures(self, request: Request) -> JSONResponse:
        principal = self._principal(request, "videos:write")
        data = await _json_object(request)
        body = await run_in_threadpool(initiate_multipart, self.core, principal, data)
        return JSONResponse(body, status_code=201)

    async def multipart_complete(self, request: Request) -> Response:
        principal = self._principal(request, "videos:write")
        data = await _json_object(request)
        await run_in_threadpool(complete_multipart, self.core, principal, data)
        return Response(status_code=204)

    # -- videos --------------------------------------------------------------------------------

    async def create_video(self, request: Request) -> JSONResponse:
        principal = self._principal(request, "videos:write")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            status, body = await self._create_from_form(principal, request)
        else:
            data = await _json_object(request)
            status, body = await run_in_threadpool(create_video, self.core, principal, data)
        timeout = request.scope.get(SETTLE_KEY)
        if status == 202 and timeout:
            body = await self._settled_import(body, timeout)
        return JSONResponse(body, status_code=status)

    async def get_import(self, import_id: str, request: Request) -> JSONResponse:
        principal = self._principal(request, "videos:read")
        with self.core.state.locked():
            body = import_body(find_import(self.core, principal, import_id))
        return JSONResponse(body)

    async def get_video(self, video_id: str, request: Request) -> JSONResponse:
        principal = self._principal(request, "videos:read")
        now = self.core.state.now()
        with self.core.state.locked():
            body = video_get_body(self.core, find_video(self.core, principal, video_id), now)
        return JSONResponse(body)

    async def update_video(self, video_id: str, request: Request) -> JSONResponse:
        principal = self._principal(request, "videos:write")
        data = await _json_object(request)
        video = await run_in_threadpool(update_video, self.core, principal, video_id, data)
        with self.core.state.locked():
            body = video_body(video)
        return JSONResponse(body)

    async def _settled_import(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """``answer_when_settled``: the 202's import job once it left ``running`` (or at the
        timeout), rendered now rather than when the job was created."""
        deadline = time.monotonic() + timeout
        while True:
            with self.core.state.locked() as state:
                job = state.imports.get(body["id"])
                if job is None:  # reset meanwhile: nothing newer to tell
                    return body
                if job.status != "running" or time.monotonic() >= deadline:
                    return import_body(job)
            await asyncio.sleep(0.01)

    async def _create_from_form(
        self, principal: Principal, request: Request
    ) -> tuple[int, dict[str, Any]]:
        try:
            form = await request.form(max_files=1, max_fields=10)
        except (StarletteHTTPException, ValueError) as exc:
            raise BadRequest("Malformed multipart/form-data body") from exc
        try:
            metadata = form.get("metadata")
            upload = form.get("file")
            if not isinstance(metadata, str):
                raise BadRequest("metadata is required (a JSON string)")
            data = parse_json(metadata, "metadata JSON")
            if not isinstance(data, dict):
                raise BadRequest("metadata must be a JSON object")
            if isinstance(upload, str):  # a part without a filename (or filename="") is a field
                raise BadRequest("file must be a file part named .mp4 or .mov (it had no filename)")
            if not isinstance(upload, UploadFile):
                raise BadRequest("file is required")
            uploaded = UploadedFile(
                file=upload.file,
                filename=upload.filename or "",
                content_type=upload.content_type,
            )
            return await run_in_threadpool(create_video, self.core, principal, data, uploaded)
        finally:
            await form.close()
