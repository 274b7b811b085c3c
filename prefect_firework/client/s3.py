"""Streaming request bodies for S3 (and the API's file upload) and the two presigned operations.

S3 rejects chunked transfer encoding on presigned POSTs and PUTs, and httpx falls back to chunked
encoding for any body whose size it cannot learn. So the bodies here are ``httpx.SyncByteStream``
objects that know their exact length in advance and are sent with an explicit ``Content-Length``;
the bytes come from :func:`prefect_firework.sources.open_range` in ~1 MiB chunks, so memory stays
at one chunk however large the file. Each body re-opens its source every time it is iterated,
which lets a request be replayed (after a 401 on the API's file upload) without buffering.

A body never sends fewer bytes than it declared: if the source runs dry early (truncated or
replaced since it was sized) iteration raises :class:`SourceChangedError` before the body
completes, so the server sees an aborted request rather than a short object.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from prefect_firework._redact import redact_url, register_secret
from prefect_firework.client.errors import (
    FireworkTransportError,
    S3UploadError,
    SourceChangedError,
    s3_error_from_response,
)
from prefect_firework.models.uploads import UploadSignature, validate_mime_type
from prefect_firework.sources import SourceError, SourceVersion, open_range

__all__ = [
    "CHUNK_SIZE",
    "MultipartFormStream",
    "SourceRangeStream",
    "iter_source_range",
    "post_to_s3",
    "put_part",
    "resolve_size",
    "source_filename",
]

logger = logging.getLogger("prefect_firework.client")

#: read and send size: big enough for throughput, small enough that memory does not matter
CHUNK_SIZE = 1024 * 1024

Source = str | os.PathLike[str]


def iter_source_range(
    source: Source,
    offset: int,
    length: int,
    *,
    chunk_size: int = CHUNK_SIZE,
    transport_params: Mapping[str, Any] | None = None,
    expect: SourceVersion | None = None,
) -> Iterator[bytes]:
    """Yield exactly ``length`` bytes of ``source`` from ``offset``, in chunks of ``chunk_size``.

    Raises :class:`SourceChangedError` if the source ends before ``length`` bytes (whether the
    stream just runs dry or the sources layer reports it as ``SourceError(rule="truncated")``),
    or, given ``expect``, is no longer that version (before the last chunk is yielded, so the
    request carrying it is cut short). Other ``SourceError``s propagate unchanged.
    """
    try:
        yield from _read_range(source, offset, length, chunk_size, transport_params, expect)
    except SourceError as exc:
        if exc.rule != "changed":
            raise
        raise _changed(source, exc) from None


def _read_range(
    source: Source,
    offset: int,
    length: int,
    chunk_size: int,
    transport_params: Mapping[str, Any] | None,
    expect: SourceVersion | None,
) -> Iterator[bytes]:
    remaining = length
    with open_range(
        source, offset, length, transport_params=transport_params, expect=expect
    ) as stream:
        while remaining > 0:
            detail = ""
            try:
                chunk = stream.read(min(chunk_size, remaining))
            except SourceError as exc:
                if exc.rule != "truncated":
                    raise
                chunk, detail = b"", f" ({exc.message})"
            if not chunk:
                raise SourceChangedError(
                    f"source ended {remaining} bytes short of the {length}-byte range starting "
                    f"at {offset}{detail}: it was truncated or replaced since it was sized; "
                    "re-plan the upload from the source's current size",
                    url=_source_label(source),
                )
            remaining -= len(chunk)
            yield chunk


def _changed(source: Source, exc: SourceError) -> SourceChangedError:
    return SourceChangedError(
        f"{exc.message}; nothing of this version is completed or turned into a video: "
        "rerun to upload the current version afresh",
        url=_source_label(source),
    )


def _source_label(source: Source) -> str:
    return redact_url(os.fspath(source))


class SourceRangeStream(httpx.SyncByteStream):
    """``length`` bytes of a source from ``offset``, MD5-hashed as they pass (unless ``md5``
    is false: hashing costs ~1.5 CPU-seconds per GiB).

    ``md5_hexdigest`` and ``bytes_sent`` describe the latest complete iteration.
    """

    def __init__(
        self,
        source: Source,
        offset: int,
        length: int,
        *,
        chunk_size: int = CHUNK_SIZE,
        transport_params: Mapping[str, Any] | None = None,
        md5: bool = True,
        expect: SourceVersion | None = None,
    ) -> None:
        if offset < 0 or length < 0:
            raise ValueError(f"offset and length must be >= 0, got {offset}, {length}")
        self.expect = expect
        self.source = source
        self.offset = offset
        self.length = length
        self.chunk_size = chunk_size
        self.transport_params = transport_params
        self.md5 = md5
        self.md5_hexdigest: str | None = None
        self.bytes_sent = 0

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.md5(usedforsecurity=False) if self.md5 else None
        sent = 0
        self.md5_hexdigest = None
        for chunk in iter_source_range(
            self.source,
            self.offset,
            self.length,
            chunk_size=self.chunk_size,
            transport_params=self.transport_params,
            expect=self.expect,
        ):
            if digest is not None:
                digest.update(chunk)
            sent += len(chunk)
            self.bytes_sent = sent
            yield chunk
        self.md5_hexdigest = digest.hexdigest() if digest is not None else None


_PARAM_ESCAPES = {'"': "%22", "\\": "\\\\"}
_PARAM_ESCAPE_RE = re.compile("|".join([re.escape(c) for c in _PARAM_ESCAPES] + ["[\x00-\x1f]"]))


def _quote_param(value: str) -> str:
    """Quote a form-data ``name``/``filename`` the way browsers (and httpx) do."""

    def replace(match: re.Match[str]) -> str:
        char = match.group(0)
        return _PARAM_ESCAPES.get(char, f"%{ord(char):02X}")

    return _PARAM_ESCAPE_RE.sub(replace, value)


class MultipartFormStream(httpx.SyncByteStream):
    """A ``multipart/form-data`` body: text fields in the given order, then one file, streamed.

    The length is computed up front from the field bytes and the file's size, so the request
    carries an exact ``Content-Length``. The order of ``fields`` is kept: S3 requires the
    policy fields before ``file``, and ``file`` last.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        *,
        file_field: str,
        filename: str,
        file_content_type: str,
        source: Source,
        size: int,
        chunk_size: int = CHUNK_SIZE,
        transport_params: Mapping[str, Any] | None = None,
        boundary: str | None = None,
        expect: SourceVersion | None = None,
    ) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self.expect = expect
        self.boundary = boundary or secrets.token_hex(16)
        self.source = source
        self.size = size
        self.chunk_size = chunk_size
        self.transport_params = transport_params
        delimiter = f"--{self.boundary}\r\n".encode()
        head = bytearray()
        for name, value in fields:
            head += delimiter
            head += f'Content-Disposition: form-data; name="{_quote_param(name)}"\r\n\r\n'.encode()
            head += value.encode("utf-8")
            head += b"\r\n"
        head += delimiter
        head += (
            f'Content-Disposition: form-data; name="{_quote_param(file_field)}"; '
            f'filename="{_quote_param(filename)}"\r\n'
            f"Content-Type: {file_content_type}\r\n\r\n"
        ).encode()
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int:
        return len(self._head) + self.size + len(self._tail)

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.content_length)}

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        if self.size:
            yield from iter_source_range(
                self.source,
                0,
                self.size,
                chunk_size=self.chunk_size,
                transport_params=self.transport_params,
                expect=self.expect,
            )
        yield self._tail


