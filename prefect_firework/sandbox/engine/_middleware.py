"""ASGI middleware shared by the API and the S3 front: the request log and fault injection.

It sits outermost: it names each request's endpoint from the route table, applies the faults
armed for it, and logs ``(method, path, endpoint, status, time)`` (never the query, headers or
body, which carry secrets). Requests under ``/_sandbox`` are neither logged nor faulted. A
dropped connection is a response cut short; a logging filter hides uvicorn's complaint about it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prefect_firework.sandbox.engine._routing import RouteTable
from prefect_firework.sandbox.engine._state import RequestRecord, State
from prefect_firework.sandbox.faults import SETTLE_KEY, FaultPlan, FaultRule, Faults

__all__ = ["PRIVATE_PREFIX", "Instrument", "drain", "install_log_filter"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: fault rule -> (content type, body) for an injected error status
FaultBody = Callable[[FaultRule], "tuple[str, bytes]"]

PRIVATE_PREFIX = "/_sandbox"
#: scope key a handler sets when it could not answer (e.g. the client vanished mid-body)
STATUS_KEY = "sandbox.status"
#: scope key: the status the handler answered before ``inject_after`` replaced it
HANDLED_KEY = "sandbox.handled_status"

_DROPPING: contextvars.ContextVar[bool] = contextvars.ContextVar("sandbox_dropping", default=False)
_UNFINISHED = "ASGI callable returned without completing response"


class _QuietDrops(logging.Filter):
    """Hide uvicorn's complaint about the responses we cut short on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_DROPPING.get() and str(record.msg).startswith(_UNFINISHED))


_FILTER = _QuietDrops()


def install_log_filter() -> None:
    """Attach the filter to uvicorn's error logger (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


async def drain(receive: Receive) -> None:
    """Read and discard the request body so an early answer still reaches the client."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class _Exchange:
    """One request on its way through the middleware, and its entry in the request log."""

    def __init__(
        self, state: State, scope: Scope, endpoint: str | None, plan: FaultPlan, send: Send
    ) -> None:
        self.state = state
        self.scope = scope
        self.endpoint = endpoint
        self.plan = plan
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.started = state.now()
        self.status: int | None = None
        self.fault: str | None = (
            "delay" if plan.delay else "late" if plan.late else "settle" if plan.settle else None
        )
        self._send = send
        self._recorded = False

    def record(self) -> None:
        """Log the request, once: before the response's first byte leaves, so a client that
        saw any of it (a 204's headers are the whole response) finds the request in the log."""
        if self._recorded:
            return
        self._recorded = True
        final = self.scope.get(STATUS_KEY, self.status)
        self.state.record(
            RequestRecord(
                method=self.method,
                path=self.path,
                endpoint=self.endpoint,
                status=None if self.fault == "reset" else final,
                time=self.started,
                duration=self.state.now() - self.started,
                fault=self.fault,
                handled_status=self.scope.get(HANDLED_KEY),
            )
        )

    async def send(self, message: Message) -> None:
        """Send ``message``, logging the request as its response starts."""
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            if self.plan.late:  # the work is done; only the answer is late
                await asyncio.sleep(self.plan.late)
            self.record()
        await self._send(message)


class Instrument:
    """Wrap an ASGI app with the request log and the fault registry; ``routes`` names the
    endpoint of each request (the table the app routes by)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: State,
        faults: Faults,
        routes: RouteTable,
        fault_body: FaultBody,
    ) -> None:
        self.app = app
        self.state = state
        self.faults = faults
        self.routes = routes
        self.fault_body = fault_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PRIVATE_PREFIX):
            await self.app(scope, receive, send)
            return
        endpoint = self.routes.endpoint(scope["method"], scope["path"])
        plan = self.faults.take(endpoint)
        exchange = _Exchange(self.state, scope, endpoint, plan, send)
        if plan.settle:  # the create handler holds its 202 (see Faults.answer_when_settled)
            scope[SETTLE_KEY] = plan.settle
        try:
            if plan.delay:
                await asyncio.sleep(plan.delay)
            await self._answer(plan.action, exchange, scope, receive, send)
        finally:
            exchange.record()

    async def _answer(
        self,
        action: FaultRule | None,
        exchange: _Exchange,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Hand the request to the app, or answer it with the armed fault ``action``."""
        if action is None:
            await self.app(scope, receive, exchange.send)
        elif action.kind == "after":
            exchange.fault = "after"
            await self._handle_then_fail(action, scope, receive, exchange.send)
        elif action.kind == "reset":
            exchange.fault = "reset"
            await self._drop(receive, send)
        else:
            exchange.fault = "status"
            await drain(receive)
            await self._fail(action, exchange.send)

    async def _handle_then_fail(
        self, rule: FaultRule, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the handler to the end (its effects persist), discard its response, and send
        the injected one: the backend finished, the gateway had given up."""

        async def discard(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope[HANDLED_KEY] = int(message["status"])

        await self.app(scope, receive, discard)
        await self._fail(rule, send)

    async def _fail(self, rule: FaultRule, send: Send) -> None:
        content_type, body = self.fault_body(rule)
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        if rule.retry_after is not None:
            headers.append((b"retry-after", str(rule.retry_after).encode()))
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _drop(self, receive: Receive, send: Send) -> None:
        _DROPPING.set(True)
        await receive()  # take the first piece of the request body, if any, then hang up
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", b"1048576"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"\0" * 16, "more_body": True})
