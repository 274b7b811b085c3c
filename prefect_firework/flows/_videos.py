"""``update_videos`` (PATCH each row) and ``get_videos``: batch flows over existing videos.

They create nothing, so they need no ledger; the engine is ``prefect_firework.batch``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pandas as pd
from prefect.task_runners import ThreadPoolTaskRunner

from prefect_firework import _defaults
from prefect_firework.batch._batch import make_batch
from prefect_firework.batch._manifest import read_manifest
from prefect_firework.batch._rows import parse_update_rows, parse_video_ids
from prefect_firework.batch._run import VIDEO_COLUMNS, completed, run_gets, run_updates
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows._flow import firework_flow

__all__ = ["VIDEO_COLUMNS", "get_videos", "update_videos"]

_RUNNER: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=_defaults.FLOW_WORKERS)


@firework_flow(name="update_videos", task_runner=_RUNNER)
def update_videos(
    manifest: pd.DataFrame | str | os.PathLike[str],
    *,
    credentials: FireworkCredentials | str | None = None,
    max_concurrency: int = _defaults.MAX_CONCURRENCY,
    output: str | None = None,
    transport_params: dict[str, Any] | None = None,
    fail_on_row_errors: bool = False,
    keep_key_tag: bool = True,
) -> pd.DataFrame:
    """PATCH each ``video_id`` row with the fields it sets.

    An empty cell leaves the field as it is (not sent); ``null`` / ``""`` in ``poster_url``
    removes the poster; ``[]`` in ``product_ids`` untags all; ``{}`` in ``custom_fields``
    clears them; ``video_hidden`` alone bulk-updates the video's product listings.

    Args:
        manifest: A DataFrame, or a CSV / Parquet / JSON Lines file on any storage, with a
            ``video_id`` column and the fields to change.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        max_concurrency: Updates sent at once.
        output: Also write the results table here (CSV, Parquet or JSON Lines).
        transport_params: smart-open transport parameters for the manifest and ``output``.
        fail_on_row_errors: End the run ``Failed`` if any row did not succeed.
        keep_key_tag: A ``custom_fields`` replacement keeps the video's
            ``prefect_firework_key`` tag (the key an operator settles an uncertain create
            with) unless the row sets it or clears all fields with ``{}``.

    Returns:
        One result row per manifest row (``updated``, ``invalid`` or ``failed``).
    """
    b = make_batch(
        credentials,
        transport_params=transport_params,
        max_concurrency=max_concurrency,
        tag_videos=keep_key_tag,
    )
    frame = read_manifest(manifest, transport_params=transport_params)
    return completed(
        run_updates(
            parse_update_rows(frame), b, output=output, fail_on_row_errors=fail_on_row_errors
        )
    )


@firework_flow(name="get_videos", task_runner=_RUNNER)
def get_videos(
    video_ids: Iterable[str] | pd.Series | pd.DataFrame,
    *,
    credentials: FireworkCredentials | str | None = None,
    max_concurrency: int = _defaults.MAX_CONCURRENCY,
) -> pd.DataFrame:
    """Fetch each video's metadata, for data teams to join against their catalogue and audit.

    Args:
        video_ids: Video ids: a list, a Series, or a DataFrame with a ``video_id`` column
            (such as a results table; missing ids are skipped).
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        max_concurrency: Requests in flight at once.

    Returns:
        One row per id, ``error`` set when the video could not be read.
    """
    b = make_batch(credentials, max_concurrency=max_concurrency)
    return run_gets(parse_video_ids(video_ids), b)
