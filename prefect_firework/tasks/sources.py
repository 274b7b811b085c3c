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
    """
    return preflight(source, transport_params=dict(transport_params) if transport_params else None)
