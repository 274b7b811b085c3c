"""Signed webhooks from the sandbox, and the thread that delivers them.

``video_created`` once a video is transcoded (with ``import_id`` for an import),
``video_updated`` after a PATCH, ``video_import_failed`` when an import errors. Each is a JSON
POST signed ``FW-Webhooks-Signature: t=<unix ms>,v1=<base64 HMAC-SHA256 of "{t}.{body}">``,
retried after each of ``webhook_retry_delays`` until a 2xx. The signer is the sandbox's own
reading of the format, not the receiver's code.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from prefect_firework.sandbox.api._views import video_body
from prefect_firework.sandbox.engine._ids import new_id
from prefect_firework.sandbox.engine._state import Video, VideoImport, iso

if TYPE_CHECKING:
    from prefect_firework.sandbox.engine._core import Core

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookSender",
    "notify_import_failed",
    "notify_video",
    "signature_header",
]

SIGNATURE_HEADER = "FW-Webhooks-Signature"
logger = logging.getLogger("prefect_firework.sandbox.webhooks")


def signature_header(secret: str, body: bytes, timestamp_ms: int) -> str:
    """``t=<ms>,v1=<base64 HMAC-SHA256 of "{t}.{body}">`` for one attempt."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}.".encode() + body, hashlib.sha256)
    return f"t={timestamp_ms},v1={base64.b64encode(mac.digest()).decode('ascii')}"


@dataclass
class _Delivery:
    id: str
    event_type: str
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"  # pending | delivered | failed | dropped

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_type": self.event_type,
            "state": self.state,
            "attempts": [dict(a) for a in self.attempts],
            "body": json.loads(self.body),
        }


class WebhookSender:
    """Queues deliveries and sends them from one thread, retrying on the configured schedule."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        retry_delays: tuple[float, ...],
        timeout: float,
        events: tuple[str, ...],
    ) -> None:
        self.url = url
        self._secret = secret
        self._delays = tuple(retry_delays)
        self._events = frozenset(events)
        self._http = httpx.Client(timeout=timeout)
        self._queue: list[tuple[float, int, _Delivery]] = []
        self._seq = itertools.count()
        self._log: list[_Delivery] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._sending = 0
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)

    def start(self) -> WebhookSender:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (an attempt in flight finishes first) and drop queued deliveries."""
        with self._cond:
            self._stopping = True
            for _, _, delivery in self._queue:
                delivery.state = "dropped"
            self._queue.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._http.close()

    def send(
        self, event_type: str, data: dict[str, Any], *, business_id: str, delay: float = 0.0
    ) -> str | None:
        """Queue one delivery (after ``delay`` s); ``None`` if the type is not subscribed."""
        if event_type not in self._events:
            return None
        delivery_id = f"evt_{new_id(16)}"
        doc = {
            "id": delivery_id,
            "event_type": event_type,
            "created_at": iso(time.time()),
            "business_id": business_id,
            "data": data,
        }
        delivery = _Delivery(delivery_id, event_type, json.dumps(doc).encode())
        with self._cond:
            if self._stopping:
                return None
            self._log.append(delivery)
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), delivery))
            self._cond.notify_all()
        return delivery_id

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery so far with its attempts (``at``, ``status``, ``error``) and state."""
        with self._cond:
            return [d.view() for d in self._log]

    def clear(self) -> None:
        """Forget queued and past deliveries (sandbox reset)."""
        with self._cond:
            for _, _, delivery in self._queue:
                delivery.state = "dropped"
            self._queue.clear()
            self._log.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or being sent; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._sending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    self._cond.wait(self._queue[0][0] - time.monotonic() if self._queue else None)
                if self._stopping:
                    return
                _, _, delivery = heapq.heappop(self._queue)
                self._sending += 1
            try:
                self._attempt(delivery)
            finally:
                with self._cond:
                    self._sending -= 1
                    self._cond.notify_all()

    def _attempt(self, delivery: _Delivery) -> None:
        header = signature_header(self._secret, delivery.body, int(time.time() * 1000))
        record: dict[str, Any] = {"at": time.time(), "status": None, "error": None}
        try:
            response = self._http.post(
                self.url,
                content=delivery.body,
                headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
            )
            record["status"] = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        with self._cond:
            delivery.attempts.append(record)
            if ok:
                delivery.state = "delivered"
                return
            done = len(delivery.attempts)
            if done > len(self._delays) or self._stopping:
                delivery.state = "failed" if not self._stopping else "dropped"
                logger.info("Webhook %s gave up after %d attempts", delivery.id, done)
                return
            due = time.monotonic() + self._delays[done - 1]
            heapq.heappush(self._queue, (due, next(self._seq), delivery))


def notify_video(
    core: Core,
    event_type: str,
    video: Video,
    *,
    delay: float = 0.0,
    import_job: VideoImport | None = None,
) -> None:
    """Send ``video_created`` / ``video_updated`` for ``video`` if webhooks are configured."""
    sender = core.webhooks
    if sender is None:
        return
    with core.state.locked():
        data: dict[str, Any] = {
            "video_id": video.id,
            "channel_id": video.channel_id,
            "status": "ready",
            "video": video_body(video),
        }
        if video.import_id:
            data["import_id"] = video.import_id
        if import_job is not None:
            data["url"] = import_job.url
    sender.send(event_type, data, business_id=video.business_id, delay=delay)


def notify_import_failed(core: Core, job: VideoImport) -> None:
    """Send ``video_import_failed`` for an errored import if webhooks are configured."""
    sender = core.webhooks
    if sender is None:
        return
    with core.state.locked():
        data = {
            "import_id": job.id,
            "channel_id": job.channel_id,
            "url": job.url,
            "status": job.status,
            "error": job.error,
            "video_id": job.video_id,
        }
    sender.send("video_import_failed", data, business_id=job.business_id)
