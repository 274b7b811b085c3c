"""HTTP(S) sources with httpx: HEAD for stat, bounded ``Range: bytes=a-b`` GETs for reads.

smart-open's HTTP reader uses ``requests`` and starts with a full GET, then seeks by reading;
for part N of a 5 GB file that downloads everything before it. Here each range is one GET with
a closed ``Range`` header, streamed in chunks of :data:`HTTP_CHUNK`. A server that answers
``200`` to a range request (it ignores ``Range``) is refused with rule ``"range_unsupported"``
instead of silently reading the whole file per part.

``transport_params`` (smart-open's HTTP names where they exist):
``headers`` (dict), ``user`` + ``password`` (basic auth), ``timeout`` (seconds),
``cert`` (client certificate path or ``(cert, key)``), ``client`` (an ``httpx.Client`` to use
instead of the shared one). smart-open's ``session``/``kerberos``/``buffer_size`` do not apply.

One ``httpx.Client`` (connection pool, thread-safe) is shared per process and per ``cert``;
like the S3 client cache it is dropped in a forked child.
"""

from __future__ import annotations

import email.utils
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from .errors import SourceError
from .info import SourceStat, SourceVersion
from .reader import RangeReader
from .uri import ParsedSource

__all__ = ["HTTP_CHUNK", "open_http_range", "shared_http_client", "stat_http"]

#: bytes per chunk pulled from a response body
HTTP_CHUNK = 64 * 1024

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)

#: statuses of a server that may answer the same request next time
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: seconds before each retry of a transient failure
_BACKOFF = (0.25, 0.5, 1.0)
_MAX_RETRY_AFTER = 5.0

_lock = threading.Lock()
_clients: dict[str, httpx.Client] = {}
_pid = os.getpid()


def _reset_after_fork() -> None:
    global _pid, _lock
    _clients.clear()  # do not close: the sockets belong to the parent
    _lock = threading.Lock()
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def shared_http_client(cert: Any = None) -> httpx.Client:
    """This process's pooled ``httpx.Client`` (per client certificate), built on first use."""
    if os.getpid() != _pid:
        _reset_after_fork()
    key = repr(cert)
    with _lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            verify: ssl.SSLContext | bool = True
            if cert:  # httpx 0.28 wants client certificates in an SSL context
                verify = ssl.create_default_context()
                if isinstance(cert, str):
                    verify.load_cert_chain(cert)
                else:
                    verify.load_cert_chain(*cert)
            client = httpx.Client(
                follow_redirects=True,
                timeout=httpx.Timeout(60.0, connect=15.0),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
                verify=verify,
            )
            _clients[key] = client
        return client


def _request_options(tp: Mapping[str, Any]) -> tuple[httpx.Client, dict[str, Any]]:
    client = tp.get("client") or shared_http_client(tp.get("cert"))
    options: dict[str, Any] = {"headers": dict(tp.get("headers") or {})}
    if tp.get("user") is not None:
        options["auth"] = httpx.BasicAuth(tp["user"], tp.get("password") or "")
    if tp.get("timeout") is not None:
        options["timeout"] = tp["timeout"]
    return client, options


def _status_error(parsed: ParsedSource, response: httpx.Response, what: str) -> SourceError:
    return SourceError(
        parsed.display,
        "unreadable",
        f"{what} answered HTTP {response.status_code} {response.reason_phrase}".rstrip(),
    )


def _transport_error(parsed: ParsedSource, exc: httpx.HTTPError) -> SourceError:
    # httpx messages can quote the URL; say what failed without it.
    return SourceError(parsed.display, "unreadable", f"HTTP request failed: {type(exc).__name__}")


def _retry_delay(attempt: int, response: httpx.Response | None) -> float | None:
    """Seconds to wait before trying again, or None when out of retries."""
    if attempt >= len(_BACKOFF):
        return None
    after = response.headers.get("retry-after", "") if response is not None else ""
    if after.strip().isdigit():
        return min(float(after), _MAX_RETRY_AFTER)
    return _BACKOFF[attempt]


def _validators(response: httpx.Response) -> tuple[str | None, float | None]:
    etag = response.headers.get("etag")
    if etag:
        weak = etag.startswith("W/")
        etag = ("W/" if weak else "") + etag.removeprefix("W/").strip('"')
    mtime = None
    modified = response.headers.get("last-modified")
    if modified:
        try:
            mtime = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            mtime = None
    return etag or None, mtime


