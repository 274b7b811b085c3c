"""``preflight``: check a source against the API's media rules before any upload starts.

The API refuses videos that are not .mp4/.mov, smaller than 25 KB or
larger than 5 GB, or shorter than 3 s or longer than 1 h, but for a multipart upload it only
finds out after every part has been sent. Checking first turns a wasted 5 GB upload into a
refusal in milliseconds. The checks run cheapest first, so a wrong extension costs no I/O:

1. ``mime_type``: from the file name's extension only (case-insensitive);
2. ``unreadable``: one metadata request (:func:`~.stat.stat_source`);
3. ``min_file_size`` / ``max_file_size``;
4. ``container`` / ``min_duration`` / ``max_duration``: duration from ``moov/mvhd`` read with a
   few tiny ranged reads (:mod:`.mp4`), wherever ``moov`` is, never downloading the file;
5. the fingerprint (:mod:`.fingerprint`): at most 2 MiB read.

Each refusal is a :class:`~.errors.PreflightError` naming the (redacted) source and the rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..limits import SUPPORTED_MIME_TYPES, MediaLimits, current_limits
from .errors import PreflightError, SourceError
from .fingerprint import fingerprint
from .info import SourceInfo, SourceStat
from .mp4 import ContainerError, probe_duration
from .stat import stat_source
from .uri import parse_source

__all__ = ["preflight"]


def _seconds(value: float) -> str:
    return f"{value:g}"


def preflight(
    source: str | os.PathLike[str],
    *,
    transport_params: Mapping[str, Any] | None = None,
    limits: MediaLimits | None = None,
) -> SourceInfo:
    """Validate ``source`` and describe it, or raise :class:`PreflightError` (see module doc).

    ``limits`` defaults to :func:`~prefect_firework.limits.current_limits` (the settings).
    """
    if limits is None:
        limits = current_limits()
    parsed = parse_source(source)
    where = parsed.display
    mime_type = _supported_mime_type(where, parsed.extension)
    stat = _stat_within_size_limits(source, where, limits, transport_params)
    duration = _duration_within_limits(source, stat.size, where, limits, transport_params)
    try:
        print_ = fingerprint(source, stat, transport_params=transport_params)
    except SourceError as exc:
        raise PreflightError(where, "unreadable", exc.message) from exc
    return SourceInfo(
        uri=stat.uri,
        filename=parsed.filename,
        size=stat.size,
        mime_type=mime_type,
        duration=duration,
        fingerprint=print_,
        etag=stat.etag,
        mtime=stat.mtime,
    )


def _supported_mime_type(where: str, ext: str) -> str:
    """Rule ``mime_type``: the extension's MIME type, checked before any I/O."""
    mime_type = SUPPORTED_MIME_TYPES.get(ext)
    if mime_type is None:
        supported = ", ".join(f"{e} ({m})" for e, m in SUPPORTED_MIME_TYPES.items())
        found = f"{ext!r}" if ext else "no extension"
        raise PreflightError(
            where, "mime_type", f"unsupported file type {found}; supported: {supported}"
        )
    return mime_type


def _stat_within_size_limits(
    source: str | os.PathLike[str],
    where: str,
    limits: MediaLimits,
    transport_params: Mapping[str, Any] | None,
) -> SourceStat:
    """Rules ``unreadable``, ``min_file_size``, ``max_file_size``: one metadata request."""
    try:
        stat = stat_source(source, transport_params=transport_params)
    except SourceError as exc:
        raise PreflightError(where, "unreadable", exc.message) from exc
    if stat.size < limits.min_file_size:
        raise PreflightError(
            where,
            "min_file_size",
            f"size {stat.size:,} bytes is below the {limits.min_file_size:,}-byte minimum",
        )
    if stat.size > limits.max_file_size:
        raise PreflightError(
            where,
            "max_file_size",
            f"size {stat.size:,} bytes is above the {limits.max_file_size:,}-byte maximum",
        )
    return stat


def _duration_within_limits(
    source: str | os.PathLike[str],
    size: int,
    where: str,
    limits: MediaLimits,
    transport_params: Mapping[str, Any] | None,
) -> float:
    """Rules ``container``, ``min_duration``, ``max_duration``: a few tiny ranged reads."""
    try:
        duration = probe_duration(source, size, transport_params=transport_params)
    except ContainerError as exc:
        raise PreflightError(where, "container", str(exc)) from exc
    except SourceError as exc:
        raise PreflightError(where, "unreadable", exc.message) from exc
    if duration < limits.min_duration:
        raise PreflightError(
            where,
            "min_duration",
            f"duration {duration:.1f} s is below the {_seconds(limits.min_duration)} s minimum",
        )
    if duration > limits.max_duration:
        raise PreflightError(
            where,
            "max_duration",
            f"duration {duration:.1f} s is above the {_seconds(limits.max_duration)} s maximum",
        )
    return duration
