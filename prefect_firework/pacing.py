"""Per-channel pacing of video creates: 20 per 5 minutes per channel (spec 6), bytes unlimited.

Uploading bytes is not rate limited, creating videos is. So a batch uploads ahead and asks a pacer
for a *create slot* just before each ``POST /api/v1/videos``; the pacer releases slots exactly as
fast as the server's sliding window allows, so a single process never sees a 429 and the makespan
stays at the theoretical minimum.

The rule (:class:`ChannelPacer`)
--------------------------------
The server counts a create at the moment it receives it, which is somewhere between our send and
the response. We cannot see that moment, so we count conservatively:

- a slot is *in flight* while the ``with pacer.slot(channel):`` block runs (the create is being
  sent, the server may already have counted it);
- when the block exits (the response came back, or the call failed: the server may still have
  seen it) the slot becomes a *completion* stamped with the exit time, an upper bound of the
  server's stamp;
- a new slot may start when ``in_flight + completions within the last window < limit``.

A completion therefore leaves the count exactly ``window`` seconds after the server could last
have counted it: no earlier (no 429), no later than needed (no wasted time beyond the request's
own latency). Waiters on one channel are served in arrival order; channels never block each
other. A 429 that comes anyway (another process spent the budget) calls :meth:`penalize`.

Across processes (:class:`PrefectRateLimitPacer`)
-------------------------------------------------
:class:`ChannelPacer` is per process: it holds a lock and its state lives in memory. Pickling it
does not carry the state: in the same process the unpickled object *is* the original (so thread
pools, deep copies and Prefect's parameter hashing share one budget), in another process it
becomes that process's own pacer with the same limit and window. When several processes or
machines create videos on the same channels, use :class:`PrefectRateLimitPacer`, which takes the
budget from a Prefect global concurrency limit with slot decay, one limit per channel.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefect_firework import _defaults

if TYPE_CHECKING:
    from prefect_firework.settings import FireworkSettings

__all__ = [
    "DEFAULT_LIMIT_NAME",
    "ChannelPacer",
    "PrefectRateLimitPacer",
    "gcl_parameters",
]

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: name of the Prefect global concurrency limit of a channel (``PrefectRateLimitPacer``)
DEFAULT_LIMIT_NAME = "firework-create-{channel_id}"

#: the first pause of a channel after a 429 without ``Retry-After``; it doubles with each
#: further such 429 until a create succeeds, up to the rate-limit window
DEFAULT_BACKOFF = _defaults.RATE_LIMIT_BACKOFF


def next_backoff(previous: float, initial: float, window: float) -> float:
    """The pause after a 429 that named no ``Retry-After``: ``initial``, then doubling."""
    return min(window, initial if previous <= 0 else previous * 2)


@dataclass
class _Channel:
    """The pacing state of one channel (guarded by the pacer's condition)."""

    completions: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    penalty_until: float = -math.inf
    #: the last pause taken for a 429 without ``Retry-After`` (0: none since the last success)
    backoff: float = 0.0
    waiting: deque[int] = field(default_factory=deque)


_registry_lock = threading.RLock()
_registry: weakref.WeakValueDictionary[str, ChannelPacer] = weakref.WeakValueDictionary()


def _restore_pacer(
    token: str, limit: int, window: float, backoff: float = DEFAULT_BACKOFF
) -> ChannelPacer:
    """Unpickle: the live pacer of this process with that token, or a new local one."""
    with _registry_lock:
        pacer = _registry.get(token)
        if pacer is None:
            pacer = ChannelPacer(limit, window, backoff=backoff, _token=token)
        return pacer


#: how often a scheduler looks again while the whole budget is in flight
_POLL_WHILE_IN_FLIGHT = 0.5


class ChannelPacer:
    """Release create slots per channel so that at most ``limit`` fall in any ``window`` seconds.

    Thread-safe; per process (see the module docstring). ``clock`` and ``sleep`` are injectable
    so tests can run the rule on a fake clock: the pacer only ever waits by calling ``sleep``
    (for time to pass) or by waiting on its condition (for another thread's slot to start or
    finish), never by busy-looping.

    Usage::

        pacer = ChannelPacer.from_settings()
        with pacer.slot(channel_id):
            video = client.create_video(...)   # a 429 here: pacer.penalize(channel_id, retry_after)
    """

    def __init__(
        self,
        limit: int = _defaults.CREATES_PER_WINDOW,
        window: float = _defaults.RATE_WINDOW,
        *,
        backoff: float = DEFAULT_BACKOFF,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        _token: str | None = None,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        if not window > 0:
            raise ValueError(f"window must be positive seconds, got {window!r}")
        self.limit = limit
        self.window = float(window)
        self.backoff = float(backoff)
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._channels: dict[str, _Channel] = {}
        self._tickets = itertools.count()
        self._token = _token or uuid.uuid4().hex
        with _registry_lock:
            _registry[self._token] = self

    @classmethod
    def from_settings(cls, settings: FireworkSettings | None = None) -> ChannelPacer:
        """A pacer with ``FIREWORK_RATE_LIMIT_CREATES`` per ``FIREWORK_RATE_LIMIT_WINDOW``."""
        if settings is None:
            from prefect_firework.settings import FireworkSettings

            settings = FireworkSettings()
        return cls(
            settings.rate_limit_creates,
            settings.rate_limit_window,
            backoff=settings.rate_limit_backoff,
        )

    def __repr__(self) -> str:
        return f"ChannelPacer(limit={self.limit}, window={self.window})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_pacer, (self._token, self.limit, self.window, self.backoff))

    # ------------------------------------------------------------------ the rule

    def _free_at(self, state: _Channel, now: float) -> float | None:
        """When the next slot of ``state`` may start (``None``: only after an exit)."""
        while state.completions and state.completions[0] + self.window <= now:
            state.completions.popleft()
        used = state.in_flight + len(state.completions)
        if used < self.limit:
            at = now
        else:
            expiring = used - self.limit + 1  # completions that must leave the window first
            if expiring > len(state.completions):
                return None  # all the budget is in flight: wait for an exit
            at = state.completions[expiring - 1] + self.window
        return max(at, state.penalty_until)

    @contextmanager
    def slot(self, channel_id: str) -> Iterator[None]:
        """Block until a create may start on ``channel_id``; the slot is in flight in the block.

        On exit, normal or by exception, the slot counts as a completion for ``window`` seconds:
        a create that failed may still have reached the server.
        """
        self._acquire(channel_id)
        try:
            yield
        finally:
            self._release(channel_id)

    def _acquire(self, channel_id: str) -> None:
        with self._cond:
            state = self._channels.setdefault(channel_id, _Channel())
            ticket = next(self._tickets)
            state.waiting.append(ticket)
        try:
            while True:
                with self._cond:
                    while state.waiting[0] != ticket:
                        self._cond.wait()
                    now = self._clock()
                    at = self._free_at(state, now)
                    if at is not None and at <= now:
                        state.waiting.popleft()
                        state.in_flight += 1
                        self._cond.notify_all()  # the next waiter is now at the head
                        return
                    if at is None:
                        self._cond.wait()
                        continue
                    delay = at - now
                # the head sleeps outside the lock: other channels go on meanwhile
                self._sleep(delay)
        except BaseException:
            with self._cond:
                if ticket in state.waiting:
                    state.waiting.remove(ticket)
                    self._cond.notify_all()
            raise

    def _release(self, channel_id: str) -> None:
        with self._cond:
            state = self._channels[channel_id]
            state.in_flight -= 1
            state.completions.append(self._clock())
            self._cond.notify_all()

    # ------------------------------------------------------- non-blocking (the flow driver)

    def try_acquire(self, channel_id: str) -> bool:
        """Take a slot if one is free right now and nobody is queued for it; never block.

        For a scheduler that must not stall its own thread: pair with :meth:`release`.
        """
        with self._cond:
            state = self._channels.setdefault(channel_id, _Channel())
            if state.waiting:
                return False
            now = self._clock()
            at = self._free_at(state, now)
            if at is None or at > now:
                return False
            state.in_flight += 1
            return True

    def release(self, channel_id: str) -> None:
        """End a slot taken with :meth:`try_acquire` (it now counts as a completion)."""
        self._release(channel_id)

    def cancel(self, channel_id: str) -> None:
        """Give back a slot taken with :meth:`try_acquire` whose create was never sent."""
        with self._cond:
            self._channels[channel_id].in_flight -= 1
            self._cond.notify_all()

    def succeeded(self, channel_id: str) -> None:
        """A create on ``channel_id`` went through: 429 backoff starts afresh next time."""
        with self._cond:
            state = self._channels.get(channel_id)
            if state is not None:
                state.backoff = 0.0

    def next_free_in(self, channel_id: str) -> float:
        """Seconds until :meth:`try_acquire` may succeed (a short poll while all are in flight)."""
        wait = self.wait_time(channel_id)
        return _POLL_WHILE_IN_FLIGHT if wait is None else wait

    def penalize(self, channel_id: str, retry_after: float | None = None) -> None:
        """A 429 came anyway: no new slot for ``channel_id`` for ``retry_after`` seconds.

        ``None`` (the API documents no ``Retry-After``) pauses the channel for ``backoff``
        seconds, doubling with each such 429 until a create succeeds (:meth:`succeeded`), up
        to a whole window; a 429 that arrives while a pause is on (its create was sent
        before the pause began) changes nothing. Penalties only extend: a shorter one never
        shortens a longer one.
        """
        with self._cond:
            state = self._channels.setdefault(channel_id, _Channel())
            if retry_after is None:
                if state.penalty_until > self._clock():
                    return  # sent before the pause began: the pause already answers it
                state.backoff = next_backoff(state.backoff, self.backoff, self.window)
                delay = state.backoff
            else:
                delay = max(0.0, float(retry_after))
            state.penalty_until = max(state.penalty_until, self._clock() + delay)
            self._cond.notify_all()

    # ------------------------------------------------------------------ introspection

    def wait_time(self, channel_id: str) -> float | None:
        """Seconds until a slot would be free for a new waiter (0: now; None: after an exit).

        Waiters already queued go first, so this is a lower bound when some are waiting.
        """
        with self._cond:
            state = self._channels.get(channel_id)
            if state is None:
                return 0.0
            now = self._clock()
            at = self._free_at(state, now)
            return None if at is None else max(0.0, at - now)

    def in_flight(self, channel_id: str) -> int:
        """Slots of ``channel_id`` currently inside a ``slot()`` block."""
        with self._cond:
            state = self._channels.get(channel_id)
            return 0 if state is None else state.in_flight


# ---------------------------------------------------------------------- across processes


def gcl_parameters(
    limit: int = _defaults.CREATES_PER_WINDOW,
    window: float = _defaults.RATE_WINDOW,
    *,
    burst: int = 1,
    latency: float = 10.0,
) -> tuple[int, float]:
    """``(gcl limit, slot decay per second)`` that keep any ``window`` under ``limit`` creates.

    A Prefect rate limit is a token bucket: ``burst`` slots, refilled at ``decay`` per second.
    In any span of ``T`` seconds it grants at most ``burst + decay * T`` slots; a slot granted
    now may reach the server up to ``latency`` seconds later. So the server sees at most
    ``burst + decay * (window + latency)`` creates per window, and we solve for ``decay``.
    A bucket of ``limit`` slots refilled at ``limit / window`` (e.g. ``--limit 20
    --slot-decay-per-second 0.0667``) is **not** safe: it grants 20 at once and 19 more over the
    next 285 s, 39 in one window. ``burst=1`` gives the best long-run rate (about ``limit - 1``
    per ``window + latency``); a larger burst starts faster and then runs slower.
    """
    if not 1 <= burst < limit:
        raise ValueError(f"burst must be between 1 and limit - 1 ({limit - 1}), got {burst}")
    decay = (limit - burst) / (window + latency)
    return burst, math.floor(decay * 10_000) / 10_000  # round down: never faster than safe


class PrefectRateLimitPacer:
    """The same ``slot()``/``penalize()`` interface, with the budget in Prefect's server.

    Each channel has a global concurrency limit named ``firework-create-{channel_id}`` with slot
    decay; :meth:`slot` calls :func:`prefect.concurrency.sync.rate_limit` on it before the block,
    so every process and machine talking to the same Prefect API shares one budget. Create the
    limits once per channel (or call :meth:`ensure_limit`)::

        # 20 creates / 300 s: burst 1, one slot back every ~16 s (see gcl_parameters)
        prefect gcl create firework-create-X6Xqd6W --limit 1 --slot-decay-per-second 0.0612

    ``strict=True`` (the default) makes a missing limit an error: Prefect's ``rate_limit``
    otherwise returns at once for an unknown name, i.e. no pacing at all.

    Differences from :class:`ChannelPacer`: slots are counted when granted, not when the
    create returns (hence the ``latency`` margin in :func:`gcl_parameters`), and a penalty from
    :meth:`penalize` is local to this process (other processes learn of the 429 from their own).
    Picklable: the lock and penalties are rebuilt per process.
    """

    def __init__(
        self,
        *,
        name_template: str = DEFAULT_LIMIT_NAME,
        timeout: float | None = None,
        strict: bool = True,
        window: float = _defaults.RATE_WINDOW,
        backoff: float = DEFAULT_BACKOFF,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if "{channel_id}" not in name_template:
            raise ValueError("name_template must contain '{channel_id}'")
        self.name_template = name_template
        self.timeout = timeout
        self.strict = strict
        self.window = float(window)
        self.backoff = float(backoff)
        self._backoffs: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._penalties: dict[str, float] = {}
        self._decay: dict[str, float] = {}  # each channel's slot decay, as last read

    @classmethod
    def from_settings(cls, settings: FireworkSettings | None = None) -> PrefectRateLimitPacer:
        """A pacer whose default penalty (no ``Retry-After``) is the configured window."""
        if settings is None:
            from prefect_firework.settings import FireworkSettings

            settings = FireworkSettings()
        return cls(window=settings.rate_limit_window, backoff=settings.rate_limit_backoff)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_penalties"] = {}
        state["_decay"] = {}
        state["_backoffs"] = {}
        if state.get("_clock") is not time.monotonic:
            state["_clock"] = time.monotonic
        if state.get("_sleep") is not time.sleep:
            state["_sleep"] = time.sleep
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PrefectRateLimitPacer(name_template={self.name_template!r})"

    def limit_name(self, channel_id: str) -> str:
        """The global concurrency limit that paces ``channel_id``."""
        return self.name_template.format(channel_id=channel_id)

    @contextmanager
    def slot(self, channel_id: str) -> Iterator[None]:
        """Wait out a local penalty, then take one decaying slot of the channel's limit."""
        from prefect.concurrency.sync import rate_limit

        while True:
            with self._lock:
                delay = self._penalties.get(channel_id, -math.inf) - self._clock()
            if delay <= 0:
                break
            self._sleep(delay)
        rate_limit(
            self.limit_name(channel_id), occupy=1, timeout_seconds=self.timeout, strict=self.strict
        )
        yield

    def try_acquire(self, channel_id: str) -> bool:
        """Take a decaying slot if the server has one free now; never wait for one.

        The limit is read first (a GET, which changes nothing) and a slot is asked for
        (``POST /v2/concurrency_limits/increment``) only when one is free. Two reasons:
        Prefect 3.9 resets a limit's decay clock on every *denied* request without decaying
        its slots first, so processes that keep asking while the bucket is empty push the
        next slot back each time (two busy pollers can starve a channel); and a request
        abandoned on a client-side timeout may still be granted by the server, spending a
        slot nobody uses. A denial now only happens when another process took the free slot
        between our read and our request.
        """
        with self._lock:
            if self._penalties.get(channel_id, -math.inf) > self._clock():
                return False
        import httpx
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        name = self.limit_name(channel_id)
        with get_client(sync_client=True) as client:
            try:
                limit = client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                limit = None
            if limit is None or not limit.active:
                # what Prefect's rate_limit does: strict raises, else no pacing at all
                from prefect.concurrency.sync import rate_limit

                rate_limit(name, occupy=1, timeout_seconds=5, strict=self.strict)
                return True
            with self._lock:
                self._decay[channel_id] = limit.slot_decay_per_second
            if limit.active_slots + 1 > limit.limit:
                return False
            try:
                client.increment_concurrency_slots(names=[name], slots=1, mode="rate_limit")
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 423:  # another process was quicker
                    return False
                raise
        return True

    def release(self, channel_id: str) -> None:
        """Nothing to give back: a rate-limit slot decays on the server by itself."""

    def cancel(self, channel_id: str) -> None:
        """Nothing to give back: a granted slot decays whether it was used or not."""

    def succeeded(self, channel_id: str) -> None:
        """A create went through: 429 backoff starts afresh next time."""
        with self._lock:
            self._backoffs.pop(channel_id, None)

    def next_free_in(self, channel_id: str) -> float:
        """Seconds until it is worth reading the limit again: a penalty, else a poll at 1/40
        of the slot interval (0.05..1 s), so a freed slot waits at most ~2.5% of it."""
        with self._lock:
            penalty = self._penalties.get(channel_id, -math.inf) - self._clock()
            decay = self._decay.get(channel_id)
        poll = _POLL_WHILE_IN_FLIGHT if not decay else min(1.0, max(0.05, 1 / (40 * decay)))
        return max(penalty, poll)

    def penalize(self, channel_id: str, retry_after: float | None = None) -> None:
        """A 429 came anyway: this process starts no create on the channel for a while
        (``retry_after``, else a backoff doubling from ``backoff`` up to the window)."""
        with self._lock:
            if retry_after is None:
                if self._penalties.get(channel_id, -math.inf) > self._clock():
                    return  # sent before the pause began: the pause already answers it
                delay = next_backoff(self._backoffs.get(channel_id, 0.0), self.backoff, self.window)
                self._backoffs[channel_id] = delay
            else:
                delay = max(0.0, float(retry_after))
            until = self._clock() + delay
            self._penalties[channel_id] = max(self._penalties.get(channel_id, -math.inf), until)

    def ensure_limit(
        self,
        channel_id: str,
        *,
        limit: int = _defaults.CREATES_PER_WINDOW,
        window: float = _defaults.RATE_WINDOW,
        burst: int = 1,
        latency: float = 10.0,
    ) -> bool:
        """Create the channel's limit (see :func:`gcl_parameters`) unless it exists.

        Returns True when it was created. Needs the Prefect API; an existing limit is left as
        it is (an operator may have tuned it).
        """
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
        from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

        capacity, decay = gcl_parameters(limit, window, burst=burst, latency=latency)
        name = self.limit_name(channel_id)
        with get_client(sync_client=True) as client:
            try:
                client.read_global_concurrency_limit_by_name(name)
                return False
            except ObjectNotFound:
                pass
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(
                        name=name, limit=capacity, slot_decay_per_second=decay, active=True
                    )
                )
            except ObjectAlreadyExists:
                return False
        return True


def make_pacer(
    *, shared: bool = False, settings: FireworkSettings | None = None
) -> ChannelPacer | PrefectRateLimitPacer:
    """The pacer a batch flow uses: in-process by default, Prefect's global concurrency
    limits when ``shared`` (several processes or machines drawing on one channel budget)."""
    if shared:
        return PrefectRateLimitPacer.from_settings(settings)
    return ChannelPacer.from_settings(settings)
