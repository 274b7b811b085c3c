"""Injectable faults: what a client must survive, armed per endpoint and per count.

``inject`` answers an error instead of handling the request; ``inject_after`` handles it, then
answers an error (the work is done, the client cannot tell); ``reset_connection`` drops the
connection mid-exchange; ``delay`` holds the request, ``slow_response`` its answer;
``answer_when_settled`` holds a create's 202 until its import settles. ``times=None`` arms a
fault until ``clear()``; delays combine with the other kinds on the same request. Over HTTP
each is a JSON object for ``POST /_sandbox/faults`` (see ``Faults.apply``).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from prefect_firework.sandbox.api._routes import ROUTES as API_ROUTES
from prefect_firework.sandbox.s3._routes import ROUTES as S3_ROUTES

__all__ = ["ENDPOINTS", "SETTLE_KEY", "FaultPlan", "FaultRule", "Faults"]

#: ASGI scope key that tells the create handler to hold a 202 until its import settles
SETTLE_KEY = "sandbox.settle_timeout"

#: every endpoint name a fault can target: the names of the two route tables
ENDPOINTS: frozenset[str] = API_ROUTES.endpoints | S3_ROUTES.endpoints


@dataclass
class FaultRule:
    """One armed fault; ``remaining`` counts down, None never does."""

    kind: str  # "status" | "after" | "reset" | "delay" | "late" | "settle"
    endpoint: str
    remaining: int | None
    status: int | None = None
    retry_after: int | str | None = None
    body: Any = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request: wait ``delay`` seconds, then ``action`` (or handle it)."""

    delay: float = 0.0
    action: FaultRule | None = None
    late: float = 0.0
    #: > 0: hold a create's 202 until its import settles, at most this many seconds
    settle: float = 0.0


def _check_endpoint(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINTS)}")


def _check_times(times: int | None) -> None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError("times must be a positive integer or None (forever)")


def _check_status(status: int) -> None:
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an error status (400..599)")


