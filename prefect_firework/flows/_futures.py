"""Bounded submission: keep at most ``limit`` task runs in flight, wait on every one.

Submitting thousands of futures at once holds them all in memory and floods the Prefect API;
an unwaited future can fail silently. This helper does neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from prefect.futures import PrefectFuture, as_completed

__all__ = ["submit_bounded"]

T = TypeVar("T")


def submit_bounded(
    submit: Callable[[T], PrefectFuture[Any]], items: Iterable[T], limit: int
) -> Iterator[tuple[T, PrefectFuture[Any]]]:
    """Yield ``(item, finished_future)`` pairs, in completion order, never more than ``limit``
    running at once. Every future is waited on before the generator ends."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    in_flight: dict[PrefectFuture[Any], T] = {}
    try:
        for item in items:
            in_flight[submit(item)] = item
            while len(in_flight) >= limit:
                done = next(as_completed(list(in_flight)))
                yield in_flight.pop(done), done
        while in_flight:
            done = next(as_completed(list(in_flight)))
            yield in_flight.pop(done), done
    finally:
        for future in in_flight:  # the consumer stopped early: still wait, never orphan
            future.wait()
