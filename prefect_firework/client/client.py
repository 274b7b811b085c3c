"""``FireworkClient``: one method per endpoint of the Firework Video API, plus the S3 side.

Two ``httpx.Client`` instances: one for the API (base URL, connection pool, bearer auth with
refresh-and-replay on 401) and one for presigned S3 URLs with no auth at all, so the token can
only ever travel to the API. Both are thread-safe; one ``FireworkClient`` may serve many threads.

The client does not retry: a failure raises a typed exception (``errors``) and the caller (a
Prefect task) decides with :func:`is_retryable`. The only replay is the single one after a 401,
which refreshes the token first.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, overload
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError

from prefect_firework import _defaults
from prefect_firework._redact import install_log_redaction, redact_url, register_secret
from prefect_firework._version import __version__
from prefect_firework.client import s3
from prefect_firework.client.auth import FireworkAuth, TokenManager
from prefect_firework.client.errors import (
    FireworkError,
    FireworkTransportError,
    error_from_response,
)
from prefect_firework.limits import SUPPORTED_MIME_TYPES
from prefect_firework.models import (
    AccessToken,
    CompletedPart,
    MultipartCompleteRequest,
    MultipartUpload,
    MultipartUploadRequest,
    UploadSignature,
    UploadSignatureRequest,
    Video,
    VideoFromS3Key,
    VideoFromUrl,
    VideoImport,
    VideoMetadata,
    VideoUpdate,
    validate_mime_type,
)
from prefect_firework.sources import SourceVersion

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_SCOPES", "USER_AGENT", "FireworkClient"]

logger = logging.getLogger("prefect_firework.client")
install_log_redaction()

DEFAULT_BASE_URL = _defaults.BASE_URL
DEFAULT_SCOPES = _defaults.SCOPES
USER_AGENT = f"prefect-firework/{__version__}"

Source = str | os.PathLike[str]
M = TypeVar("M", bound=BaseModel)


class FireworkClient:
    """A synchronous, thread-safe client for the Firework Video API and its presigned S3 URLs.

    Use it as a context manager (or call :meth:`close`) so connections are released::

        with FireworkClient(client_id, client_secret, base_url=sandbox.base_url) as fw:
            sig = fw.create_upload_signature(filename="a.mp4", mime_type="video/mp4",
                                             channel_id=channel_id)
            fw.post_to_s3(sig, "a.mp4", mime_type="video/mp4")

    ``timeout`` bounds each API request; ``s3_timeout`` each S3 transfer (uploads are large).
    ``transport``/``s3_transport`` replace the httpx transports of the API and S3 clients
    (``httpx.MockTransport`` in tests, a proxy or custom TLS setup in production).
    ``verify=False`` is refused unless ``base_url`` is on loopback (a local sandbox).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        token_url: str | None = None,
        scopes: str = DEFAULT_SCOPES,
        timeout: float = _defaults.REQUEST_TIMEOUT,
        s3_timeout: float = _defaults.S3_TIMEOUT,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        s3_transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not client_id:
            raise ValueError("client_id is required")
        secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        if not secret.get_secret_value():
            raise ValueError("client_secret is required")
        self.base_url = base_url.rstrip("/")
        if not verify and not _is_loopback(self.base_url):
            raise ValueError(
                "TLS verification cannot be turned off for a real endpoint: verify=False is "
                f"only for a sandbox on loopback, not {redact_url(self.base_url)!r}"
            )
        self.token_url = token_url or f"{self.base_url}/oauth/token"
        self.client_id = client_id
        self.scopes = scopes
        headers = {"User-Agent": USER_AGENT}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={**headers, "Accept": "application/json"},
            timeout=timeout,
            verify=verify,
            transport=transport,
        )
        # No auth, ever: presigned URLs carry their own credentials in the query string/form.
        self._s3 = httpx.Client(
            headers=headers, timeout=s3_timeout, verify=verify, transport=s3_transport
        )
        self._tokens = TokenManager(
            self._http,
            token_url=self.token_url,
            client_id=client_id,
            client_secret=secret,
            scopes=scopes,
        )
        self._auth = FireworkAuth(self._tokens, api_origin=self.base_url)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FireworkClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close both connection pools. The client cannot be used afterwards."""
        self._http.close()
        self._s3.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (e.g. at the end of a ``with`` block)."""
        return self._http.is_closed

    def __repr__(self) -> str:
        return f"FireworkClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # -- auth -------------------------------------------------------------------------------

    @property
    def token_manager(self) -> TokenManager:
        """The token cache shared by every request of this client."""
        return self._tokens

    def get_access_token(self) -> AccessToken:
        """The cached access token, fetched on first use and refreshed before it expires."""
        return self._tokens.get_token()

    # -- uploads ----------------------------------------------------------------------------

    def create_upload_signature(
        self, *, filename: str, mime_type: str, channel_id: str
    ) -> UploadSignature:
        """``POST /api/v1/upload_signatures``: presigned POST credentials."""
        body = UploadSignatureRequest(filename=filename, mime_type=mime_type, channel_id=channel_id)
        response = self._request("POST", "/api/v1/upload_signatures", json=body.to_api())
        signature = self._parse(UploadSignature, response)
        register_secret(signature.policy)
        register_secret(signature.signature)
        return signature

    def create_multipart_upload(
        self, *, filename: str, mime_type: str, channel_id: str, parts_count: int
    ) -> MultipartUpload:
        """``POST /api/v1/upload_multipart/signatures``: an upload id and one URL per part."""
        body = MultipartUploadRequest(
            filename=filename, mime_type=mime_type, channel_id=channel_id, parts_count=parts_count
        )
        response = self._request("POST", "/api/v1/upload_multipart/signatures", json=body.to_api())
        return self._parse(MultipartUpload, response)

    def complete_multipart_upload(
        self, *, key: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None:
        """``POST /api/v1/upload_multipart/complete``: assemble the parts (sorted by number)."""
        body = MultipartCompleteRequest(key=key, upload_id=upload_id, parts=list(parts))
        self._request("POST", "/api/v1/upload_multipart/complete", json=body.to_api())

    def post_to_s3(
        self,
        signature: UploadSignature,
        source: Source,
        *,
        mime_type: str,
        size: int | None = None,
        filename: str | None = None,
        transport_params: Mapping[str, Any] | None = None,
        expect: SourceVersion | None = None,
    ) -> None:
        """Stream ``source`` to S3 with the presigned POST of ``signature``.

        ``size`` is required for remote sources unless the sources layer can stat them; local
        files are sized with ``os.path.getsize``. With ``expect`` (the version preflight saw),
        a source that changed is refused with ``SourceChangedError`` before S3 stores it.
        """
        s3.post_to_s3(
            self._s3,
            signature,
            source,
            mime_type=mime_type,
            size=size,
            filename=filename,
            transport_params=transport_params,
            expect=expect,
        )

    def upload_part(
        self,
        put_url: str | SecretStr,
        source: Source,
        offset: int,
        length: int,
        *,
        verify_md5: bool = True,
        transport_params: Mapping[str, Any] | None = None,
        expect: SourceVersion | None = None,
    ) -> str:
        """PUT one part's byte range to its presigned URL; returns S3's (quoted) ETag.

        With ``expect``, a source that is no longer that version is refused
        (``SourceChangedError``) and the part is not stored.
        """
        return s3.put_part(
            self._s3,
            put_url,
            source,
            offset,
            length,
            verify_md5=verify_md5,
            transport_params=transport_params,
            expect=expect,
        )

    # -- videos -----------------------------------------------------------------------------

    def create_video_from_file(
        self,
        source: Source,
        metadata: VideoMetadata,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
        transport_params: Mapping[str, Any] | None = None,
    ) -> Video:
        """``POST /api/v1/videos`` as multipart/form-data: ``metadata`` JSON, then the file.

        Streams the file; the MIME type defaults from the extension (``.mp4``/``.mov``).
        Best for small files; larger ones go through S3 and :meth:`create_video_from_s3_key`.
        """
        name = filename or s3.source_filename(source)
        if mime_type is None:
            extension = os.path.splitext(name)[1].lower()
            if extension not in SUPPORTED_MIME_TYPES:
                raise ValueError(
                    f"cannot infer the MIME type of {name!r}: pass mime_type= "
                    f"(supported extensions: {sorted(SUPPORTED_MIME_TYPES)})"
                )
            mime_type = SUPPORTED_MIME_TYPES[extension]
        validate_mime_type(mime_type)
        total = s3.resolve_size(source, size, transport_params=transport_params)
        body = s3.MultipartFormStream(
            [("metadata", json.dumps(metadata.to_api()))],
            file_field="file",
            filename=name,
            file_content_type=mime_type,
            source=source,
            size=total,
            transport_params=transport_params,
        )
        response = self._request("POST", "/api/v1/videos", content=body, headers=body.headers)
        return self._parse(Video, response)

    @overload
    def create_video_from_url(
        self, url: str, metadata: VideoMetadata, *, asynchronous: Literal[False] = ...
    ) -> Video: ...

    @overload
    def create_video_from_url(
        self, url: str, metadata: VideoMetadata, *, asynchronous: Literal[True]
    ) -> VideoImport: ...

    @overload
    def create_video_from_url(
        self, url: str, metadata: VideoMetadata, *, asynchronous: bool
    ) -> Video | VideoImport: ...

    def create_video_from_url(
        self, url: str, metadata: VideoMetadata, *, asynchronous: bool = False
    ) -> Video | VideoImport:
        """``POST /api/v1/videos`` URL import: 201 returns a ``Video``, 202 a ``VideoImport``.

        The API's URL rules (http(s), a dotted hostname, a path) are checked first.
        """
        body = VideoFromUrl(url=url, asynchronous=asynchronous, metadata=metadata)
        response = self._request("POST", "/api/v1/videos", json=body.to_api())
        if response.status_code == 202:
            return self._parse(VideoImport, response)
        return self._parse(Video, response)

    def create_video_from_s3_key(self, s3_key: str, metadata: VideoMetadata) -> Video:
        """``POST /api/v1/videos`` from an uploaded object's key."""
        body = VideoFromS3Key(s3_key=s3_key, metadata=metadata)
        response = self._request("POST", "/api/v1/videos", json=body.to_api())
        return self._parse(Video, response)

    def get_video_import(self, import_id: str) -> VideoImport:
        """``GET /api/v1/videos/imports/{id}``: the status of an async import."""
        response = self._request("GET", f"/api/v1/videos/imports/{_segment(import_id)}")
        return self._parse(VideoImport, response)

    def get_video(self, video_id: str) -> Video:
        """``GET /api/v1/videos/{id}``."""
        response = self._request("GET", f"/api/v1/videos/{_segment(video_id)}")
        return self._parse(Video, response)

    def update_video(self, video_id: str, update: VideoUpdate) -> Video:
        """``PATCH /api/v1/videos/{id}``: sends only the fields set on ``update``."""
        path = f"/api/v1/videos/{_segment(video_id)}"
        response = self._request("PATCH", path, json=update.to_api())
        return self._parse(Video, response)

    # -- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one API request with auth; raise the mapped error for any non-2xx status."""
        request = self._http.build_request(
            method, path, json=json, content=content, headers=headers
        )
        started = time.perf_counter()
        try:
            response = self._http.send(request, auth=self._auth)
        except httpx.TransportError as exc:
            raise FireworkTransportError.from_httpx(exc, method=method, url=request.url) from exc
        logger.debug(
            "%s %s -> %s (%.0f ms)",
            method,
            redact_url(request.url),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        if response.is_error:
            raise error_from_response(response)
        return response

    @staticmethod
    def _parse(model: type[M], response: httpx.Response) -> M:
        """Validate a response body; a malformed body is a ``FireworkError`` without the body."""
        try:
            return model.model_validate(response.json())
        except (ValueError, PydanticValidationError) as exc:
            if isinstance(exc, PydanticValidationError):
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}"
                    for e in exc.errors(include_input=False, include_url=False)
                )
            else:
                problems = "body is not JSON"
            raise FireworkError(
                f"unexpected {model.__name__} response: {problems}",
                status_code=response.status_code,
                method=response.request.method,
                url=str(response.request.url),
            ) from None


def _is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _segment(value: str) -> str:
    """Quote a path parameter so an id can never add path segments or a query."""
    if not value:
        raise ValueError("an id is required")
    return quote(value, safe="")