class Faults:
    """The fault registry of one sandbox (``sb.faults``); thread-safe."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def inject(
        self,
        endpoint: str,
        status: int = 500,
        *,
        times: int | None = 1,
        retry_after: int | str | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` requests to ``endpoint`` with ``status``.

        ``retry_after`` adds a ``Retry-After`` header; ``body`` replaces the default error body
        (a dict is sent as JSON, a str or bytes as is).
        """
        _check_endpoint(endpoint)
        _check_times(times)
        _check_status(status)
        self._add(FaultRule("status", endpoint, times, status, retry_after, body))

    def inject_after(
        self,
        endpoint: str,
        status: int = 504,
        *,
        times: int | None = 1,
        retry_after: int | str | None = None,
        body: Any = None,
    ) -> None:
        """Handle the next ``times`` requests to ``endpoint`` for real, then answer ``status``
        in place of the handler's response (a 504/502 from a gateway that gave up while the
        backend finished: the outcome is ambiguous to the client).

        Everything the handler did stays done: a created video, a spent rate-limit slot, a
        started import job, a completed multipart upload. The request log records the
        injected status, the handler's in ``handled_status``, and ``fault="after"``.
        ``retry_after`` and ``body`` work as for ``inject``.
        """
        _check_endpoint(endpoint)
        _check_times(times)
        _check_status(status)
        self._add(FaultRule("after", endpoint, times, status, retry_after, body))

    def reset_connection(self, endpoint: str, *, times: int | None = 1) -> None:
        """Drop the connection of the next ``times`` requests to ``endpoint`` mid-exchange."""
        _check_endpoint(endpoint)
        _check_times(times)
        self._add(FaultRule("reset", endpoint, times))

    def delay(self, endpoint: str, seconds: float, *, times: int | None = None) -> None:
        """Hold requests to ``endpoint`` for ``seconds`` before handling them."""
        _check_endpoint(endpoint)
        _check_times(times)
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self._add(FaultRule("delay", endpoint, times, seconds=float(seconds)))

    def slow_response(self, endpoint: str, seconds: float, *, times: int | None = 1) -> None:
        """Handle the next ``times`` requests to ``endpoint``, then hold each response for
        ``seconds`` before sending it (its effects, e.g. a created video, happen at once). The
        body is the one rendered when the handler finished: a held 202 still says running."""
        _check_endpoint(endpoint)
        _check_times(times)
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self._add(FaultRule("late", endpoint, times, seconds=float(seconds)))

    def answer_when_settled(
        self, endpoint: str = "create_video", timeout: float = 30.0, *, times: int | None = 1
    ) -> None:
        """Of the next ``times`` requests to ``create_video``, hold each 202 until its import
        job is ``completed`` or ``errored`` (at most ``timeout`` seconds), then render it: the
        client reads an already finished import in the 202 itself. Like every fault it counts
        requests: one that does not answer 202 (a sync create, a refusal) uses it up as is."""
        if endpoint != "create_video":
            raise ValueError("answer_when_settled applies to create_video (whose 202 starts a job)")
        _check_times(times)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError("timeout must be a number of seconds > 0")
        self._add(FaultRule("settle", endpoint, times, seconds=float(timeout)))

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._rules.clear()

    def active(self) -> list[dict[str, Any]]:
        """The armed faults, oldest first (as dicts)."""
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def apply(self, spec: dict[str, Any]) -> None:
        """Arm a fault from its JSON form (``POST /_sandbox/faults``).

        ``{"kind": "status", "endpoint": "create_video", "status": 503, "times": 1,
        "retry_after": 2, "body": ...}``, ``{"kind": "after", "endpoint": "create_video",
        "status": 504}`` (``inject_after``; status defaults to 504), ``{"kind": "reset",
        "endpoint": ..., "times": 1}`` or ``{"kind": "delay", "endpoint": ..., "seconds": 1.5,
        "times": null}`` (``"late"``: ``slow_response``), ``{"kind": "settle", "endpoint":
        "create_video", "timeout": 30, "times": 1}`` (``answer_when_settled``).
        """
        kind = spec.get("kind", "status")
        endpoint = spec.get("endpoint")
        if not isinstance(endpoint, str):
            raise ValueError("endpoint is required")
        if kind in ("status", "after"):
            inject = self.inject if kind == "status" else self.inject_after
            inject(
                endpoint,
                spec.get("status", 500 if kind == "status" else 504),
                times=spec.get("times", 1),
                retry_after=spec.get("retry_after"),
                body=spec.get("body"),
            )
        elif kind == "reset":
            self.reset_connection(endpoint, times=spec.get("times", 1))
        elif kind in ("delay", "late"):
            seconds = spec.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ValueError("seconds must be a number")
            if kind == "delay":
                self.delay(endpoint, seconds, times=spec.get("times"))
            else:
                self.slow_response(endpoint, seconds, times=spec.get("times", 1))
        elif kind == "settle":
            self.answer_when_settled(
                endpoint, spec.get("timeout", 30.0), times=spec.get("times", 1)
            )
        else:
            raise ValueError("kind must be one of: status, after, reset, delay, late, settle")

    def take(self, endpoint: str | None) -> FaultPlan:
        """Consume the faults that apply to one request to ``endpoint``."""
        if endpoint is None:
            return FaultPlan()
        delay = late = settle = 0.0
        action: FaultRule | None = None
        with self._lock:
            for rule in list(self._rules):
                if rule.endpoint != endpoint:
                    continue
                if rule.kind == "delay":
                    delay += rule.seconds
                elif rule.kind == "late":
                    late += rule.seconds
                elif rule.kind == "settle":
                    settle = max(settle, rule.seconds)
                elif action is None:
                    action = rule
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
        return FaultPlan(delay, action, late, settle)

    def _add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)
