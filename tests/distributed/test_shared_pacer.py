"""``PrefectRateLimitPacer`` against the test server: polling never starves a channel.

Prefect 3.9 resets a rate limit's decay clock on every denied increment without decaying its
slots first, so a client that asks for a slot more often than one decays back would never get
one. The pacer reads the limit (which changes nothing) and asks only when a slot is free."""

from __future__ import annotations

import itertools
import time

import pytest
from components import unique

from prefect_firework.batch._pacing import PrefectRateLimitPacer

pytestmark = pytest.mark.prefect_server


def test_tight_polling_still_gets_every_slot_as_it_decays_back():
    pacer = PrefectRateLimitPacer()
    channel = unique("poll")
    # burst 1, one slot back every 0.5 s
    assert pacer.ensure_limit(channel, limit=3, window=1.0, burst=1, latency=0.0)
    grants = []
    started = time.monotonic()
    while time.monotonic() - started < 3.0:  # bounded: 3 s of polls every 20 ms
        if pacer.try_acquire(channel):
            grants.append(time.monotonic() - started)
        time.sleep(0.02)
    # 1 at once + one per 0.5 s: 6 at best; a starved channel gets the first one only
    print("grants", [round(g, 2) for g in grants])
    assert len(grants) >= 4, grants
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= 0.5 - 0.05, gaps  # never faster than the limit
    assert 0.05 <= pacer.next_free_in(channel) <= 1.0
