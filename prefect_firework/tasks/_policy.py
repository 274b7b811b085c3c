"""Retry, rate-limit and cache policies shared by the tasks.

Retries are only for failures that are safe to repeat: 429, 5xx and transport errors
(``is_retryable``). Creating a video is stricter: a create whose request may have reached the
server (a 500, 502 or 504, a read timeout, a reset after the body was sent) is *ambiguous*,
and repeating it could make a duplicate video, so it is not retried automatically.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
from prefect.cache_policies import CachePolicy
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel

from prefect_firework.client.errors import (
    FireworkError,
    FireworkTransportError,
    RateLimitedError,
    ServerError,
    is_retryable,
)

__all__ = [
    "RETRY_DELAYS",
    "CreateOutcome",
    "ResumeKey",
    "create_outcome",
    "is_safe_to_retry_create",
    "retry_condition",
    "retry_create_condition",
    "with_rate_limit_wait",
]

T = TypeVar("T")
logger = logging.getLogger("prefect_firework.tasks")

#: exponential backoff for task retries (Prefect adds jitter through retry_jitter_factor)
RETRY_DELAYS: list[float] = [1.0, 2.0, 4.0, 8.0, 16.0]
RETRY_JITTER = 0.5

#: how long one task waits, in total, on 429s before giving up (not counted as retries)
RATE_LIMIT_BUDGET_SECONDS = 900.0
_FALLBACK_RATE_LIMIT_WAIT = 15.0

#: transport failures that happen before the request reached the server
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _exception_of(state: Any) -> BaseException | None:
    try:
        result = state.result(raise_on_failure=False)
    except BaseException as exc:  # the state may hold an unpicklable or missing result
        return exc
    return result if isinstance(result, BaseException) else None


def retry_condition(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for every idempotent operation: 429, 5xx and transport errors."""
    exc = _exception_of(state)
    return exc is not None and is_retryable(exc)


CreateOutcome = Literal["not_created", "unknown"]


def create_outcome(exc: BaseException) -> CreateOutcome:
    """What a failed create means: ``not_created`` only when the answer proves it.

    The one rule both the create task's retries and the batch ledger follow. Not created:
    the request never left (a connect failure, no token), the API refused it (any 4xx,
    429 included), or a 503. Unknown: everything else (500, 502, 504, a reset or timeout after
    sending, a 2xx whose body could not be read): the video may exist. 503 is read as "not
    handled" because gateways (load balancers, CDNs) answer it when they forwarded nothing;
    500, 502 and 504 may come after the backend created the video, e.g. a sync URL import
    that outlived the gateway's timeout (docs/RELIABILITY.md).
    """
    if getattr(exc, "request_sent", True) is False:  # e.g. the token could not be fetched
        return "not_created"
    if isinstance(exc, FireworkTransportError):
        return "unknown" if exc.maybe_sent else "not_created"  # survives pickling
    if isinstance(exc, _NOT_SENT):
        return "not_created"
    if isinstance(exc, ServerError):
        return "not_created" if exc.status_code == 503 else "unknown"
    status = getattr(exc, "status_code", None)
    if isinstance(exc, FireworkError) and isinstance(status, int) and 400 <= status < 500:
        return "not_created"
    return "unknown"


def is_safe_to_retry_create(exc: BaseException) -> bool:
    """True when a failed create certainly made nothing and may pass if tried again."""
    return create_outcome(exc) == "not_created" and is_retryable(exc)


def retry_create_condition(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for creates: only failures that cannot have created a video.

    A 429 that left the task was already waited out for the task's whole budget (or the
    caller asked not to wait: the batch flows pause the channel instead), so it is not
    retried here.
    """
    exc = _exception_of(state)
    return (
        exc is not None and not isinstance(exc, RateLimitedError) and is_safe_to_retry_create(exc)
    )


def with_rate_limit_wait(
    call: Callable[[], T],
    *,
    budget: float = RATE_LIMIT_BUDGET_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, waiting out 429s (``Retry-After``, else a jittered fallback).

    A 429 means "not now", not "failed": waiting it out does not spend one of the task's
    retries, which are kept for real faults. Gives up with the last 429 after ``budget``.
    """
    waited = 0.0
    fallback = 0.0
    while True:
        try:
            return call()
        except RateLimitedError as exc:
            if exc.retry_after is not None:
                delay = exc.retry_after
            else:  # the API promises no Retry-After: back off, doubling, up to 5 minutes
                fallback = min(300.0, fallback * 2 if fallback else _FALLBACK_RATE_LIMIT_WAIT)
                delay = fallback
            delay = max(0.0, delay) + random.uniform(0, 0.25)
            if waited + delay > budget:
                raise
            logger.info("Rate limited (429); waiting %.1f s before trying again", delay)
            sleep(delay)
            waited += delay


def _stable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


@dataclass
class ResumeKey(CachePolicy):
    """Cache key over a task's inputs that survives across flow runs, for resumable steps.

    Credentials never enter the key as such (``exclude``); only the API's identity does (base
    URL and client id), so a sandbox upload is never resumed against production. Pydantic
    models are keyed by their JSON form, with secrets masked by pydantic.
    """

    exclude: list[str] = field(default_factory=lambda: ["credentials"])

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        from prefect_firework.blocks import resolve_credentials

        creds = resolve_credentials(inputs.get("credentials"))
        keyed = {k: _stable(v) for k, v in inputs.items() if k not in self.exclude}
        keyed["__api__"] = [creds.base_url.rstrip("/"), creds.client_id]
        keyed["__task__"] = task_ctx.task.name
        return hash_objects(keyed, raise_on_failure=True)
