"""The strict S3 front: checks uploads the way AWS does, then stores the bytes.

moto checks almost nothing of a POST upload or a presigned part PUT; this ASGI app checks the
policy, the form, the signatures, expiry, lengths and digests first and answers S3's errors.
Bodies never sit whole in memory: a POST's file is spooled, a part goes to the part store.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._middleware import (
    STATUS_KEY,
    Instrument,
    Receive,
    Scope,
    Send,
    drain,
)
from prefect_firework.sandbox.engine._state import MultipartUpload, PartRecord
from prefect_firework.sandbox.s3._errors import (
    AccessDenied,
    BadDigest,
    EntityTooLarge,
    EntityTooSmall,
    IncompleteBody,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidDigest,
    InvalidPolicyDocument,
    MalformedPOSTRequest,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchUpload,
    NotImplementedHere,
    S3Error,
    SignatureDoesNotMatch,
    s3_fault_body,
)
from prefect_firework.sandbox.s3._forms import FormReader, check_form, form_boundary, read_form
from prefect_firework.sandbox.s3._routes import ROUTES
from prefect_firework.sandbox.s3._sigv4 import ALGORITHM, parse_amz_date, presigned_signature

__all__ = ["S3Front", "instrumented_front"]

_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


async def _send(
    send: Send, status: int, headers: dict[str, str] | None = None, body: bytes = b""
) -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, error: S3Error) -> None:
    await _send(send, error.status, {"Content-Type": "application/xml"}, error.body())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


#: headers a presigned request may carry unsigned: S3 tolerates an unsigned payload hash
_UNSIGNED_OK = frozenset({"x-amz-content-sha256"})


def _refuse_unsigned_headers(scope: Scope, signed: set[str]) -> None:
    """403 if the request carries ``Content-MD5`` or ``x-amz-*`` headers outside ``signed``,
    the way S3 answers a presigned URL used with headers it did not sign."""
    names: list[str] = []
    for raw, _ in scope["headers"]:
        name = raw.decode("latin-1").lower()
        if name in signed or name in _UNSIGNED_OK or name in names:
            continue
        if name == "content-md5" or name.startswith("x-amz-"):
            names.append(name)
    if names:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(names),
        )


def _content_md5(scope: Scope) -> bytes | None:
    """The 16 bytes of a ``Content-MD5`` header, None without one; 400 if it is malformed."""
    value = _header(scope, b"content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise InvalidDigest(**{"Content-MD5": value})
    return digest


def _check_conditions(conditions: list[Any], values: dict[str, str], size: int) -> None:
    """The policy's conditions hold: each ``{name: value}`` equals the form's field (403
    ``AccessDenied``) and the file's size is inside ``content-length-range`` (400
    ``EntityTooSmall`` / ``EntityTooLarge``)."""
    for condition in conditions:
        if isinstance(condition, dict):
            for name, wanted in condition.items():
                if values.get(name.lower()) != wanted:
                    raise AccessDenied(
                        "Invalid according to Policy: Policy Condition failed: "
                        f'["eq", "${name}", "{wanted}"]',
                    )
        elif isinstance(condition, list) and condition[:1] == ["content-length-range"]:
            low, high = int(condition[1]), int(condition[2])
            if size < low:
                raise EntityTooSmall(ProposedSize=size, MinSizeAllowed=low)
            if size > high:
                raise EntityTooLarge(ProposedSize=size, MaxSizeAllowed=high)


@dataclass(frozen=True)
class _PartRequest:
    """A part PUT whose URL and headers checked out: where its body goes, what it must be."""

    upload: MultipartUpload
    upload_id: str
    part: int
    declared: int  # Content-Length
    md5: bytes | None  # Content-MD5, decoded


class S3Front:
    """The ASGI app at ``sb.s3_url``: one method per endpoint of ``s3._routes.ROUTES``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _etag(self, md5: str) -> str:
        """The ETag of bytes whose MD5 is ``md5``: that MD5, or an opaque one (SSE-KMS/-C)."""
        if self.core.config.s3_etags == "md5":
            return md5
        while True:  # 32 hex digits like an MD5, new for every upload, never the MD5
            etag = secrets.token_hex(16)
            if etag != md5:
                return etag

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        route = ROUTES.match(scope["method"], scope["path"])
        try:
            if route is None:
                await drain(receive)
                raise MethodNotAllowed("This front accepts POST and PUT only")
            await getattr(self, route.endpoint)(scope, receive, send)
        except S3Error as error:
            await _send_error(send, error)

    # -- POST upload ---------------------------------------------------------------------------

    async def s3_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST upload of a form the API signed, answered once the whole form is read.

        The form must be exactly ``FORM_ORDER`` (``_forms.check_form``), signed with the
        sandbox's secret over a policy the sandbox issued and not expired, meet the policy's
        conditions, and the file fit its ``content-length-range``. Success: 204 with the ETag.
        """
        cfg = self.core.config
        bucket = scope["path"].strip("/")
        content_type = _header(scope, b"content-type") or ""
        boundary = form_boundary(content_type)
        if boundary is None:
            await drain(receive)
            raise MalformedPOSTRequest()
        form = FormReader(boundary)
        try:
            if not await read_form(form, receive):
                scope[STATUS_KEY] = 400
                return
            if bucket != cfg.bucket:
                raise NoSuchBucket()
            fields = check_form(form)
            self._check_policy(fields, bucket, form.file.size if form.file else 0)
            assert form.file is not None
            upload = form.file
            etag = self._etag(upload.md5)
            await run_in_threadpool(
                functools.partial(
                    self.core.s3.put_object,
                    fields["key"],
                    upload.file,
                    upload.size,
                    fields["content-type"],
                    etag=None if etag == upload.md5 else etag,
                )
            )
            headers = {
                "ETag": f'"{etag}"',
                "Location": f"{self.core.s3_url}/{bucket}/{urllib.parse.quote(fields['key'])}",
            }
            await _send(send, 204, headers)
        finally:
            if form.file is not None:
                form.file.close()

    def _check_policy(self, fields: dict[str, str], bucket: str, size: int) -> None:
        """The form is signed with the sandbox's secret, its policy one the sandbox issued and
        not expired, and the form and the file's size meet the policy's conditions."""
        policy = self._check_post_signature(fields)
        try:
            document = json.loads(base64.b64decode(policy, validate=True))
            expiration = datetime.fromisoformat(document["expiration"].replace("Z", "+00:00"))
            conditions = document["conditions"]
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidPolicyDocument() from exc
        if self.core.state.now() > expiration.astimezone(timezone.utc).timestamp():
            raise AccessDenied("Invalid according to Policy: Policy expired.")
        _check_conditions(conditions, {**fields, "bucket": bucket}, size)

    def _check_post_signature(self, fields: dict[str, str]) -> str:
        """The form's policy, once its algorithm, credential and signature check out and the
        sandbox issued it."""
        identity = self.core.identity
        if fields["x-amz-algorithm"] != ALGORITHM:
            raise InvalidArgument("X-Amz-Algorithm must be AWS4-HMAC-SHA256")
        date8 = identity.owns_credential(fields["x-amz-credential"])
        if date8 is None:
            raise InvalidAccessKeyId()
        policy = fields["policy"]
        expected = identity.sign_policy(policy, date8)
        if not hmac.compare_digest(expected, fields["x-amz-signature"]):
            raise SignatureDoesNotMatch()
        with self.core.state.locked() as state:
            issued = state.posts.get(policy)
        if issued is None:
            raise AccessDenied("Invalid according to Policy: Policy not issued.")
        return policy

    # -- PUT part ------------------------------------------------------------------------------

    async def s3_part(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A part PUT to a URL the API presigned.

        Refused: chunked (501), no Content-Length (411), a URL the sandbox did not sign for this
        host, path and query (403) or one expired (403), unsigned ``Content-MD5``/``x-amz-*``
        headers when ``s3_unsigned_headers="refuse"`` (403), an unknown or finished upload
        (404), a short body (400 ``IncompleteBody``), a malformed or wrong Content-MD5 (400;
        the part is not stored). Success: 200 with the part's ETag (the MD5, or opaque).
        """
        try:
            request = self._check_part_request(scope)
        except S3Error:
            await drain(receive)
            raise
        received = self.core.parts.temp_path(request.upload_id, request.part)
        try:
            digest = await self._receive_part(scope, receive, received, request.declared)
            if digest is None:
                scope[STATUS_KEY] = 400  # IncompleteBody: nobody is left to tell
                return
            size, md5 = digest
            if size != request.declared:
                raise IncompleteBody()
            if request.md5 is not None and md5.digest() != request.md5:
                raise BadDigest(
                    ExpectedDigest=request.md5.hex(),
                    CalculatedDigest=base64.b64encode(md5.digest()).decode(),
                )
            etag = self._etag(md5.hexdigest())
            self._commit_part(request, received, size, etag)
            await _send(send, 200, {"ETag": f'"{etag}"'})
        finally:
            received.unlink(missing_ok=True)

    def _check_part_request(self, scope: Scope) -> _PartRequest:
        """Everything the headers and URL of a part PUT decide, before its body is read."""
        transfer_encoding = (_header(scope, b"transfer-encoding") or "").lower()
        if "chunked" in transfer_encoding:
            raise NotImplementedHere(Header="Transfer-Encoding")
        length_header = _header(scope, b"content-length")
        if length_header is None:
            raise MissingContentLength()
        declared = int(length_header)
        key, upload_id, part = self._check_presigned(scope)
        if self.core.config.s3_unsigned_headers == "refuse":
            _refuse_unsigned_headers(scope, signed={"host"})
        expected_md5 = _content_md5(scope)
        with self.core.state.locked() as state:
            upload = state.uploads.get(upload_id)
            if upload is None or upload.key != key or upload.status != "open":
                raise NoSuchUpload()
        return _PartRequest(upload, upload_id, part, declared, expected_md5)

    @staticmethod
    async def _receive_part(
        scope: Scope, receive: Receive, received: Path, declared: int
    ) -> tuple[int, Any] | None:
        """Write the body to ``received``: ``(size, md5)``, or None if the client went away."""
        digest = hashlib.md5()
        size = 0
        with received.open("wb") as sink:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                sink.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if size > declared or not message.get("more_body", False):
                    return size, digest

    def _commit_part(self, request: _PartRequest, received: Path, size: int, etag: str) -> None:
        """Make ``received`` the part, unless the upload was completed meanwhile (404)."""
        upload = request.upload
        with self.core.state.locked() as state:
            if upload.status != "open":
                raise NoSuchUpload("The upload was completed meanwhile.")
            self.core.parts.commit(request.upload_id, request.part, received)
            upload.parts[request.part] = PartRecord(request.part, size, etag, state.now())

    def _check_presigned(self, scope: Scope) -> tuple[str, str, int]:
        """Verify a presigned part URL; return ``(key, upload id, part number)``."""
        core = self.core
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw_path_str = raw_path.decode("latin-1").split("?", 1)[0]
        bucket, _, key = urllib.parse.unquote(raw_path_str).lstrip("/").partition("/")
        pairs = urllib.parse.parse_qsl(
            scope["query_string"].decode("latin-1"), keep_blank_values=True
        )
        params = dict(pairs)
        denied = AccessDenied(
            "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature parameters.",
        )
        if len(params) != len(pairs) or any(p not in params for p in _PRESIGN_PARAMS):
            raise denied
        if params["X-Amz-Algorithm"] != ALGORITHM or params["X-Amz-SignedHeaders"] != "host":
            raise denied
        date8 = core.identity.owns_credential(params["X-Amz-Credential"])
        if date8 is None:
            raise InvalidAccessKeyId()
        signature = params.pop("X-Amz-Signature")
        expected = presigned_signature(
            core.identity,
            method="PUT",
            host=_header(scope, b"host") or "",
            raw_path=raw_path_str,
            params=params,
            stamp=params["X-Amz-Date"],
        )
        if not hmac.compare_digest(expected, signature):
            raise SignatureDoesNotMatch()
        signed_at = parse_amz_date(params["X-Amz-Date"])
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise denied from None
        if signed_at is None or core.state.now() > signed_at + expires:
            raise AccessDenied("Request has expired")
        if bucket != core.config.bucket:
            raise NoSuchBucket()
        try:
            part = int(params["partNumber"])
            upload_id = params["uploadId"]
        except (KeyError, ValueError):
            raise denied from None
        return key, upload_id, part


def instrumented_front(core: Core) -> Instrument:
    """The front inside the middleware that logs its requests and injects armed faults."""
    return Instrument(
        S3Front(core),
        state=core.state,
        faults=core.faults,
        routes=ROUTES,
        fault_body=s3_fault_body,
    )
