"""The multipart part planner: which byte ranges become which parts. Pure, no I/O.

Planning is apart from executing: the flow asks for a plan once, then runs one ``upload_part``
task per range. The hard rules and how the part size is chosen: docs/ARCHITECTURE.md ("Part
planning").
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect_firework.limits import DEFAULT_LIMITS, MediaLimits

__all__ = ["MAX_PART_SIZE", "PREFERRED_MAX_PART_SIZE", "PartRange", "plan_parts"]

MiB = 1024 * 1024
#: S3's largest part
MAX_PART_SIZE = 5 * 1024**3

#: the largest part the planner picks by itself (a retried part resends at most this much)
PREFERRED_MAX_PART_SIZE = 128 * MiB


@dataclass(frozen=True)
class PartRange:
    """Part ``number`` (1-based) covers bytes ``[offset, offset + length)`` of the source."""

    number: int
    offset: int
    length: int

    @property
    def end(self) -> int:
        """One past the last byte of the part."""
        return self.offset + self.length


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(n: int, unit: int) -> int:
    return _ceil_div(n, unit) * unit


def plan_parts(
    size: int,
    *,
    concurrency: int = 8,
    part_size: int | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> list[PartRange]:
    """Split ``size`` bytes into multipart upload parts (see the module docstring for why).

    Automatic part size, with ``unit`` = 1 MiB (1 byte for sub-MiB sandbox limits)::

        floor = round_up(max(min_part_size, ceil(size / max_parts)), unit)   # hard rules
        ideal = round_up(ceil(size / concurrency), unit)                     # a part per stream
        part  = max(min(ideal, 128 MiB), floor)                              # cap, then rules

    Each part is a task run, whose orchestration costs as much CPU as moving tens of MiB, so
    the plan uses as few parts as keep every stream busy: one per stream, more only above
    ``concurrency`` x 128 MiB. e.g. at concurrency 8: 25 MiB -> 5 x 5 MiB; 120 MiB -> 8 x
    15 MiB (last 15 MiB); 1 GiB -> 8 x 128 MiB; 5 GiB -> 40 x 128 MiB; 5 GiB at concurrency
    64 -> 64 x 80 MiB.

    An explicit ``part_size`` is used as given, except that it is raised to ``min_part_size``
    and to the smallest size that fits in ``max_parts`` parts (``floor`` above), and lowered
    to S3's 5 GiB part maximum. A file no larger than the part size (in particular any file
    under ``min_part_size``) is one part. The last part holds the remainder and may be small.

    Raises ``ValueError`` for ``size <= 0``, a size beyond ``max_parts`` x 5 GiB (nothing can
    upload it), ``concurrency < 1`` or ``part_size <= 0``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if size > limits.max_parts * MAX_PART_SIZE:
        raise ValueError(
            f"size {size:,} exceeds {limits.max_parts} parts x 5 GiB; no plan can upload it"
        )
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
    if part_size is not None and part_size <= 0:
        raise ValueError(f"part_size must be positive, got {part_size!r}")

    unit = MiB if limits.min_part_size >= MiB else 1
    floor = _round_up(max(limits.min_part_size, _ceil_div(size, limits.max_parts)), unit)

    if part_size is not None:
        chosen = max(part_size, floor)
    else:
        ideal = _round_up(_ceil_div(size, concurrency), unit)
        chosen = max(min(ideal, PREFERRED_MAX_PART_SIZE), floor)
    chosen = min(chosen, MAX_PART_SIZE)

    if size <= chosen:
        return [PartRange(1, 0, size)]
    return [
        PartRange(number, offset, min(chosen, size - offset))
        for number, offset in enumerate(range(0, size, chosen), start=1)
    ]