def source_filename(source: Source) -> str:
    """The last path segment of a local path or URI (query and fragment ignored)."""
    text = os.fspath(source)
    if "://" in text:
        text = text.split("://", 1)[1]
        text = text.split("?", 1)[0].split("#", 1)[0]
        text = text.split("/", 1)[1] if "/" in text else ""
    name = text.rstrip("/").rsplit("/", 1)[-1]
    name = os.path.basename(name)
    if not name:
        raise ValueError(f"cannot derive a filename from {redact_url(os.fspath(source))!r}")
    return name


def _is_local(source: Source) -> bool:
    text = os.fspath(source)
    return "://" not in text or text.startswith("file://")


def resolve_size(
    source: Source,
    size: int | None,
    *,
    transport_params: Mapping[str, Any] | None = None,
) -> int:
    """``size`` if given, else the local file's size, else ``stat_source`` of the sources."""
    if size is not None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        return size
    if _is_local(source):
        text = os.fspath(source)
        return os.path.getsize(text[len("file://") :] if text.startswith("file://") else text)
    from prefect_firework import sources

    stat_source = getattr(sources, "stat_source", None)
    if stat_source is None:
        raise ValueError(f"pass size= for the remote source {redact_url(os.fspath(source))!r}")
    return int(stat_source(source, transport_params=transport_params).size)


def _send(http: httpx.Client, request: httpx.Request) -> httpx.Response:
    started = time.perf_counter()
    try:
        response = http.send(request)
    except httpx.TransportError as exc:
        raise FireworkTransportError.from_httpx(
            exc, method=request.method, url=request.url
        ) from exc
    logger.debug(
        "%s %s -> %s (%.0f ms)",
        request.method,
        redact_url(request.url),
        response.status_code,
        (time.perf_counter() - started) * 1000,
    )
    return response


