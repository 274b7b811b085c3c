"""``WebhookReceiver``: an ASGI app that turns verified Firework webhooks into Prefect events.

Per delivery, in this order: read the raw body (413 above ``max_body_bytes``; 408 and the
connection closed if it has not all arrived within ``body_timeout`` seconds, so a client that
sends slowly or stops mid-body is dropped instead of holding a connection forever), verify the
signature against the raw bytes (400 malformed header, 401 no match, 400 stale), parse the body
(400), refuse a replay of an accepted delivery (400), emit one Prefect event, answer 202. If
Prefect does not take the event, the answer is 503 and the delivery is forgotten, so that
Firework's retry gets in. Refused deliveries emit nothing. The answer never waits on slow
work: emitting only queues the event for Prefect's background events worker, which sends it to
the API.

Use it standalone (``prefect-firework webhooks``), mounted in a FastAPI/Starlette service
(``app.mount("/webhooks/firework", receiver)``, which serves ``/webhooks/firework/``), or as a
route at an exact path (``app.add_route("/webhooks/firework", receiver.endpoint,
methods=["POST"])``). Logs name the delivery and the reason for a refusal, never the secret or
a signature.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import anyio
import anyio.to_thread
from pydantic import SecretStr
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from prefect_firework.webhooks.delivery import Delivery, MalformedDelivery, parse_delivery
from prefect_firework.webhooks.events import to_event
from prefect_firework.webhooks.replay import ReplayCache, ReplayGuard
from prefect_firework.webhooks.signature import (
    DEFAULT_HEADER,
    DEFAULT_SCHEME,
    DEFAULT_TOLERANCE,
    SignatureRefused,
    verify_signature,
)

__all__ = ["EventNotEmitted", "SecretSource", "WebhookReceiver", "create_webhook_app"]

logger = logging.getLogger("prefect_firework.webhooks")

Secret = str | bytes | SecretStr


class SecretSource(Protocol):
    """Anything that hands out the accepted secrets, e.g. a ``FireworkWebhookSecret`` block."""

    def get_secrets(self) -> list[str]: ...


def _secret_bytes(secret: Secret) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def _resolve_secrets(secret: Secret | Iterable[Secret] | SecretSource) -> tuple[bytes, ...]:
    if hasattr(secret, "get_secrets"):
        values: Iterable[Secret] = secret.get_secrets()
    elif isinstance(secret, str | bytes | SecretStr):
        values = [secret]
    else:
        values = secret
    resolved = tuple(_secret_bytes(value) for value in values)
    if not resolved or not all(resolved):
        raise ValueError("the webhook receiver needs at least one non-empty secret")
    return resolved


class EventNotEmitted(RuntimeError):
    """Prefect did not take the event (no API configured, or its events worker failed)."""


def _default_emit(**event: Any) -> Any:
    from prefect.events import emit_event

    emitted = emit_event(**event)
    if emitted is None:  # emit_event logs its own errors and returns None
        raise EventNotEmitted("Prefect did not accept the event")
    return emitted


class WebhookReceiver:
    """The receiver; see the module docstring. Every argument but ``secret`` is optional.

    Args:
        secret: The endpoint secret, several (rotation: old and new both accepted), or a
            ``FireworkWebhookSecret`` block (its ``tolerance`` applies unless given here).
        tolerance: Seconds a signature timestamp may differ from now (default 300).
        header: Name of the signature header.
        scheme: Signature scheme key in the header (``v1``).
        emit: Called with ``emit_event``'s keyword arguments; default Prefect's ``emit_event``.
        replay_guard: Where accepted deliveries are remembered; default an in-process cache.
        parser: Turns a raw body into a ``Delivery``.
        event_names: Firework event type -> Prefect event name overrides.
        max_body_bytes: Larger bodies are refused with 413 before verification.
        body_timeout: Seconds the whole body may take to arrive, from the end of the headers
            (default 10; Firework itself waits 30 s for the answer); after it, 408 and the
            connection is closed.
        clock: Wall clock in seconds (tests).
    """

    def __init__(
        self,
        secret: Secret | Iterable[Secret] | SecretSource,
        *,
        tolerance: float | None = None,
        header: str = DEFAULT_HEADER,
        scheme: str = DEFAULT_SCHEME,
        emit: Callable[..., Any] | None = None,
        replay_guard: ReplayGuard | None = None,
        parser: Callable[[bytes], Delivery] = parse_delivery,
        event_names: Mapping[str, str] | None = None,
        max_body_bytes: int = 1024 * 1024,
        body_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if tolerance is None:
            tolerance = float(getattr(secret, "tolerance", DEFAULT_TOLERANCE))
        if tolerance <= 0:
            raise ValueError("tolerance must be positive")
        if body_timeout <= 0 or max_body_bytes <= 0:
            raise ValueError("body_timeout and max_body_bytes must be positive")
        self._secrets = _resolve_secrets(secret)
        self.tolerance = tolerance
        self.header = header
        self.scheme = scheme
        self._emit = emit or _default_emit
        self._clock = clock
        self.replay_guard: ReplayGuard = replay_guard or ReplayCache(clock=clock)
        self._parser = parser
        self._names = dict(event_names) if event_names else None
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    def __repr__(self) -> str:  # the secrets stay out of reprs and tracebacks
        return f"WebhookReceiver(header={self.header!r}, tolerance={self.tolerance:g})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: every HTTP path of the mount is the webhook endpoint."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)

    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint (for ``add_route``): one delivery in, one answer out."""
        if request.method == "GET":
            return JSONResponse({"status": "ok", "receiver": "prefect-firework"})
        if request.method != "POST":
            return JSONResponse({"error": "method not allowed"}, 405, {"Allow": "GET, POST"})
        client = request.client.host if request.client else "?"
        try:
            with anyio.fail_after(self.body_timeout):
                body = await self._read_body(request)
        except _TooLarge:
            return self._refuse(client, 413, "body too large", close=True)
        except TimeoutError:
            reason = f"body not received within {self.body_timeout:g} s"
            return self._refuse(client, 408, reason, close=True)
        except ClientDisconnect:
            return self._refuse(client, 400, "client went away mid-body")
        try:
            parsed = verify_signature(
                request.headers.get(self.header),
                body,
                self._secrets,
                tolerance=self.tolerance,
                scheme=self.scheme,
                clock=self._clock,
            )
        except SignatureRefused as exc:
            return self._refuse(client, exc.status, str(exc))
        try:
            delivery = self._parser(body)
        except MalformedDelivery as exc:
            return self._refuse(client, 400, str(exc))
        key = hashlib.sha256(parsed.timestamp.encode() + b"." + body).hexdigest()
        if not self.replay_guard.add(key, parsed.timestamp_seconds + self.tolerance):
            return self._refuse(client, 400, f"replay of delivery {delivery.delivery_id or '-'}")
        event = to_event(delivery, self._names)
        try:
            await anyio.to_thread.run_sync(lambda: self._emit(**event))
        except Exception as exc:  # answer non-2xx so that Firework delivers it again later
            logger.error(
                "Could not emit %s for delivery %s: %s",
                event["event"],
                delivery.delivery_id or key[:12],
                exc,
            )
            forget = getattr(self.replay_guard, "discard", None)
            if forget is not None:
                forget(key)
            return JSONResponse({"error": "could not emit the event; retry later"}, 503)
        logger.info(
            "Accepted %s delivery %s as %s on %s",
            delivery.event_type,
            delivery.delivery_id or key[:12],
            event["event"],
            event["resource"]["prefect.resource.id"],
        )
        return JSONResponse({"status": "accepted", "event_id": str(event["id"])}, 202)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _refuse(client: str, status: int, reason: str, *, close: bool = False) -> Response:
        """The refusal; ``close`` ends the connection too (its body was not read to the end,
        so nothing else can follow on it)."""
        logger.warning("Refused webhook from %s (%d): %s", client, status, reason)
        return Response(
            json.dumps({"error": reason}),
            status_code=status,
            media_type="application/json",
            headers={"Connection": "close"} if close else None,
        )


class _TooLarge(Exception):
    pass


def create_webhook_app(
    secret: Secret | Iterable[Secret] | SecretSource, **options: Any
) -> WebhookReceiver:
    """A ``WebhookReceiver`` (an ASGI app); ``options`` are its keyword arguments."""
    return WebhookReceiver(secret, **options)
