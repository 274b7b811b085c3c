"""Azure Blob sources (``azure://container/blob``): blob properties for stat, bounded reads.

smart-open's Azure reader fills its buffer with ``download_blob(offset, length=buffer_size)``
calls (4 MiB by default): bounded requests, but a part whose length is not a multiple of the
buffer ends with a request that runs up to ``buffer_size - 1`` bytes past it (1.2x the bytes of
a 120 MB object in 16 MiB parts). So a range is read through smart-open with a ``buffer_size``
chosen from the range itself, as for GCS (:func:`~.gcs.plan_chunk`): ``k`` downloads of
``ceil(length / k)`` bytes, each at most :data:`AZURE_CHUNK`, the last ending within ``k - 1``
bytes of the range. Each download is one ``x-ms-range`` request when ``AZURE_CHUNK`` is below
the client's ``max_single_get_size`` (32 MiB by default), retried by the SDK's retry policy
(5xx, timeouts, connection errors).

``transport_params`` follows smart-open's Azure form: ``{"client": BlobServiceClient}`` (or a
``ContainerClient``/``BlobClient``). Without one, a ``BlobServiceClient`` is built once per
process from ``AZURE_STORAGE_CONNECTION_STRING``: the way to reach Azure from task runners that
pickle ``transport_params`` (Dask, Ray), where a live client cannot travel. A connection
string holds the account key: it is never put in an error message.
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

__all__ = ["AZURE_CHUNK", "open_azure_range", "shared_azure_client", "stat_azure"]

#: the largest single download request (and so the per-stream buffer) of an Azure range
AZURE_CHUNK = 8 * 1024 * 1024

_ENV = "AZURE_STORAGE_CONNECTION_STRING"
_lock = threading.Lock()
_clients: dict[tuple[int, str], Any] = {}


def shared_azure_client(parsed: ParsedSource) -> Any:
    """This process's ``BlobServiceClient`` for ``AZURE_STORAGE_CONNECTION_STRING``."""
    connection_string = os.environ.get(_ENV)
    if not connection_string:
        raise SourceError(
            parsed.display,
            "unreadable",
            "an azure:// source needs transport_params={'client': BlobServiceClient} or the "
            f"{_ENV} environment variable",
        )
    key = (os.getpid(), connection_string)
    with _lock:
        client = _clients.get(key)
        if client is None:
            from azure.storage.blob import BlobServiceClient

            _clients.clear()
            client = _clients[key] = BlobServiceClient.from_connection_string(connection_string)
        return client


def _location(parsed: ParsedSource, tp: Mapping[str, Any]) -> tuple[str, str, Any]:
    rest = parsed.uri.split("://", 1)[1]
    container, _, name = rest.partition("/")
    if not container or not name or name.endswith("/"):
        raise SourceError(
            parsed.display, "unreadable", "an Azure source needs azure://container/blob"
        )
    return container, name, tp.get("client") or shared_azure_client(parsed)


def _describe(exc: BaseException) -> str:
    """A short reason from an azure-core error: its status and error code, no request."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if status is not None or code is not None:
        reason = "Azure error" + (f" {status}" if status is not None else "")
        return reason + (f": {code}" if code else "")
    return f"{type(exc).__name__}"


def _unreadable(parsed: ParsedSource, exc: BaseException) -> SourceError:
    return SourceError(parsed.display, "unreadable", _describe(exc))


def _blob_client(client: Any, container: str, name: str) -> Any:
    if hasattr(client, "get_container_client"):
        client = client.get_container_client(container)
    if hasattr(client, "get_blob_client"):
        client = client.get_blob_client(name)
    return client


def stat_azure(parsed: ParsedSource, tp: Mapping[str, Any]) -> SourceStat:
    """Blob properties: ``size``, ``etag`` and ``last_modified`` as validators."""
    container, name, client = _location(parsed, tp)
    try:
        props = _blob_client(client, container, name).get_blob_properties()
    except Exception as exc:  # azure-core errors, and transport errors it wraps
        raise _unreadable(parsed, exc) from exc
    modified = props.last_modified
    etag = (props.etag or "").strip('"') or None
    return SourceStat(parsed.uri, int(props.size), etag, modified.timestamp() if modified else None)


def plan_chunk(length: int) -> int:
    """The download size that reads ``length`` bytes in ``ceil(length / AZURE_CHUNK)`` calls."""
    k = max(1, math.ceil(length / AZURE_CHUNK))
    return math.ceil(length / k)


@contextmanager
def open_azure_range(
    parsed: ParsedSource, offset: int, length: int, tp: Mapping[str, Any]
) -> Iterator[RangeReader]:
    """Yield a reader over ``[offset, offset + length)`` fed by bounded range downloads."""
    import smart_open.azure

    container, name, client = _location(parsed, tp)
    try:
        fh = smart_open.azure.open(
            container, name, "rb", client=client, buffer_size=plan_chunk(length)
        )  # one properties request (the blob's size); no download yet
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
