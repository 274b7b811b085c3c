"""The per-channel create pacer: the rule on a fake clock, then real threads on a tiny window."""

from __future__ import annotations

import copy
import itertools
import pickle
import threading
import time
from collections.abc import Callable

import pytest
from batch_support import FakeClock

from prefect_firework.pacing import ChannelPacer, PrefectRateLimitPacer, gcl_parameters
from prefect_firework.settings import FireworkSettings

# ---------------------------------------------------------------------- the rule, fake clock


def run(
    pacer: ChannelPacer, clock: FakeClock, channel: str, n: int, duration: float = 0.0
) -> list[float]:
    """Start ``n`` creates one after another; return when each started."""
    starts = []
    for _ in range(n):
        with pacer.slot(channel):
            starts.append(clock())
            clock.advance(duration)
    return starts


def test_instant_creates_are_released_window_by_window(clock: FakeClock) -> None:
    pacer = ChannelPacer(3, 10.0, clock=clock, sleep=clock.sleep)
    starts = run(pacer, clock, "ch", 8)
    assert [s - 1000 for s in starts] == [0, 0, 0, 10, 10, 10, 20, 20]


def test_a_slot_counts_from_when_the_create_finished(clock: FakeClock) -> None:
    pacer = ChannelPacer(3, 10.0, clock=clock, sleep=clock.sleep)
    starts = run(pacer, clock, "ch", 7, duration=1.0)
    # creates finish at 1, 2, 3: the 4th starts 10 s after the 1st finished, and so on
    assert [s - 1000 for s in starts] == [0, 1, 2, 11, 12, 13, 22]


def test_slot_released_by_an_exception_still_counts(clock: FakeClock) -> None:
    pacer = ChannelPacer(1, 5.0, clock=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError), pacer.slot("ch"):
        clock.advance(2)
        raise RuntimeError("connection reset: the server may have seen it")
    assert pacer.in_flight("ch") == 0
    assert pacer.wait_time("ch") == pytest.approx(5.0)
    with pacer.slot("ch"):
        assert clock() == pytest.approx(1007.0)


def test_in_flight_slots_count_and_block_until_an_exit(clock: FakeClock) -> None:
    pacer = ChannelPacer(2, 10.0, clock=clock, sleep=clock.sleep)
    with pacer.slot("ch"), pacer.slot("ch"):
        assert pacer.in_flight("ch") == 2
        assert pacer.wait_time("ch") is None  # all budget in flight: free only after an exit
    assert pacer.wait_time("ch") == pytest.approx(10.0)


def test_channels_are_independent(clock: FakeClock) -> None:
    pacer = ChannelPacer(2, 60.0, clock=clock, sleep=clock.sleep)
    run(pacer, clock, "a", 2)
    assert pacer.wait_time("a") == pytest.approx(60.0)
    assert run(pacer, clock, "b", 2) == [1000.0, 1000.0]
    assert clock.sleeps == []


def test_penalize_delays_the_channel_only_and_never_shortens(clock: FakeClock) -> None:
    pacer = ChannelPacer(5, 10.0, clock=clock, sleep=clock.sleep)
    pacer.penalize("a", 7.5)
    pacer.penalize("a", 1.0)  # shorter: ignored
    assert pacer.wait_time("a") == pytest.approx(7.5)
    assert run(pacer, clock, "b", 1) == [1000.0]
    assert run(pacer, clock, "a", 1) == [1007.5]
    pacer.penalize("a", None)  # no Retry-After: a whole window
    assert pacer.wait_time("a") == pytest.approx(10.0)
    pacer.penalize("c", -3)
    assert pacer.wait_time("c") == 0.0


def test_a_waiter_that_gives_up_leaves_the_queue(clock: FakeClock) -> None:
    def impatient(seconds: float) -> None:
        raise KeyboardInterrupt

    pacer = ChannelPacer(1, 10.0, clock=clock, sleep=impatient)
    with pacer.slot("ch"):
        pass
    with pytest.raises(KeyboardInterrupt), pacer.slot("ch"):
        pass  # pragma: no cover - never entered
    clock.advance(10)
    with pacer.slot("ch"):  # not stuck behind the ticket of the waiter that left
        assert clock() == 1010.0


