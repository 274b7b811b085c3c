"""Per-channel pacing of video creates: at most 20 creates per channel in any 5 minutes.

:class:`ChannelPacer` keeps the budget in this process; :class:`PrefectRateLimitPacer` keeps it in
a Prefect global concurrency limit per channel, for several processes or machines. Both are
non-blocking (``try_acquire`` / ``next_free_in``): the batch driver polls them. The rule and why
it never draws a 429 are in docs/ARCHITECTURE.md ("Pacing").
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prefect_firework import _defaults

if TYPE_CHECKING:
    from prefect_firework.settings import FireworkSettings

__all__ = [
    "DEFAULT_LIMIT_NAME",
    "ChannelPacer",
    "CreatesLeft",
    "PrefectRateLimitPacer",
    "budget_line",
    "gcl_parameters",
]

Clock = Callable[[], float]

#: name of the Prefect global concurrency limit of a channel (``PrefectRateLimitPacer``)
DEFAULT_LIMIT_NAME = "firework-create-{channel_id}"

#: the first pause of a channel after a 429 without ``Retry-After``; it doubles with each
#: further such 429 until a create succeeds, up to the rate-limit window
DEFAULT_BACKOFF = _defaults.RATE_LIMIT_BACKOFF


def next_backoff(previous: float, initial: float, window: float) -> float:
    """The pause after a 429 that named no ``Retry-After``: ``initial``, then doubling."""
    return min(window, initial if previous <= 0 else previous * 2)


def describe_duration(seconds: float) -> str:
    """``45 s``, ``5 min``, ``1 h 40 min`` (minutes rounded up: a lower bound stays one)."""
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def least_time(creates: int, limit: int, window: float) -> float:
    """The least time ``creates`` creates need under the budget: ``limit`` at once, then
    ``limit`` more each ``window``."""
    return max(0, math.ceil(creates / limit) - 1) * window if creates > 0 else 0.0


def budget_line(
    channel: str, creates: int, limit: int, window: float, *, left: bool = False
) -> str:
    """``412 creates on X6Xqd6W: at least 1 h 40 min at 20 per 5 min`` (``creates left``
    while a run goes on)."""
    least = least_time(creates, limit, window)
    when = "at once" if least <= 0 else f"at least {describe_duration(least)}"
    what = "creates left" if left else "creates"
    return f"{creates} {what} on {channel}: {when} at {limit} per {describe_duration(window)}"


class CreatesLeft:
    """The creates a running batch still has to send, per channel, and the least time the
    budget allows them: what its progress shows as an ETA.

    Each row counts until it ends (created, skipped, failed: its create is no longer to come).
    A lower bound: it assumes the channel's whole budget free now.
    """

    def __init__(self, channel_of: Mapping[int, str], limit: int, window: float) -> None:
        self._channel_of = dict(channel_of)
        self.left: Counter[str] = Counter(self._channel_of.values())
        self.made: Counter[str] = Counter()  # creates this run made, per channel
        self.limit, self.window = limit, float(window)

    def row_ended(self, row: int | None, *, made: bool = False) -> None:
        """The row's create is no longer to come (``made``: it made a video or an import);
        a row counts once, however often told."""
        channel = self._channel_of.pop(row, None) if row is not None else None
        if channel is not None:
            self.left[channel] -= 1
            self.made[channel] += made

    def lines(self) -> list[str]:
        """One line per channel with creates left, in channel order."""
        return [
            budget_line(channel, n, self.limit, self.window, left=True)
            for channel, n in sorted(self.left.items())
            if n > 0
        ]

    def made_lines(self) -> list[str]:
        """Per channel, the creates this run made and the least time the budget allowed them."""
        return [
            budget_line(channel, n, self.limit, self.window)
            for channel, n in sorted(self.made.items())
            if n > 0
        ]


@dataclass
class _Channel:
    """The pacing state of one channel (guarded by the pacer's lock)."""

    completions: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    penalty_until: float = -math.inf
    #: the last pause taken for a 429 without ``Retry-After`` (0: none since the last success)
    backoff: float = 0.0


#: how often a scheduler looks again while the whole budget is in flight
_POLL_WHILE_IN_FLIGHT = 0.5


class ChannelPacer:
    """Release create slots per channel so that at most ``limit`` fall in any ``window`` seconds.

    Thread-safe and per process; it never blocks: the batch driver asks :meth:`try_acquire`
    and, when refused, comes back after :meth:`next_free_in`. ``clock`` is injectable so tests
    run the rule on a fake clock.

    Usage::

        if pacer.try_acquire(channel_id):
            try:
                video = client.create_video(...)  # a 429: pacer.penalize(channel_id, retry_after)
            finally:
                pacer.release(channel_id)          # the create counts for a window from now
    """

    def __init__(
        self,
        limit: int = _defaults.CREATES_PER_WINDOW,
        window: float = _defaults.RATE_WINDOW,
        *,
        backoff: float = DEFAULT_BACKOFF,
        clock: Clock = time.monotonic,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        if not window > 0:
            raise ValueError(f"window must be positive seconds, got {window!r}")
        self.limit = limit
        self.window = float(window)
        self.backoff = float(backoff)
        self._clock = clock
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}

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

    def try_acquire(self, channel_id: str) -> bool:
        """Take a slot if one is free right now; never block. Pair with :meth:`release`."""
        with self._lock:
            state = self._channels.setdefault(channel_id, _Channel())
            now = self._clock()
            at = self._free_at(state, now)
            if at is None or at > now:
                return False
            state.in_flight += 1
            return True

    def release(self, channel_id: str) -> None:
        """End a slot taken with :meth:`try_acquire`: the create's answer came back (or the call
        failed, and the server may still have counted it), so it counts as a completion."""
        with self._lock:
            state = self._channels[channel_id]
            state.in_flight -= 1
            state.completions.append(self._clock())

    def cancel(self, channel_id: str) -> None:
        """Give back a slot taken with :meth:`try_acquire` whose create was never sent."""
        with self._lock:
            self._channels[channel_id].in_flight -= 1

    def succeeded(self, channel_id: str) -> None:
        """A create on ``channel_id`` went through: 429 backoff starts afresh next time."""
        with self._lock:
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
        with self._lock:
            state = self._channels.setdefault(channel_id, _Channel())
            if retry_after is None:
                if state.penalty_until > self._clock():
                    return  # sent before the pause began: the pause already answers it
                state.backoff = next_backoff(state.backoff, self.backoff, self.window)
                delay = state.backoff
            else:
                delay = max(0.0, float(retry_after))
            state.penalty_until = max(state.penalty_until, self._clock() + delay)

    # ------------------------------------------------------------------ introspection

    def wait_time(self, channel_id: str) -> float | None:
        """Seconds until a slot would be free for a new waiter (0: now; None: after an exit)."""
        with self._lock:
            state = self._channels.get(channel_id)
            if state is None:
                return 0.0
            now = self._clock()
            at = self._free_at(state, now)
            return None if at is None else max(0.0, at - now)

    def in_flight(self, channel_id: str) -> int:
        """Slots of ``channel_id`` granted and not yet released or cancelled."""
        with self._lock:
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
    """The same interface as :class:`ChannelPacer`, with the budget in Prefect's server.

    Each channel has a global concurrency limit named ``firework-create-{channel_id}`` with slot
    decay; :meth:`try_acquire` takes one decaying slot of it, so every process and machine
    talking to the same Prefect API shares one budget. Create the
    limits once per channel (or call :meth:`ensure_limit`)::

        # 20 creates / 300 s: burst 1, one slot back every ~16 s (see gcl_parameters)
        prefect gcl create firework-create-X6Xqd6W --limit 1 --slot-decay-per-second 0.0612

    ``strict=True`` (the default) makes a missing limit an error: Prefect's ``rate_limit``
    otherwise returns at once for an unknown name, i.e. no pacing at all.

    Differences from :class:`ChannelPacer`: slots are counted when granted, not when the
    create returns (hence the ``latency`` margin in :func:`gcl_parameters`), and a penalty from
    :meth:`penalize` is local to this process (other processes learn of the 429 from their own).
    """

    def __init__(
        self,
        *,
        name_template: str = DEFAULT_LIMIT_NAME,
        strict: bool = True,
        window: float = _defaults.RATE_WINDOW,
        backoff: float = DEFAULT_BACKOFF,
        clock: Clock = time.monotonic,
    ) -> None:
        if "{channel_id}" not in name_template:
            raise ValueError("name_template must contain '{channel_id}'")
        self.name_template = name_template
        self.strict = strict
        self.window = float(window)
        self.backoff = float(backoff)
        self._backoffs: dict[str, float] = {}
        self._clock = clock
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

    def __repr__(self) -> str:
        return f"PrefectRateLimitPacer(name_template={self.name_template!r})"

    def limit_name(self, channel_id: str) -> str:
        """The global concurrency limit that paces ``channel_id``."""
        return self.name_template.format(channel_id=channel_id)

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
