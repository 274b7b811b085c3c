"""Video sources: any URI smart-open reads (placeholder: local files only, being built out)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, BinaryIO

__all__ = ["open_range"]


@contextmanager
def open_range(
    source: str | os.PathLike[str],
    offset: int,
    length: int,
    *,
    transport_params: Mapping[str, Any] | None = None,
) -> Iterator[BinaryIO]:
    """Yield a binary stream positioned at ``offset``; readers must stop after ``length`` bytes."""
    with open(os.fspath(source), "rb") as fh:
        fh.seek(offset)
        yield fh
