"""The receiver over a real socket: slow and oversized bodies are dropped, never held forever.

Raw sockets on purpose: an HTTP client library sends a body as fast as it can, and the point
here is a peer that does not (a stalled upload, a slowloris, a client gone quiet mid-body).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from webhook_support import SECRET, body, signed

from prefect_firework.webhooks import WebhookReceiver, WebhookServer

pytestmark = pytest.mark.prefect_server

DEADLINE = 0.6


class Emitted:
    """Stands in for ``emit_event``: these tests are about reading bodies, not Prefect."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, **event: Any) -> object:
        with self.lock:
            self.events.append(event)
        return object()


@pytest.fixture
def emitted() -> Emitted:
    return Emitted()


@pytest.fixture
def server(emitted: Emitted) -> Iterator[WebhookServer]:
    receiver = WebhookReceiver(
        SECRET, emit=emitted, body_timeout=DEADLINE, max_body_bytes=64 * 1024
    )
    with WebhookServer(receiver) as running:
        yield running


def _head(length: int | None, *, chunked: bool = False) -> bytes:
    lines = ["POST / HTTP/1.1", "Host: hooks", "Content-Type: application/json"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _exchange(
    server: WebhookServer, head: bytes, chunks: list[bytes], interval: float, limit: float = 8.0
) -> tuple[bytes, float, str]:
    """Send ``head``, then one chunk every ``interval`` s while the server says nothing.

    Returns what came back, when the connection ended (seconds after the head was sent) and
    how: ``"eof"`` (closed cleanly), ``"reset"`` (closed with bytes of ours unread: a drop just
    the same) or ``"open"`` (still open at ``limit``: held).
    """
    sock = socket.create_connection((server.host, server.port), timeout=limit)
    try:
        sock.sendall(head)
        started = time.monotonic()
        received, pending = b"", list(chunks)
        while time.monotonic() - started < limit:
            readable, _, _ = select.select([sock], [], [], interval)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    return received, time.monotonic() - started, "reset"
                if not data:
                    return received, time.monotonic() - started, "eof"
                received += data
                pending = []  # the server answered: a real client stops sending too
            elif pending:
                try:
                    sock.sendall(pending.pop(0))
                except (BrokenPipeError, ConnectionResetError):
                    return received, time.monotonic() - started, "reset"
        return received, time.monotonic() - started, "open"
    finally:
        sock.close()


def test_a_client_that_stops_mid_body_is_answered_408_and_dropped(server, emitted):
    raw = body("video_created", video_id="V1")
    head = _head(len(raw)) + raw[:10]  # ten bytes of the body, then silence
    received, ended, how = _exchange(server, head, [], interval=0.05)
    assert how == "eof", (how, received)
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"body not received within 0.6 s" in received
    assert b"connection: close" in received.lower()
    assert DEADLINE - 0.1 <= ended < DEADLINE + 3
    assert emitted.events == []


def test_headers_without_a_body_are_dropped_at_the_deadline(server, emitted):
    received, ended, how = _exchange(server, _head(500), [], interval=0.05)
    assert how == "eof" and received.startswith(b"HTTP/1.1 408 ")
    assert DEADLINE - 0.1 <= ended < DEADLINE + 3


def test_a_slow_dribble_does_not_extend_the_deadline(server, emitted):
    """One byte every 0.1 s would take 50 s; the deadline is for the whole body, so the
    connection ends soon after 0.6 s however steadily the bytes keep coming."""
    raw = body("video_created", video_id="V1", padding="x" * 400)
    chunks = [raw[i : i + 1] for i in range(len(raw))]
    received, ended, how = _exchange(server, _head(len(raw)), chunks, interval=0.1)
    assert how in ("eof", "reset"), (how, received)  # dropped, not held
    assert DEADLINE - 0.1 <= ended < DEADLINE + 3
    if received:  # a reset may beat the answer to the client; if it came, it is a 408
        assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert emitted.events == []


def test_a_held_slow_client_does_not_block_other_deliveries(emitted):
    """While one connection waits for its body (up to a long deadline here), another
    delivery is answered at once: the wait holds one connection, not the server."""
    receiver = WebhookReceiver(SECRET, emit=emitted, body_timeout=30)
    with WebhookServer(receiver) as server:
        stalled = socket.create_connection((server.host, server.port), timeout=5)
        try:
            stalled.sendall(_head(500) + b'{"event_type"')  # and nothing more
            raw = body("video_created", video_id="V2")
            response = httpx.post(server.url, content=raw, headers=signed(raw), timeout=10)
            assert response.status_code == 202, response.text
            assert [e["resource"]["prefect.resource.id"] for e in emitted.events] == [
                "firework.video.V2"
            ]
            stalled.setblocking(False)
            with pytest.raises(BlockingIOError):  # still held open, still unanswered
                stalled.recv(1)
        finally:
            stalled.close()


def test_the_size_limit_holds_on_a_real_socket(server, emitted):
    declared, _, how = _exchange(server, _head(10 * 1024 * 1024), [], interval=0.05)
    assert declared.startswith(b"HTTP/1.1 413 ") and how in ("eof", "reset")
    # chunked: no length to check up front, so the count while reading stops it
    chunk = b"x" * 16_384
    framed = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(8)]
    streamed, ended, how = _exchange(server, _head(None, chunked=True), framed, interval=0.02)
    assert how in ("eof", "reset") and ended < DEADLINE + 3
    if streamed:
        assert streamed.startswith(b"HTTP/1.1 413 "), streamed[:200]
    assert emitted.events == []
    # and the server is still there for the next delivery
    raw = body("video_created", video_id="V3")
    assert httpx.post(server.url, content=raw, headers=signed(raw), timeout=5).status_code == 202
