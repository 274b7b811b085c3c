"""S3 sources: one shared boto3 client per process, HeadObject for stat, bounded range GETs.

**One client per process.** Creating a boto3 client costs tens of milliseconds and its own
connection pool; a 100-part upload must not build 100 of them. Clients are cached at module
level keyed by their construction kwargs (endpoint, region, credentials...). The cache is
dropped in a forked child (``os.register_at_fork`` plus a PID check, for forks that bypass the
hook), because a boto3 client's connection pool must not be shared across processes; it is
never pickled (task runners pickle URIs and ``transport_params``, not clients). A ``client``
given in ``transport_params`` always wins and is used as is.

``transport_params`` follows smart-open 9's S3 form::

    {"client": boto3_client}                                   # use this client
    {"client_kwargs": {"S3.Client": {"endpoint_url": "http://127.0.0.1:9000"}}}
                                                                # kwargs for boto3.client("s3")
    {"client_kwargs": {"S3.Client.get_object": {"RequestPayer": "requester"}}}
                                                                # extra kwargs per API call
    {"version_id": "..."}                                       # a specific object version

Credentials in the URI (``s3://KEY:SECRET@bucket/key``, a smart-open feature) are honoured
and never echoed (see :func:`~prefect_firework.sources.uri.redact`).

**Bounded range GETs.** smart-open's reader is opened with ``defer_seek=True`` (no GET at open)
and ``range_chunk_size`` so the first ``seek(offset)`` issues ONE ``Range: bytes=a-b`` GET that
covers the whole range; there is never an open-ended GET. smart-open's reader refills its
buffer in ``buffer_size`` units and would open a *second* GET if a refill asked for bytes past
the end of the first one, so the buffer size ``B`` (at most :data:`S3_BUFFER`) and the GET's
size are chosen together: ``k = ceil(length / S3_BUFFER)``, ``B = ceil(length / k)``, GET size
``k * B``. The GET is then at most ``k - 1`` bytes longer than the range (about 20 KB for a
5 GiB range), the reader never refills past it, and memory stays at one ``B``-sized buffer.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .errors import SourceError
from .info import SourceStat, SourceVersion
from .reader import RangeReader
from .uri import ParsedSource

__all__ = ["S3_BUFFER", "open_s3_range", "shared_client", "stat_s3"]

#: the largest smart-open read buffer per S3 stream
S3_BUFFER = 256 * 1024

_lock = threading.Lock()
_clients: dict[str, tuple[Any, dict[str, Any]]] = {}
_pid = os.getpid()


def _reset_after_fork() -> None:
    global _pid, _lock
    _clients.clear()
    _lock = threading.Lock()  # a lock held by another thread at fork time stays held forever
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def shared_client(init_kwargs: Mapping[str, Any] | None = None) -> Any:
    """Return this process's boto3 S3 client for ``init_kwargs`` (built on first use).

    ``init_kwargs`` are passed to ``boto3.session.Session().client("s3", ...)``; without a
    ``config`` the client gets smart-open's defaults (64 pooled connections, TCP keepalive,
    adaptive retries) so concurrent part reads do not queue for connections.
    """
    kwargs = dict(init_kwargs or {})
    # repr() is stable for the usual str/bool/int values; for objects such as botocore Config
    # it includes the id, which stays unique because the cache keeps the object alive.
    key = repr(sorted(kwargs.items(), key=lambda item: item[0]))
    if os.getpid() != _pid:
        _reset_after_fork()
    with _lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached[0]
        import boto3
        import botocore.config

        kwargs.setdefault(
            "config",
            botocore.config.Config(
                max_pool_connections=64,
                tcp_keepalive=True,
                retries={"max_attempts": 6, "mode": "adaptive"},
            ),
        )
        # A fresh Session: boto3's default session is not thread-safe to create clients from.
        client = boto3.session.Session().client("s3", **kwargs)
        _clients[key] = (client, kwargs)
        return client


def _location(parsed: ParsedSource, tp: Mapping[str, Any]) -> tuple[str, str, str | None, Any]:
    """Return (bucket, key, version_id, client) for an S3 source and its transport params."""
    import smart_open.s3

    if "/" not in parsed.display.split("://", 1)[1].strip("/"):
        raise SourceError(parsed.display, "unreadable", "an S3 source needs s3://bucket/key")
    uri = smart_open.s3.parse_uri(parsed.uri)
    if not uri["bucket_id"] or not uri["key_id"]:
        raise SourceError(parsed.display, "unreadable", "an S3 source needs s3://bucket/key")
    version_id = tp.get("version_id") or uri["version_id"]
    client = tp.get("client")
    if client is None:
        init = dict((tp.get("client_kwargs") or {}).get("S3.Client", {}))
        if uri["access_id"] and uri["access_secret"]:
            init["aws_access_key_id"] = uri["access_id"]
            init["aws_secret_access_key"] = uri["access_secret"]
        client = shared_client(init)
    return uri["bucket_id"], uri["key_id"], version_id, client


def _describe(exc: BaseException) -> str:
    """A short reason from a botocore error, without request details."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code") or status)
        text = error.get("Message") or ""
        reason = f"S3 error {code}"
        if status is not None and str(status) != code:
            reason += f" (HTTP {status})"
        return f"{reason}: {text}" if text else reason
    backend = getattr(exc, "backend_error", None)  # smart-open wraps ClientError in OSError
    if backend is not None:
        return _describe(backend)
    return f"{type(exc).__name__}: {exc}"


