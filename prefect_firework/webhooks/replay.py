"""``ReplayCache``: remembers accepted deliveries for as long as their signature stays valid.

A captured delivery can be sent again within the tolerance window and would pass the signature
and age checks. So each accepted delivery's signature is kept until its timestamp leaves the
window; after that the age check refuses it anyway, and the entry can go. Memory is therefore
bounded by the legitimate traffic of one window (signatures cannot be forged to fill it);
``max_entries`` caps even that, dropping the oldest first.

The cache is per process. Receivers behind a load balancer need a shared store: anything with
the same ``add(key, expires_at) -> bool`` (and optionally ``discard(key)``) can replace it.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["ReplayCache", "ReplayGuard"]

logger = logging.getLogger("prefect_firework.webhooks")


class ReplayGuard(Protocol):
    """What the receiver needs: record a key atomically, saying whether it was new."""

    def add(self, key: str, expires_at: float) -> bool: ...


class ReplayCache:
    """Thread-safe set of keys, each forgotten at its own expiry time."""

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def add(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at``; False if it is already recorded (a replay)."""
        with self._lock:
            self._prune(self._clock())
            if key in self._expiry:
                return False
            while len(self._expiry) >= self._max:
                expires_at, oldest = heapq.heappop(self._heap)
                if self._expiry.get(oldest) == expires_at:
                    del self._expiry[oldest]
                    logger.warning("Replay cache full (%d entries); forgot the oldest", self._max)
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True

    def discard(self, key: str) -> None:
        """Forget ``key`` (a delivery accepted but not processed, so its retry may come in)."""
        with self._lock:
            self._expiry.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            self._prune(self._clock())
            return key in self._expiry

    def __len__(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return len(self._expiry)

    def _prune(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:  # not a key added again since
                del self._expiry[key]
