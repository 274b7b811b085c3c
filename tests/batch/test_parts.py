"""The part planner: hard invariants under hypothesis, plus worked examples."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prefect_firework.batch._parts import (
    MAX_PART_SIZE,
    PREFERRED_MAX_PART_SIZE,
    PartRange,
    plan_parts,
)
from prefect_firework.limits import DEFAULT_LIMITS, MediaLimits

MiB = 1024 * 1024
GiB = 1024 * MiB
LIMITS = DEFAULT_LIMITS

sizes = st.integers(min_value=LIMITS.min_file_size, max_value=LIMITS.max_file_size)
concurrencies = st.integers(min_value=1, max_value=64)


def check_invariants(plan: list[PartRange], size: int, limits: MediaLimits = LIMITS) -> None:
    assert 1 <= len(plan) <= limits.max_parts
    assert [p.number for p in plan] == list(range(1, len(plan) + 1))
    assert plan[0].offset == 0
    for prev, nxt in itertools.pairwise(plan):
        assert nxt.offset == prev.end  # contiguous: no gap, no overlap, in order
    assert plan[-1].end == size
    assert sum(p.length for p in plan) == size
    assert all(p.length > 0 for p in plan)
    assert all(p.length >= limits.min_part_size for p in plan[:-1])
    assert all(p.length <= MAX_PART_SIZE for p in plan)
    # every part but the last has the same size (the plan is one part size, not a mix)
    assert len({p.length for p in plan[:-1]}) <= 1
    assert plan[-1].length <= plan[0].length


@settings(max_examples=400, deadline=None)
@given(size=sizes, concurrency=concurrencies)
@example(size=LIMITS.min_file_size, concurrency=1)
@example(size=LIMITS.max_file_size, concurrency=64)
@example(size=LIMITS.min_part_size, concurrency=8)
@example(size=LIMITS.min_part_size + 1, concurrency=8)
def test_auto_plan_invariants(size: int, concurrency: int) -> None:
    plan = plan_parts(size, concurrency=concurrency)
    check_invariants(plan, size)
    if size < LIMITS.min_part_size:
        assert len(plan) == 1
    if len(plan) > 1:
        assert plan[0].length % MiB == 0  # rounded to MiB


def smallest_legal_part(size: int) -> int:
    """The floor the hard rules set: >= 5 MiB and few enough parts for the cap, in MiB."""
    need = max(LIMITS.min_part_size, -(-size // LIMITS.max_parts))
    return -(-need // MiB) * MiB


@settings(max_examples=300, deadline=None)
@given(size=sizes, concurrency=concurrencies)
@example(size=800 * MiB + 1, concurrency=45)
def test_auto_plan_part_size_choice(size: int, concurrency: int) -> None:
    plan = plan_parts(size, concurrency=concurrency)
    part = plan[0].length
    floor = smallest_legal_part(size)
    if len(plan) == 1:
        return
    # Never above the 128 MiB ceiling unless the 100-part cap forces it.
    assert part <= max(PREFERRED_MAX_PART_SIZE, floor)
    if floor < part < PREFERRED_MAX_PART_SIZE:
        # one part per stream: the smallest whole-MiB size that covers the file in
        # `concurrency` parts (one MiB less would need more parts than streams)
        assert part * concurrency >= size > (part - MiB) * concurrency
        assert len(plan) <= concurrency
    # More parts than streams only at the ceiling or at the floor the hard rules set.
    if len(plan) > concurrency:
        assert part in (PREFERRED_MAX_PART_SIZE, floor)


@settings(max_examples=300, deadline=None)
@given(
    size=sizes,
    concurrency=concurrencies,
    part_size=st.integers(min_value=1, max_value=6 * GiB),
)
def test_explicit_part_size_is_honoured_or_raised(
    size: int, concurrency: int, part_size: int
) -> None:
    plan = plan_parts(size, concurrency=concurrency, part_size=part_size)
    check_invariants(plan, size)
    if len(plan) > 1:
        first = plan[0].length
        fits = part_size >= LIMITS.min_part_size and -(-size // part_size) <= LIMITS.max_parts
        if fits:
            assert first == part_size  # honoured exactly
        else:
            assert first > part_size  # raised to the minimum / to fit in 100 parts
    else:
        assert plan[0].length == size


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=100 * MAX_PART_SIZE),
    concurrency=concurrencies,
)
def test_any_possible_size_fits_the_cap(size: int, concurrency: int) -> None:
    check_invariants(plan_parts(size, concurrency=concurrency), size)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(min_value=1, max_value=50 * MiB), concurrency=concurrencies)
def test_small_sandbox_limits(size: int, concurrency: int) -> None:
    limits = MediaLimits(min_part_size=100 * 1024, max_parts=10)
    plan = plan_parts(size, concurrency=concurrency, limits=limits)
    check_invariants(plan, size, limits)


def test_pure_and_deterministic() -> None:
    assert plan_parts(123_456_789) == plan_parts(123_456_789)


@pytest.mark.parametrize(
    ("size", "concurrency", "count", "part"),
    [
        (25 * MiB, 8, 5, 5 * MiB),
        (120 * MiB, 8, 8, 15 * MiB),
        (120_000_000, 8, 8, 15 * MiB),
        (1 * GiB, 8, 8, 128 * MiB),
        (1 * GiB, 4, 8, 128 * MiB),
        (512 * MiB, 8, 8, 64 * MiB),
        (5 * GiB, 8, 40, 128 * MiB),
        (5 * GiB, 64, 64, 80 * MiB),
        (5 * GiB, 1, 40, 128 * MiB),
        (200 * MiB, 1, 2, 128 * MiB),
        (4 * MiB, 8, 1, 4 * MiB),
        (25_600, 8, 1, 25_600),
    ],
)
def test_worked_examples(size: int, concurrency: int, count: int, part: int) -> None:
    plan = plan_parts(size, concurrency=concurrency)
    assert len(plan) == count
    assert plan[0].length == part
    check_invariants(plan, size)


def test_five_gib_at_concurrency_8() -> None:
    plan = plan_parts(5 * GiB, concurrency=8)
    assert len(plan) <= 100
    assert all(p.length >= 5 * MiB for p in plan)


def test_120_mb_gives_several_parts() -> None:
    assert len(plan_parts(120 * 1000 * 1000)) >= 8


def test_explicit_part_size_examples() -> None:
    assert [p.length for p in plan_parts(30 * MiB, part_size=10 * MiB)] == [10 * MiB] * 3
    # below the minimum: raised to 5 MiB
    assert plan_parts(30 * MiB, part_size=1 * MiB)[0].length == 5 * MiB
    # too many parts: raised to fit 100 (ceil(1000 MiB / 100) = 10 MiB)
    assert len(plan_parts(1000 * MiB, part_size=5 * MiB)) == 100
    # non-MiB explicit sizes are honoured exactly
    assert plan_parts(30 * MiB, part_size=7_000_000)[0].length == 7_000_000
    # a part size at least the file size: one part
    assert plan_parts(30 * MiB, part_size=30 * MiB) == [PartRange(1, 0, 30 * MiB)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 0},
        {"size": -1},
        {"size": 100 * MAX_PART_SIZE + 1},
        {"size": 10, "concurrency": 0},
        {"size": 10, "part_size": 0},
    ],
)
def test_invalid_arguments(kwargs: dict[str, int]) -> None:
    size = kwargs.pop("size")
    with pytest.raises(ValueError):
        plan_parts(size, **kwargs)


def test_part_range_is_frozen() -> None:
    part = PartRange(1, 0, 10)
    assert part.end == 10
    with pytest.raises(AttributeError):
        part.length = 5  # type: ignore[misc]
