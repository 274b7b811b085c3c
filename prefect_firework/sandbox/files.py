"""A static HTTP file server for tests and the demo: real Range semantics, injectable faults.

It answers like a CDN or object store (206 with ``Content-Range``, 416, ``ETag`` and
``Last-Modified``), which ``http.server`` does not. ``FileServer.set_behavior`` switches faults
on per file (no Range support, no Content-Length, a wrong type, an error status), and
``FileServer.requests`` records how a client read each file.
"""

from __future__ import annotations

import email.utils
import mimetypes
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NamedTuple

__all__ = ["FileServer", "RequestRecord"]

#: bytes per write when streaming a body: bounded memory whatever the file size
_CHUNK = 64 * 1024

#: explicit types for the media the API cares about; mimetypes' tables vary by platform
_CONTENT_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avi": "video/x-msvideo",
    ".webm": "video/webm",
}

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RequestRecord(NamedTuple):
    """One request as the server saw it: ``(method, path, range header or None)``."""

    method: str
    path: str
    range: str | None


@dataclass(frozen=True)
class _Behavior:
    content_type: str | None = None
    content_length: bool = True
    ignore_range: bool = False
    status: int | None = None


_DEFAULT_BEHAVIOR = _Behavior()


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """Parse a single ``bytes=`` range against ``size``.

    Returns ``(first, last)`` inclusive when satisfiable, ``False`` when syntactically valid but
    unsatisfiable (answer 416), and ``None`` when the header is not a single byte range we
    understand (RFC 9110 lets a server ignore such a header and send the whole representation).
    """
    match = _RANGE_RE.match(header)
    if match is None:
        return None
    start_s, end_s = match.groups()
    if not start_s and not end_s:
        return None
    if not start_s:  # suffix range: the last n bytes
        n = int(end_s)
        if n == 0 or size == 0:
            return False
        return max(0, size - n), size - 1
    first = int(start_s)
    last = int(end_s) if end_s else size - 1
    if end_s and last < first:
        return None  # invalid syntax: ignore the header
    if first >= size:
        return False
    return first, min(last, size - 1)


class _Handler(BaseHTTPRequestHandler):
    """Serves files below the owning :class:`FileServer`'s directory; GET and HEAD only."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: tests read :attr:`FileServer.requests`, not stderr."""

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        owner = self.server.owner
        range_header = self.headers.get("Range")
        owner._record(RequestRecord(self.command, self.path, range_header))
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        behavior = owner._behavior_for(name)

        if behavior.status is not None:
            self._send_plain(behavior.status, body=body)
            return
        path = owner._resolve(name)
        if path is None:
            self._send_plain(HTTPStatus.NOT_FOUND, body=body)
            return
        try:
            fh = path.open("rb")
        except OSError:
            self._send_plain(HTTPStatus.FORBIDDEN, body=body)
            return
        with fh:
            self._send_file(fh, path, behavior, range_header, body=body)

    def _send_file(
        self,
        fh: BinaryIO,
        path: Path,
        behavior: _Behavior,
        range_header: str | None,
        *,
        body: bool,
    ) -> None:
        """Answer with the file (or the range of it asked for), as ``behavior`` says."""
        st = os.fstat(fh.fileno())
        size = st.st_size
        status = HTTPStatus.OK
        first, last = 0, size - 1
        parsed = None
        if range_header is not None and not behavior.ignore_range:
            parsed = _parse_range(range_header, size)
        if parsed is False:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(parsed, tuple):
            status = HTTPStatus.PARTIAL_CONTENT
            first, last = parsed
        length = max(0, last - first + 1)
        self._send_file_headers(status, path, st, behavior, first, last, length)
        if body:
            self._copy(fh, first, length)

    def _send_file_headers(
        self,
        status: HTTPStatus,
        path: Path,
        st: os.stat_result,
        behavior: _Behavior,
        first: int,
        last: int,
        length: int,
    ) -> None:
        size = st.st_size
        self.send_response(status)
        self.send_header("Content-Type", behavior.content_type or _content_type(path))
        if not behavior.ignore_range:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{st.st_ino:x}-{size:x}-{st.st_mtime_ns:x}"')
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        if behavior.content_length:
            self.send_header("Content-Length", str(length))
        else:
            # Without a length (and without chunking) the body ends when the connection closes.
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()

    def _copy(self, fh: BinaryIO, first: int, length: int) -> None:
        """Stream ``length`` bytes of the file from ``first``, a chunk at a time."""
        fh.seek(first)
        remaining = length
        try:
            while remaining > 0:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up mid-body (e.g. it closed a stream early): not our error.
            self.close_connection = True

    def _send_plain(self, status: int, *, body: bool) -> None:
        payload = f"{int(status)} {HTTPStatus(status).phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: FileServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about client disconnects; the stdlib prints a traceback to stderr."""


class FileServer:
    """Serve ``directory`` over HTTP on ``host:port`` (an ephemeral port by default).

    Runs a :class:`~http.server.ThreadingHTTPServer` in a daemon thread. Use as a context
    manager, or call :meth:`start` and :meth:`stop`. The default host is ``127.0.0.1`` (an IP,
    so the URL's hostname contains a dot, as the Firework API's URL rule requires).
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.directory = Path(directory).resolve()
        self.host = host
        self.port = port
        self.requests: list[RequestRecord] = []
        self._behaviors: dict[str, _Behavior] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FileServer:
        """Bind and start serving in a daemon thread; returns ``self``. Idempotent."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FileServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, join the thread and close the listening socket. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(timeout=10)
        server.server_close()

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("FileServer is not running; call start() or use it as a context")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url_for(self, name: str) -> str:
        """URL of ``name`` (a path relative to the served directory, ``/`` separated)."""
        return f"{self.url}/{urllib.parse.quote(name.lstrip('/'))}"

    # -- faults and inspection ---------------------------------------------------------------

    def set_behavior(
        self,
        name: str,
        *,
        content_type: str | None = None,
        content_length: bool = True,
        ignore_range: bool = False,
        status: int | None = None,
    ) -> None:
        """Change how ``name`` is served; calling with only defaults restores normal serving.

        ``content_type`` overrides the type guessed from the extension; ``content_length=False``
        omits the header (the body then ends at connection close); ``ignore_range`` answers every
        request ``200`` with the whole file, like servers without range support; ``status``
        answers every request with that status and a short text body (e.g. 403, 404, 500).
        """
        behavior = _Behavior(content_type, content_length, ignore_range, status)
        key = name.lstrip("/")
        with self._lock:
            if behavior == _DEFAULT_BEHAVIOR:
                self._behaviors.pop(key, None)
            else:
                self._behaviors[key] = behavior

    def clear_requests(self) -> None:
        """Forget the recorded requests (e.g. between phases of a test)."""
        with self._lock:
            self.requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _behavior_for(self, name: str) -> _Behavior:
        with self._lock:
            return self._behaviors.get(name, _DEFAULT_BEHAVIOR)

    def _resolve(self, name: str) -> Path | None:
        """Map a request path to a regular file inside the directory, or None (never escape it)."""
        if not name:
            return None
        candidate = (self.directory / name).resolve()
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        return candidate