def test_arguments_settings_and_repr() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="limit"):
            ChannelPacer(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        ChannelPacer(1, 0)
    pacer = ChannelPacer.from_settings(FireworkSettings(rate_limit_creates=3, rate_limit_window=2))
    assert (pacer.limit, pacer.window) == (3, 2.0)
    assert repr(pacer) == "ChannelPacer(limit=3, window=2.0)"
    assert (ChannelPacer.from_settings().limit, ChannelPacer.from_settings().window) == (20, 300.0)


def test_pickling_keeps_one_budget_per_process(clock: FakeClock) -> None:
    pacer = ChannelPacer(2, 10.0, clock=clock, sleep=clock.sleep)
    assert pickle.loads(pickle.dumps(pacer)) is pacer
    assert copy.deepcopy(pacer) is pacer
    # in another process the token is unknown: a fresh pacer with the same limits
    from prefect_firework.pacing import _restore_pacer

    other = _restore_pacer("token-from-another-process", 2, 10.0)
    assert other is not pacer and (other.limit, other.window) == (2, 10.0)
    assert _restore_pacer("token-from-another-process", 2, 10.0) is other


def test_gcl_parameters_keep_every_window_under_the_limit() -> None:
    burst, decay = gcl_parameters(20, 300.0)
    assert burst == 1 and decay == 0.0612
    for limit, window, b, latency in [(20, 300.0, 1, 10.0), (20, 300.0, 10, 0.0), (3, 2.0, 2, 0.5)]:
        capacity, rate = gcl_parameters(limit, window, burst=b, latency=latency)
        assert capacity + rate * (window + latency) <= limit
    # the naive settings would allow 20 + 0.0667 * 300 = 40 creates in one window
    assert 20 + 0.0667 * 300 > 20
    with pytest.raises(ValueError):
        gcl_parameters(20, 300.0, burst=20)


# ---------------------------------------------------------------------- real threads, real time

LIMIT, WINDOW, CREATE = 3, 0.5, 0.02


def hammer(pacer: ChannelPacer, jobs: list[str]) -> dict[str, list[tuple[float, float]]]:
    """One thread per job; each takes a slot on its channel and 'creates' for CREATE seconds."""
    spans: dict[str, list[tuple[float, float]]] = {channel: [] for channel in jobs}
    lock = threading.Lock()
    barrier = threading.Barrier(len(jobs))

    def create(channel: str) -> None:
        barrier.wait()
        with pacer.slot(channel):
            start = time.monotonic()
            time.sleep(CREATE)
            end = time.monotonic()
        with lock:
            spans[channel].append((start, end))

    threads = [threading.Thread(target=create, args=(channel,)) for channel in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return spans


def assert_never_over_the_limit(spans: list[tuple[float, float]]) -> None:
    """Wherever the server stamped each create (between our start and end), no window of
    WINDOW seconds holds more than LIMIT: when a create starts, fewer than LIMIT others can have
    been stamped in the WINDOW before it."""
    for start, _ in spans:
        earlier = [(s, e) for s, e in spans if s < start or (s == start and e < _)]
        recent = [e for s, e in earlier if e > start - WINDOW]
        assert len(recent) < LIMIT, (start, recent)


def test_ten_creates_on_one_channel_take_the_theoretical_minimum() -> None:
    pacer = ChannelPacer(LIMIT, WINDOW)
    began = time.monotonic()
    spans = hammer(pacer, ["ch"] * 10)["ch"]
    makespan = max(end for _, end in spans) - began
    assert len(spans) == 10
    assert_never_over_the_limit(spans)
    # 10 creates at 3 per window need 3 full windows; each window also waits one create
    minimum = 3 * WINDOW
    assert minimum <= makespan <= minimum + 4 * CREATE + 0.25, makespan


def test_two_channels_do_not_block_each_other_and_threads_never_exceed() -> None:
    pacer = ChannelPacer(LIMIT, WINDOW)
    began = time.monotonic()
    spans = hammer(pacer, ["a", "b"] * 6 + ["c"] * 3)
    makespan = time.monotonic() - began
    for channel in ("a", "b", "c"):
        assert_never_over_the_limit(spans[channel])
    # 6 per channel = 2 windows' worth: one window of waiting, not three
    assert makespan < WINDOW + 4 * CREATE + 0.3, makespan


def test_waiters_are_served_in_arrival_order() -> None:
    pacer = ChannelPacer(1, 0.05)
    order: list[int] = []
    with pacer.slot("ch"):  # hold the budget while the waiters line up
        threads = []
        for index in range(5):
            thread = threading.Thread(target=lambda i=index: _take(pacer, order, i))
            thread.start()
            threads.append(thread)
            time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=10)
    assert order == [0, 1, 2, 3, 4]


def _take(pacer: ChannelPacer, order: list[int], index: int) -> None:
    with pacer.slot("ch"):
        order.append(index)


def test_penalty_in_real_time() -> None:
    pacer = ChannelPacer(10, 60.0)
    pacer.penalize("ch", 0.2)
    began = time.monotonic()
    with pacer.slot("ch"):
        assert time.monotonic() - began >= 0.2


# ---------------------------------------------------------------------- Prefect global limits


def test_prefect_rate_limit_pacer_interface_without_a_server() -> None:
    pacer = PrefectRateLimitPacer(timeout=5)
    assert pacer.limit_name("X6Xqd6W") == "firework-create-X6Xqd6W"
    with pytest.raises(ValueError):
        PrefectRateLimitPacer(name_template="no-placeholder")
    clone = pickle.loads(pickle.dumps(pacer))
    assert clone.limit_name("c") == "firework-create-c" and clone.timeout == 5
    assert PrefectRateLimitPacer.from_settings(FireworkSettings(rate_limit_window=12)).window == 12


def test_prefect_rate_limit_pacer_against_the_test_server(prefect_harness: None) -> None:
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

    clock = FakeClock()
    slept: list[float] = []
    sleep: Callable[[float], None] = lambda s: (slept.append(s), clock.sleep(s))  # noqa: E731
    pacer = PrefectRateLimitPacer(timeout=20, clock=clock, sleep=sleep)
    # 5 per second, burst 1: one slot back every 0.25 s
    assert pacer.ensure_limit("gcl-ch", limit=5, window=1.0, burst=1, latency=0.0) is True
    assert pacer.ensure_limit("gcl-ch", limit=5, window=1.0, burst=1, latency=0.0) is False

    grants: list[float] = []
    lock = threading.Lock()

    def create() -> None:
        with pacer.slot("gcl-ch"), lock:
            grants.append(time.monotonic())

    threads = [threading.Thread(target=create) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    grants.sort()
    assert len(grants) == 5
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= 0.25 - 0.05, gaps  # the server's clock vs ours: a little slack

    pacer.penalize("gcl-ch", 3.0)  # local wait on the injected clock, then the server's slot
    with pacer.slot("gcl-ch"):
        assert slept and sum(slept) == pytest.approx(3.0)

    with pytest.raises(ConcurrencySlotAcquisitionError), pacer.slot("no-such-channel"):
        pass  # pragma: no cover


def test_a_429_without_retry_after_pauses_the_channel_doubling_until_a_success(
    clock: FakeClock,
) -> None:
    pacer = ChannelPacer(20, 300.0, backoff=15.0, clock=clock, sleep=clock.sleep)
    pacer.penalize("ch", None)
    assert pacer.wait_time("ch") == pytest.approx(15.0)
    pacer.penalize("ch", None)  # sent before the pause began: the pause already answers it
    assert pacer.wait_time("ch") == pytest.approx(15.0)
    assert pacer.wait_time("other") == 0.0, "other channels go on"
    for expected in (30.0, 60.0, 120.0, 240.0, 300.0, 300.0):
        clock.advance(pacer.wait_time("ch") or 0.0)
        pacer.penalize("ch", None)
        assert pacer.wait_time("ch") == pytest.approx(expected)
    clock.advance(300.0)
    pacer.succeeded("ch")
    pacer.penalize("ch", None)
    assert pacer.wait_time("ch") == pytest.approx(15.0), "a success starts the backoff afresh"


def test_cancel_gives_an_unused_slot_back(clock: FakeClock) -> None:
    pacer = ChannelPacer(1, 60.0, clock=clock, sleep=clock.sleep)
    assert pacer.try_acquire("ch")
    assert not pacer.try_acquire("ch")
    pacer.cancel("ch")  # the create was never sent: no completion counts against the window
    assert pacer.try_acquire("ch")
    pacer.release("ch")
    assert not pacer.try_acquire("ch"), "a sent create counts for a window"


def test_the_prefect_pacer_backs_off_the_same_way() -> None:
    clock = FakeClock()
    pacer = PrefectRateLimitPacer(window=100.0, backoff=10.0, clock=clock, sleep=clock.sleep)
    pacer.penalize("ch", None)
    assert pacer.next_free_in("ch") == pytest.approx(10.0)
    clock.advance(10.0)
    pacer.penalize("ch", None)
    assert pacer.next_free_in("ch") == pytest.approx(20.0)
    clock.advance(20.0)
    pacer.succeeded("ch")
    pacer.penalize("ch", None)
    assert pacer.next_free_in("ch") == pytest.approx(10.0)
