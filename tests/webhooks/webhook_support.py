"""Helpers for the webhook tests: signed bodies, a recording endpoint, captured events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import Any

import anyio
import httpx
from prefect.events.clients import AssertingEventsClient
from prefect.events.schemas.events import Event
from prefect.events.worker import EventsWorker

SECRET = "whsec_test_0123456789abcdef"
HEADER = "FW-Webhooks-Signature"


def now_ms() -> int:
    return int(time.time() * 1000)


def signature(secret: str, body: bytes, t: int | str) -> str:
    """Written out here, independently of the code under test."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).digest()
    return f"t={t},v1={base64.b64encode(mac).decode()}"


def body(event_type: str = "video_created", **data: Any) -> bytes:
    doc = {
        "id": data.pop("delivery_id", f"evt_{time.monotonic_ns()}"),
        "event_type": event_type,
        "created_at": "2025-01-01T00:00:00Z",
        "data": data,
    }
    return json.dumps(doc).encode()


def signed(raw: bytes, *, secret: str = SECRET, t: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        HEADER: signature(secret, raw, now_ms() if t is None else t),
    }


class EventLog:
    """The events an ``AssertingEventsClient`` worker has received so far."""

    def __init__(self, worker: EventsWorker) -> None:
        self.worker = worker

    def all(self) -> list[Event]:
        self.worker.wait_until_empty()
        client = getattr(self.worker, "_client", None)
        assert client is None or isinstance(client, AssertingEventsClient)
        return list(getattr(client, "events", []))

    def named(self, prefix: str = "firework.") -> list[Event]:
        return [e for e in self.all() if e.event.startswith(prefix)]


class AsgiClient:
    """Calls an ASGI app in-process through httpx, synchronously (one event loop per call)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("203.0.113.9", 5555))
            async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as c:
                return await c.request(method, url, **kwargs)

        return anyio.run(call)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)


class RecordingEndpoint:
    """An ASGI app that records every request and answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None, *, delay: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.arrived = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import anyio

        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            self.requests.append({"headers": headers, "body": b"".join(chunks)})
            status = self.statuses.pop(0) if self.statuses else 204
        self.arrived.set()
        if self.delay:
            await anyio.sleep(self.delay)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(r["body"]) for r in self.requests]