def stat_http(parsed: ParsedSource, tp: Mapping[str, Any]) -> SourceStat:
    """HEAD for ``Content-Length``/``ETag``/``Last-Modified``; fall back to a ``bytes=0-0`` GET.

    The fallback covers servers that omit ``Content-Length`` on HEAD and presigned GET URLs,
    which refuse HEAD (the signature covers the method): the total size is then read from the
    ``Content-Range`` of a one-byte range response, without downloading the body.
    """
    client, options = _request_options(tp)
    for attempt in range(len(_BACKOFF) + 1):
        try:
            head = client.head(parsed.uri, **options)
        except httpx.TransportError as exc:
            delay = _retry_delay(attempt, None)
            if delay is None:
                raise _transport_error(parsed, exc) from exc
            time.sleep(delay)
            continue
        except httpx.HTTPError as exc:
            raise _transport_error(parsed, exc) from exc
        delay = _retry_delay(attempt, head) if head.status_code in _TRANSIENT else None
        if delay is None:
            break
        time.sleep(delay)
    if head.status_code in (404, 410):
        raise _status_error(parsed, head, "HEAD")
    length = head.headers.get("content-length")
    if head.is_success and length is not None and length.isdigit():
        etag, mtime = _validators(head)
        return SourceStat(parsed.uri, int(length), etag, mtime)

    headers = {**options["headers"], "Range": "bytes=0-0", "Accept-Encoding": "identity"}
    try:
        with client.stream("GET", parsed.uri, **{**options, "headers": headers}) as response:
            size = _total_size(response)
            if size is None:
                if not response.is_success and response.status_code != 416:
                    raise _status_error(parsed, response, "GET")
                raise SourceError(
                    parsed.display,
                    "unreadable",
                    "the server reports no size (no Content-Length on HEAD, no Content-Range "
                    "on a range request)",
                )
            etag, mtime = _validators(response)
    except httpx.HTTPError as exc:
        raise _transport_error(parsed, exc) from exc
    return SourceStat(parsed.uri, size, etag, mtime)


def _total_size(response: httpx.Response) -> int | None:
    """The representation's full size from a response to ``Range: bytes=0-0``, if it says."""
    content_range = response.headers.get("content-range", "")
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(content_range)
        if match and match.group(3) != "*":
            return int(match.group(3))
    elif response.status_code == 416:
        match = _UNSATISFIED_RANGE.match(content_range)
        if match:
            return int(match.group(1))  # "bytes */0": an empty file
    elif response.status_code == 200:
        length = response.headers.get("content-length")
        if length is not None and length.isdigit():
            return int(length)
    return None


def _if_range(expect: SourceVersion) -> str | None:
    """An ``If-Range`` validator: a strong ETag, else the Last-Modified date."""
    if expect.etag and not expect.etag.startswith("W/"):
        return f'"{expect.etag}"'
    if expect.mtime is not None:
        return email.utils.formatdate(expect.mtime, usegmt=True)
    return None


def _check_version(parsed: ParsedSource, response: httpx.Response, expect: SourceVersion) -> None:
    etag, mtime = _validators(response)
    size = _total_size(response) if response.status_code == 206 else None
    seen = SourceVersion(expect.size if size is None else size, etag, mtime)
    problem = expect.differs(seen)
    if problem:
        raise SourceError(
            parsed.display, "changed", f"the source changed since preflight: {problem}"
        )


