"""GCS sources (``gs://``, ``gcs://``): one metadata GET for stat, bounded range reads.

smart-open's GCS reader is google-cloud-storage's ``BlobReader``: each ``read(n)`` on an empty
buffer downloads ``max(n, chunk_size)`` bytes (40 MiB by default) in one bounded request and
keeps what was not asked for. Read as is, a 16 MiB part would fetch 40 MiB (2.5x the bytes) and
hold 40 MiB per stream. So a range is read through smart-open with a ``chunk_size`` chosen from
the range itself, as the S3 reader chooses its GET (:func:`~.s3.plan_get`): ``k`` requests of
``ceil(length / k)`` bytes, each at most :data:`GCS_CHUNK`, so the last request ends within
``k`` bytes of the range and memory stays at one chunk per stream. Every request is bounded
(``Range: bytes=a-b``) and retried by google-cloud-storage's default policy (429, 5xx,
connection errors, with backoff).

``transport_params`` follows smart-open's GCS form: ``{"client": google.cloud.storage.Client}``.
Without one, a client is built once per process from the environment (Application Default
Credentials, or ``STORAGE_EMULATOR_HOST`` for an emulator) and shared, as the S3 client is; it
is rebuilt in a forked child and whenever ``STORAGE_EMULATOR_HOST`` changes.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .errors import SourceError
from .info import SourceStat
from .reader import RangeReader
from .uri import ParsedSource

__all__ = ["GCS_CHUNK", "open_gcs_range", "shared_gcs_client", "stat_gcs"]

#: the largest single download request (and so the per-stream buffer) of a GCS range
GCS_CHUNK = 8 * 1024 * 1024

_lock = threading.Lock()
_clients: dict[tuple[int, str | None], Any] = {}


def shared_gcs_client() -> Any:
    """This process's ``google.cloud.storage.Client`` built from the environment."""
    key = (os.getpid(), os.environ.get("STORAGE_EMULATOR_HOST"))
    with _lock:
        client = _clients.get(key)
        if client is None:
            import google.cloud.storage

            _clients.clear()  # another pid or emulator: never reuse its connection pool
            client = _clients[key] = google.cloud.storage.Client()
        return client


def _location(parsed: ParsedSource, tp: Mapping[str, Any]) -> tuple[str, str, Any]:
    rest = parsed.uri.split("://", 1)[1]
    bucket, _, name = rest.partition("/")
    if not bucket or not name or name.endswith("/"):
        raise SourceError(parsed.display, "unreadable", "a GCS source needs gs://bucket/object")
    return bucket, name, tp.get("client") or shared_gcs_client()


def _describe(exc: BaseException) -> str:
    """A short reason from a google-api-core error, without the request URL."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if code is not None:
        reason = f"GCS error {int(code)}"
        if isinstance(message, str) and message:
            reason += f": {message.split(' (', 1)[0].split(': ', 1)[-1][:200]}"
        return reason
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _unreadable(parsed: ParsedSource, exc: BaseException) -> SourceError:
    return SourceError(parsed.display, "unreadable", _describe(exc).replace(parsed.uri, ""))


def stat_gcs(parsed: ParsedSource, tp: Mapping[str, Any]) -> SourceStat:
    """The object's metadata: ``size``, ``etag`` and ``updated`` as validators."""
    bucket, name, client = _location(parsed, tp)
    try:
        blob = client.bucket(bucket).get_blob(name)
    except Exception as exc:  # google-api-core, google-auth and requests errors alike
        raise _unreadable(parsed, exc) from exc
    if blob is None:
        raise SourceError(parsed.display, "unreadable", "GCS error 404: no such object")
    updated = blob.updated
    return SourceStat(
        parsed.uri,
        int(blob.size or 0),
        blob.etag or None,
        updated.timestamp() if updated is not None else None,
    )


def plan_chunk(length: int) -> int:
    """The download size that reads ``length`` bytes in ``ceil(length / GCS_CHUNK)`` requests."""
    k = max(1, math.ceil(length / GCS_CHUNK))
    return math.ceil(length / k)


@contextmanager
def open_gcs_range(
    parsed: ParsedSource, offset: int, length: int, tp: Mapping[str, Any]
) -> Iterator[RangeReader]:
    """Yield a reader over ``[offset, offset + length)`` fed by bounded range downloads."""
    import smart_open.gcs

    bucket, name, client = _location(parsed, tp)
    try:
        fh = smart_open.gcs.open(
            bucket,
            name,
            "rb",
            client=client,
            blob_open_kwargs={"chunk_size": plan_chunk(length)},
        )  # one metadata GET (the blob's size); no media request yet
        fh.seek(offset)
    except Exception as exc:
        raise _unreadable(parsed, exc) from exc

    def pull(n: int) -> bytes:
        try:
            return fh.read(n)
        except Exception as exc:
            raise _unreadable(parsed, exc) from exc

    with RangeReader(pull, length, display=parsed.display, offset=offset, on_close=fh.close) as r:
        yield r
