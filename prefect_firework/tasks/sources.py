"""Source task: preflight a video before any byte is uploaded."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_firework._redact import display_name
from prefect_firework.sources import SourceInfo, preflight

__all__ = ["preflight_source"]


@task(
    name="preflight_source",
    cache_policy=NO_CACHE,
    task_run_name=lambda parameters: f"preflight-{display_name(parameters['source'], 'source')}",  # type: ignore[arg-type]
)
def preflight_source(
    source: str | os.PathLike[str], transport_params: Mapping[str, Any] | None = None
) -> SourceInfo:
    """Check type, size and duration against the API's limits; fingerprint the source.

    Runs before anything is sent to Firework, so a file the API would refuse costs no upload.

    Args:
        source: The video file: a local path or any URI smart-open reads (s3://, gs://,
            azure://, http(s)://...).
        transport_params: smart-open transport parameters for reading ``source`` (may hold
            cloud credentials).

    Returns:
        The ``SourceInfo``: file name, size in bytes, MIME type, duration in seconds,
        fingerprint, and the version (size, ETag, mtime) the upload must still match.

    Raises:
        PreflightError: The source breaks a rule (``rule`` names it): not .mp4/.mov, under
            25 KiB or over 5 GB (``FIREWORK_MIN_FILE_SIZE`` / ``FIREWORK_MAX_FILE_SIZE``),
            shorter than 3 s or longer than 1 h, or unreadable (as a file or a container).
    """
    return preflight(source, transport_params=dict(transport_params) if transport_params else None)