@contextmanager
def open_http_range(
    parsed: ParsedSource,
    offset: int,
    length: int,
    tp: Mapping[str, Any],
    expect: SourceVersion | None = None,
) -> Iterator[RangeReader]:
    """Yield a reader over ``[offset, offset + length)`` streamed from one bounded range GET.

    With ``expect``: the request carries ``If-Range`` (a changed representation comes back
    whole, as 200, which is refused as ``"changed"``) and the response's ETag, Last-Modified
    and total size must match it.
    """
    client, options = _request_options(tp)
    headers = {**options["headers"], "Range": f"bytes={offset}-{offset + length - 1}"}
    headers["Accept-Encoding"] = "identity"  # ranges address the raw bytes, not a gzip stream
    validator = _if_range(expect) if expect is not None else None
    if validator:
        headers["If-Range"] = validator
    with ExitStack() as stack:
        response = _stream_range(stack, client, parsed, {**options, "headers": headers})
        if expect is not None:
            whole = offset == 0 and length == expect.size
            _check_expected_version(parsed, response, expect, if_range=bool(validator), whole=whole)
        _check_range_response(parsed, response, offset, length)
        pull = _body_puller(parsed, response)
        # Not wrapped in try/except: errors raised by the caller's block (e.g. its own httpx
        # upload failing) must pass through unchanged, not be reported as a source error.
        yield stack.enter_context(RangeReader(pull, length, display=parsed.display, offset=offset))


def _stream_range(
    stack: ExitStack, client: httpx.Client, parsed: ParsedSource, options: dict[str, Any]
) -> httpx.Response:
    """Open the range GET on ``stack``, retrying transport failures and transient statuses."""
    for attempt in range(len(_BACKOFF) + 1):
        try:
            response = stack.enter_context(client.stream("GET", parsed.uri, **options))
        except httpx.TransportError as exc:
            delay = _retry_delay(attempt, None)
            if delay is None:
                raise _transport_error(parsed, exc) from exc
            time.sleep(delay)
            continue
        except httpx.HTTPError as exc:
            raise _transport_error(parsed, exc) from exc
        delay = _retry_delay(attempt, response) if response.status_code in _TRANSIENT else None
        if delay is None:
            break
        response.close()  # nothing of its body was read: the retry asks for the same range
        time.sleep(delay)
    return response


def _check_expected_version(
    parsed: ParsedSource,
    response: httpx.Response,
    expect: SourceVersion,
    *,
    if_range: bool,
    whole: bool,
) -> None:
    """Refuse a response that is not of the ``expect`` version (rule ``"changed"``).

    A 200 to an ``If-Range`` request is the whole new representation, unless the range asked
    for was the whole file anyway (``whole``).
    """
    if if_range and response.status_code == 200 and not whole:
        raise SourceError(
            parsed.display,
            "changed",
            "the source changed since preflight (the server answered If-Range with "
            "the whole new representation)",
        )
    if response.is_success:
        _check_version(parsed, response, expect)


def _body_puller(parsed: ParsedSource, response: httpx.Response) -> Callable[[int], bytes]:
    """A ``pull(n)`` over the raw body for :class:`RangeReader`: at most ``n`` bytes a call."""
    chunks = response.iter_raw(HTTP_CHUNK)
    leftover = b""

    def pull(n: int) -> bytes:
        nonlocal leftover
        if not leftover:
            try:
                leftover = next(chunks, b"")
            except httpx.HTTPError as exc:
                raise _transport_error(parsed, exc) from exc
        data, leftover = leftover[:n], leftover[n:]
        return data

    return pull


def _check_range_response(
    parsed: ParsedSource, response: httpx.Response, offset: int, length: int
) -> None:
    """Accept a 206 for our range (or a 200 that IS the range: offset 0, whole file)."""
    status = response.status_code
    if status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != offset:
            raise SourceError(
                parsed.display,
                "range_unsupported",
                f"the server answered the range request for bytes {offset}-"
                f"{offset + length - 1} with a different range "
                f"({response.headers.get('content-range', 'no Content-Range')!r})",
            )
    elif status == 200:
        total = response.headers.get("content-length")
        if not (offset == 0 and total is not None and total.isdigit() and int(total) == length):
            raise SourceError(
                parsed.display,
                "range_unsupported",
                "the server ignores HTTP Range requests (it answered 200 with the whole file "
                "instead of 206 Partial Content); ranged reads need byte-range support",
            )
    elif status == 416:
        raise SourceError(
            parsed.display,
            "truncated",
            f"bytes {offset}-{offset + length - 1} lie beyond the end of the source (HTTP 416)",
        )
    else:
        raise _status_error(parsed, response, "GET")
    encoding = response.headers.get("content-encoding", "identity").lower()
    if encoding not in ("identity", ""):
        raise SourceError(
            parsed.display,
            "range_unsupported",
            f"the server sent a {encoding}-encoded body for a range request",
        )