def post_to_s3(
    http: httpx.Client,
    signature: UploadSignature,
    source: Source,
    *,
    mime_type: str,
    size: int | None = None,
    filename: str | None = None,
    transport_params: Mapping[str, Any] | None = None,
    chunk_size: int = CHUNK_SIZE,
    expect: SourceVersion | None = None,
) -> None:
    """Upload ``source`` with a presigned POST: fields in the policy's order, ``file`` last.

    ``http`` must be a client without API auth. Raises :class:`S3UploadError` on S3's refusal
    (403 for a bad or expired signature, 400 for a size outside the policy's limits), and
    :class:`SourceChangedError` (the body cut short) when the source is not ``expect``.
    """
    validate_mime_type(mime_type)
    register_secret(signature.policy)
    register_secret(signature.signature)
    total = resolve_size(source, size, transport_params=transport_params)
    body = MultipartFormStream(
        signature.form_fields(mime_type),
        file_field="file",
        filename=filename or source_filename(source),
        file_content_type=mime_type,
        source=source,
        size=total,
        chunk_size=chunk_size,
        transport_params=transport_params,
        expect=expect,
    )
    request = http.build_request("POST", signature.post_url, content=body, headers=body.headers)
    response = _send(http, request)
    if not response.is_success:
        raise s3_error_from_response(response)


def _bucket_of(url: str) -> str:
    """Which bucket a presigned URL writes to, as far as the URL tells (host + first segment)."""
    parts = httpx.URL(url)
    return f"{parts.host}:{parts.port}/{parts.path.lstrip('/').split('/', 1)[0]}"


#: buckets (see ``_bucket_of``) that refused an unsigned ``Content-MD5``, and buckets whose
#: part ETags are not MD5s (SSE-KMS, SSE-C, some S3-compatible stores); per process
_REFUSES_CONTENT_MD5: set[str] = set()
_OPAQUE_ETAGS: set[str] = set()
_integrity_lock = threading.Lock()


def _part_md5(
    source: Source,
    offset: int,
    length: int,
    chunk_size: int,
    transport_params: Mapping[str, Any] | None,
    expect: SourceVersion | None,
) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter_source_range(
        source,
        offset,
        length,
        chunk_size=chunk_size,
        transport_params=transport_params,
        expect=expect,
    ):
        digest.update(chunk)
    return digest.hexdigest()


def _headers_not_signed(error: S3UploadError) -> bool:
    """S3's refusal of a header the presigned URL did not sign (``Content-MD5`` here)."""
    return error.status_code == 403 and "not signed" in (error.message or "").lower()


def put_part(
    http: httpx.Client,
    put_url: str | SecretStr,
    source: Source,
    offset: int,
    length: int,
    *,
    verify_md5: bool = True,
    transport_params: Mapping[str, Any] | None = None,
    chunk_size: int = CHUNK_SIZE,
    expect: SourceVersion | None = None,
) -> str:
    """PUT ``length`` bytes of ``source`` from ``offset`` to a presigned part URL.

    Returns the ``ETag`` exactly as S3 sent it (quoted), ready for the complete call. With
    ``verify_md5`` a part corrupted on the way is caught on any bucket that lets us
    (docs/RELIABILITY.md, "Integrity on any bucket"):

    - local files are hashed first and sent with ``Content-MD5``, which S3 checks itself
      (``BadDigest``), whatever its ETags are; a bucket that refuses the unsigned header
      (403 "headers ... not signed") is remembered and sent none again;
    - otherwise the ETag must equal the MD5 of the bytes sent. A mismatch sends the part
      once more: a match then was corruption on the way; the same wrong ETag again means S3
      received the same other bytes twice (``ETagMismatch``); a different one means the
      bucket's ETags are not MD5s (SSE-KMS gives every upload a new one), which is
      remembered for the bucket and accepted.

    Raises ``S3UploadError`` with ``code`` ``BadDigest`` or ``ETagMismatch`` when S3 saw
    other bytes than sent, twice.
    """
    url = put_url.get_secret_value() if isinstance(put_url, SecretStr) else put_url
    if length <= 0:
        raise ValueError(f"a part must have at least one byte, got length={length}")
    bucket = _bucket_of(url)
    content_md5: str | None = None
    if verify_md5 and _is_local(source) and bucket not in _REFUSES_CONTENT_MD5:
        content_md5 = _part_md5(source, offset, length, chunk_size, transport_params, expect)
    part = _PartPut(
        http,
        url,
        source,
        offset,
        length,
        verify_md5=verify_md5,
        transport_params=transport_params,
        chunk_size=chunk_size,
        expect=expect,
        bucket=bucket,
        content_md5=content_md5,
    )
    return part.put_verified()