def stat_s3(parsed: ParsedSource, tp: Mapping[str, Any]) -> SourceStat:
    """HeadObject: size from ``ContentLength``, ``ETag`` and ``LastModified`` as validators."""
    import botocore.exceptions

    bucket, key, version_id, client = _location(parsed, tp)
    kwargs: dict[str, Any] = dict((tp.get("client_kwargs") or {}).get("S3.Client.head_object", {}))
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        head = client.head_object(Bucket=bucket, Key=key, **kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise SourceError(parsed.display, "unreadable", _describe(exc)) from exc
    etag = head.get("ETag")
    modified = head.get("LastModified")
    return SourceStat(
        parsed.uri,
        int(head["ContentLength"]),
        etag.strip('"') if etag else None,
        modified.timestamp() if modified is not None else None,
    )


def plan_get(length: int) -> tuple[int, int]:
    """Return ``(buffer_size, range_chunk_size)`` for reading ``length`` bytes in ONE GET."""
    k = max(1, math.ceil(length / S3_BUFFER))
    buffer_size = math.ceil(length / k)
    return buffer_size, buffer_size * k


def _changed(exc: BaseException) -> bool:
    """A GET refused by its ``If-Match`` (412): the object is another version now."""
    for error in (exc, getattr(exc, "backend_error", None)):
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "PreconditionFailed" or status == 412:
                return True
    return False


def _client_kwargs(tp: Mapping[str, Any], expect: SourceVersion | None) -> dict[str, Any]:
    """smart-open's ``client_kwargs``, plus ``If-Match`` on the GET when ``expect`` has an ETag."""
    client_kwargs = dict(tp.get("client_kwargs") or {})
    if expect is not None and expect.etag:
        get_kwargs = dict(client_kwargs.get("S3.Client.get_object", {}))
        get_kwargs["IfMatch"] = f'"{expect.etag}"'
        client_kwargs["S3.Client.get_object"] = get_kwargs
    return client_kwargs


def _refused(parsed: ParsedSource, exc: BaseException) -> SourceError:
    """An open or GET that failed: ``"changed"`` if ``If-Match`` refused it, else unreadable."""
    if _changed(exc):
        return SourceError(
            parsed.display,
            "changed",
            "the object changed since preflight (ETag no longer matches)",
        )
    return SourceError(parsed.display, "unreadable", _describe(exc))


@contextmanager
def open_s3_range(
    parsed: ParsedSource,
    offset: int,
    length: int,
    tp: Mapping[str, Any],
    expect: SourceVersion | None = None,
) -> Iterator[RangeReader]:
    """Yield a reader over ``[offset, offset + length)`` fed by one bounded range GET.

    With ``expect`` (and its ETag), the GET carries ``If-Match``: S3 answers 412 instead of
    bytes of another version of the object.
    """
    import botocore.exceptions
    import smart_open.s3

    bucket, key, version_id, client = _location(parsed, tp)
    buffer_size, chunk = plan_get(length)
    client_kwargs = _client_kwargs(tp, expect)
    try:
        fh = smart_open.s3.open(
            bucket,
            key,
            "rb",
            version_id=version_id,
            buffer_size=buffer_size,
            defer_seek=True,
            client=client,
            client_kwargs=client_kwargs,
            range_chunk_size=chunk,
        )
    except (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _refused(parsed, exc) from exc
    try:
        fh.seek(offset)  # the one GET: Range: bytes=offset-(offset+chunk-1)
    except (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        fh.close()
        raise _refused(parsed, exc) from exc
    except BaseException:
        fh.close()
        raise

    def pull(n: int) -> bytes:
        try:
            return fh.read(n)
        except (OSError, botocore.exceptions.BotoCoreError) as exc:
            raise SourceError(parsed.display, "unreadable", _describe(exc)) from exc

    with RangeReader(pull, length, display=parsed.display, offset=offset, on_close=fh.close) as r:
        yield r
