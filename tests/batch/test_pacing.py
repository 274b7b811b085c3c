"""The per-channel create pacer: the rule on a fake clock, threads racing for slots, and Prefect's
global concurrency limits against the test server."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from batch_support import FakeClock

from prefect_firework.batch._pacing import ChannelPacer, PrefectRateLimitPacer, gcl_parameters
from prefect_firework.settings import FireworkSettings

# ---------------------------------------------------------------------- the rule, fake clock


@contextmanager
def slot(
    pacer: ChannelPacer | PrefectRateLimitPacer, channel: str, sleep: Callable[[float], None]
) -> Iterator[None]:
    """What the batch driver does: ask, come back after ``next_free_in``, release on exit."""
    while not pacer.try_acquire(channel):
        sleep(pacer.next_free_in(channel))
    try:
        yield
    finally:
        pacer.release(channel)


def run(
    pacer: ChannelPacer, clock: FakeClock, channel: str, n: int, duration: float = 0.0
) -> list[float]:
    """Start ``n`` creates one after another; return when each started."""
    starts = []
    for _ in range(n):
        with slot(pacer, channel, clock.sleep):
            starts.append(clock())
            clock.advance(duration)
    return starts


def test_instant_creates_are_released_window_by_window(clock: FakeClock) -> None:
    pacer = ChannelPacer(3, 10.0, clock=clock)
    starts = run(pacer, clock, "ch", 8)
    assert [s - 1000 for s in starts] == [0, 0, 0, 10, 10, 10, 20, 20]


def test_a_slot_counts_from_when_the_create_finished(clock: FakeClock) -> None:
    pacer = ChannelPacer(3, 10.0, clock=clock)
    starts = run(pacer, clock, "ch", 7, duration=1.0)
    # creates finish at 1, 2, 3: the 4th starts 10 s after the 1st finished, and so on
    assert [s - 1000 for s in starts] == [0, 1, 2, 11, 12, 13, 22]


def test_slot_released_by_an_exception_still_counts(clock: FakeClock) -> None:
    pacer = ChannelPacer(1, 5.0, clock=clock)
    with pytest.raises(RuntimeError), slot(pacer, "ch", clock.sleep):
        clock.advance(2)
        raise RuntimeError("connection reset: the server may have seen it")
    assert pacer.in_flight("ch") == 0
    assert pacer.wait_time("ch") == pytest.approx(5.0)
    with slot(pacer, "ch", clock.sleep):
        assert clock() == pytest.approx(1007.0)


def test_in_flight_slots_count_and_block_until_an_exit(clock: FakeClock) -> None:
    pacer = ChannelPacer(2, 10.0, clock=clock)
    with slot(pacer, "ch", clock.sleep), slot(pacer, "ch", clock.sleep):
        assert pacer.in_flight("ch") == 2
        assert pacer.wait_time("ch") is None  # all budget in flight: free only after an exit
    assert pacer.wait_time("ch") == pytest.approx(10.0)


def test_channels_are_independent(clock: FakeClock) -> None:
    pacer = ChannelPacer(2, 60.0, clock=clock)
    run(pacer, clock, "a", 2)
    assert pacer.wait_time("a") == pytest.approx(60.0)
    assert run(pacer, clock, "b", 2) == [1000.0, 1000.0]
    assert clock.sleeps == []


def test_penalize_delays_the_channel_only_and_never_shortens(clock: FakeClock) -> None:
    pacer = ChannelPacer(5, 10.0, clock=clock)
    pacer.penalize("a", 7.5)
    pacer.penalize("a", 1.0)  # shorter: ignored
    assert pacer.wait_time("a") == pytest.approx(7.5)
    assert run(pacer, clock, "b", 1) == [1000.0]
    assert run(pacer, clock, "a", 1) == [1007.5]
    pacer.penalize("a", None)  # no Retry-After: a whole window
    assert pacer.wait_time("a") == pytest.approx(10.0)
    pacer.penalize("c", -3)
    assert pacer.wait_time("c") == 0.0


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


# ---------------------------------------------------------------------- threads racing for slots


def test_threads_racing_for_slots_never_get_more_than_the_limit(clock: FakeClock) -> None:
    pacer = ChannelPacer(3, 10.0, clock=clock)
    barrier = threading.Barrier(16)
    granted: list[str] = []
    lock = threading.Lock()

    def ask(channel: str) -> None:
        barrier.wait()
        if pacer.try_acquire(channel):
            with lock:
                granted.append(channel)

    threads = [threading.Thread(target=ask, args=(ch,)) for ch in ["a"] * 8 + ["b"] * 8]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(granted) == ["a"] * 3 + ["b"] * 3
    assert pacer.in_flight("a") == pacer.in_flight("b") == 3
    for _ in range(3):
        pacer.release("a")
    assert not pacer.try_acquire("a"), "released slots count for a window"
    clock.advance(10.0)
    assert pacer.try_acquire("a")


def test_penalty_in_real_time() -> None:
    pacer = ChannelPacer(10, 60.0)
    pacer.penalize("ch", 0.2)
    began = time.monotonic()
    with slot(pacer, "ch", time.sleep):
        assert time.monotonic() - began >= 0.2


# ---------------------------------------------------------------------- Prefect global limits


def test_prefect_rate_limit_pacer_interface_without_a_server() -> None:
    pacer = PrefectRateLimitPacer()
    assert pacer.limit_name("X6Xqd6W") == "firework-create-X6Xqd6W"
    with pytest.raises(ValueError):
        PrefectRateLimitPacer(name_template="no-placeholder")
    assert PrefectRateLimitPacer.from_settings(FireworkSettings(rate_limit_window=12)).window == 12


@pytest.mark.prefect_server
def test_prefect_rate_limit_pacer_against_the_test_server() -> None:
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

    clock = FakeClock()  # the local penalty's clock; the server's slots decay in real time
    pacer = PrefectRateLimitPacer(clock=clock)
    # 5 per second, burst 1: one slot back every 0.25 s
    assert pacer.ensure_limit("gcl-ch", limit=5, window=1.0, burst=1, latency=0.0) is True
    assert pacer.ensure_limit("gcl-ch", limit=5, window=1.0, burst=1, latency=0.0) is False

    grants: list[float] = []
    for _ in range(5):
        with slot(pacer, "gcl-ch", time.sleep):
            grants.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= 0.25 - 0.05, gaps  # the server's clock vs ours: a little slack

    pacer.penalize("gcl-ch", 3.0)  # a local wait first, then the server's slot
    assert not pacer.try_acquire("gcl-ch")
    assert pacer.next_free_in("gcl-ch") == pytest.approx(3.0)
    clock.advance(3.0)
    with slot(pacer, "gcl-ch", time.sleep):
        pass

    with pytest.raises(ConcurrencySlotAcquisitionError):
        pacer.try_acquire("no-such-channel")


def test_a_429_without_retry_after_pauses_the_channel_doubling_until_a_success(
    clock: FakeClock,
) -> None:
    pacer = ChannelPacer(20, 300.0, backoff=15.0, clock=clock)
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
    pacer = ChannelPacer(1, 60.0, clock=clock)
    assert pacer.try_acquire("ch")
    assert not pacer.try_acquire("ch")
    pacer.cancel("ch")  # the create was never sent: no completion counts against the window
    assert pacer.try_acquire("ch")
    pacer.release("ch")
    assert not pacer.try_acquire("ch"), "a sent create counts for a window"


def test_the_prefect_pacer_backs_off_the_same_way() -> None:
    clock = FakeClock()
    pacer = PrefectRateLimitPacer(window=100.0, backoff=10.0, clock=clock)
    pacer.penalize("ch", None)
    assert pacer.next_free_in("ch") == pytest.approx(10.0)
    clock.advance(10.0)
    pacer.penalize("ch", None)
    assert pacer.next_free_in("ch") == pytest.approx(20.0)
    clock.advance(20.0)
    pacer.succeeded("ch")
    pacer.penalize("ch", None)
    assert pacer.next_free_in("ch") == pytest.approx(10.0)