@dataclass(repr=False)  # no repr: ``url`` is a presigned URL
class _PartPut:
    """One part's PUT with what it takes to send it again, so the integrity checks can."""

    http: httpx.Client
    url: str
    source: Source
    offset: int
    length: int
    verify_md5: bool
    transport_params: Mapping[str, Any] | None
    chunk_size: int
    expect: SourceVersion | None
    bucket: str
    content_md5: str | None

    def put_verified(self) -> str:
        """Send the part (twice at most) until S3's answer vouches for its bytes; the ETag."""
        with_md5 = self.content_md5 is not None
        first_etag: str | None = None
        for attempt in (1, 2):
            try:
                etag, sent = self.send_once(with_md5)
            except S3UploadError as exc:
                if with_md5 and _headers_not_signed(exc):
                    self._remember_refuses_content_md5()
                    with_md5 = False
                    etag, sent = self.send_once(False)
                elif exc.code == "BadDigest" and attempt == 1:
                    logger.warning("S3 received other bytes than sent (BadDigest); sending again")
                    continue
                else:
                    raise
            if not self.verify_md5 or with_md5:
                return etag  # no check asked for, or S3 checked the bytes against Content-MD5
            if self._etag_accepted(etag, sent):
                return etag
            if attempt == 1:
                logger.warning(
                    "ETag %s is not the MD5 of the part (%s); sending it again", etag, sent
                )
                first_etag = etag
                continue
            return self._settle_second_mismatch(etag, first_etag, sent)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def send_once(self, with_md5: bool) -> tuple[str, str | None]:
        """PUT the part once: S3's ETag and the MD5 of the bytes sent (``None`` if unhashed)."""
        content_md5 = self.content_md5 if with_md5 else None
        headers = {"Content-Length": str(self.length)}
        if content_md5 is not None:
            headers["Content-MD5"] = base64.b64encode(bytes.fromhex(content_md5)).decode()
        body = SourceRangeStream(
            self.source,
            self.offset,
            self.length,
            chunk_size=self.chunk_size,
            transport_params=self.transport_params,
            md5=self.verify_md5 and content_md5 is None,
            expect=self.expect,
        )
        request = self.http.build_request("PUT", self.url, content=body, headers=headers)
        response = _send(self.http, request)
        if not response.is_success:
            raise s3_error_from_response(response)
        etag = self._etag_of(response)
        return etag, content_md5 if content_md5 is not None else body.md5_hexdigest

    def _etag_of(self, response: httpx.Response) -> str:
        """The ETag of a stored part: the complete call cannot name the part without it."""
        etag = response.headers.get("ETag")
        if not etag:
            raise S3UploadError(
                "S3 accepted the part but returned no ETag",
                status_code=response.status_code,
                method="PUT",
                url=self.url,
                code="MissingETag",
            )
        return etag

    def _remember_refuses_content_md5(self) -> None:
        """Later parts to this bucket are sent without the header it did not sign."""
        with _integrity_lock:
            _REFUSES_CONTENT_MD5.add(self.bucket)
        logger.info("The bucket refuses an unsigned Content-MD5; checking ETags instead")

    def _etag_accepted(self, etag: str, sent: str | None) -> bool:
        """The ETag is the MD5 of the bytes sent, or the bucket is known to have opaque ETags."""
        if etag.strip().strip('"').lower() == sent:
            return True
        with _integrity_lock:
            return self.bucket in _OPAQUE_ETAGS

    def _settle_second_mismatch(self, etag: str, first_etag: str | None, sent: str | None) -> str:
        """A second wrong ETag: the same one is corruption, a new one means opaque ETags."""
        if etag == first_etag:  # the same other bytes twice: corrupted on the way, every time
            raise S3UploadError(
                f"ETag {etag} does not match the MD5 of the {self.length} bytes sent ({sent}), "
                "twice: the part is corrupted on the way to S3",
                status_code=200,
                method="PUT",
                url=self.url,
                code="ETagMismatch",
            )
        with _integrity_lock:
            _OPAQUE_ETAGS.add(self.bucket)
        logger.warning(
            "Part ETags of this bucket are not MD5s (SSE-KMS?): the same part sent twice got "
            "two different ETags; relying on TLS and S3 for the integrity of its parts"
        )
        return etag
