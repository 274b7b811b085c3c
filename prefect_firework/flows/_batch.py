"""``upload_videos`` and ``import_videos``: a manifest of thousands, paced and idempotent.

Every input row ends as exactly one result row: invalid rows are refused before any request,
valid rows go on whatever happens to their neighbours, and a rerun of the same manifest skips
the rows the ledger records as done, so no video is created twice. The engine is
``prefect_firework.batch``; these are its flows and their parameters.
"""

from __future__ import annotations

import os
from typing import Any, TypeAlias

import pandas as pd
from prefect.task_runners import ThreadPoolTaskRunner

from prefect_firework import _defaults
from prefect_firework.batch._batch import make_batch
from prefect_firework.batch._ledger import Ledger
from prefect_firework.batch._manifest import read_manifest
from prefect_firework.batch._pacing import make_pacer
from prefect_firework.batch._rows import parse_upload_rows, url_rows_only
from prefect_firework.batch._run import completed, run_dry, run_uploads
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows._flow import firework_flow
from prefect_firework.settings import FireworkSettings

__all__ = ["Manifest", "import_videos", "upload_videos"]

#: a manifest: a DataFrame, or the path or URI of a CSV / Parquet / JSON Lines file
Manifest: TypeAlias = pd.DataFrame | str | os.PathLike[str]

_RUNNER: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=_defaults.FLOW_WORKERS)


@firework_flow(name="upload_videos", task_runner=_RUNNER)
def upload_videos(
    manifest: Manifest,
    *,
    credentials: FireworkCredentials | str | None = None,
    max_concurrency: int = _defaults.MAX_CONCURRENCY,
    max_uploads_in_flight: int = _defaults.MAX_CONCURRENCY,
    output: str | None = None,
    ledger: Ledger | None = None,
    shared_rate_limit: bool = False,
    transport_params: dict[str, Any] | None = None,
    verify_md5: bool = True,
    multipart_threshold: int | None = None,
    recreate_uncertain: bool = False,
    tag_videos: bool = True,
    fail_on_row_errors: bool = False,
    lock_timeout: float = _defaults.LOCK_TIMEOUT,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Upload (``source`` rows) and import (``url`` rows) every video of a manifest.

    File rows go preflight -> single or multipart upload -> create; URL rows go create (sync,
    or async then polled with the others from one loop). Uploads run ahead while a
    per-channel pacer releases creates as Firework's 20-per-5-minutes budget frees up.

    Args:
        manifest: A DataFrame, or the path or URI of a CSV / Parquet / JSON Lines file on any
            storage, one row per video (columns: see the README's manifest schema).
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        max_concurrency: Task runs (part uploads, creates) in flight at once.
        max_uploads_in_flight: Rows being uploaded at once, ahead of their creates.
        output: Also write the results table here (CSV, Parquet or JSON Lines, any storage).
        ledger: Where the rows' outcomes are kept (default: Prefect's result storage); rows
            it records as done are skipped on a rerun.
        shared_rate_limit: Share each channel's create budget with other processes and
            machines through a Prefect global concurrency limit ``firework-create-<channel>``.
        transport_params: smart-open transport parameters for the sources and the manifest.
        verify_md5: Check every part's integrity (Content-MD5 or its ETag).
        multipart_threshold: Bytes above which a file goes multipart (default ~100 MB).
        recreate_uncertain: Create again the rows an earlier run left "may already exist".
        tag_videos: Tag each video with its row key (``custom_fields.prefect_firework_key``).
        fail_on_row_errors: End the run ``Failed`` if any row did not succeed.
        lock_timeout: Seconds a row waits for a key another run holds, then fails.
        dry_run: Validate and preflight every row (files: size and duration; URLs: reachable)
            and return the plan instead (``row``, ``source``, ``caption``, ``channel_id``,
            ``status``, ``strategy``, ``parts``, ``bytes``, ``duration``, ``error``), with the
            bytes to upload and each channel's least time under the create budget; nothing
            is sent to Firework and nothing is uploaded.

    Returns:
        One result row per manifest row: ``row``, ``source``, ``caption``, ``key``,
        ``status``, ``video_id``, ``import_id``, ``strategy``, ``bytes``, ``seconds``,
        ``error``. The run's state message has the counts (``8 rows: 1 created, ...``).

    Raises:
        RowErrorsFound: No row succeeded and at least one failed or was refused (a header
            typo, a wrong channel on every row), or ``fail_on_row_errors`` and any did not
            succeed. Its ``results`` is the table, already written and published.
    """
    settings = FireworkSettings()
    b = make_batch(
        credentials,
        transport_params=transport_params,
        ledger=ledger,
        max_concurrency=max_concurrency,
        verify_md5=verify_md5,
        recreate_uncertain=recreate_uncertain,
        multipart_threshold=multipart_threshold,
        tag_videos=tag_videos,
        lock_timeout=lock_timeout,
    )
    frame = read_manifest(manifest, transport_params=transport_params)
    if dry_run:
        limit, window = settings.rate_limit_creates, settings.rate_limit_window
        return run_dry("upload_videos", parse_upload_rows(frame), b, limit=limit, window=window)
    return completed(
        run_uploads(
            "upload_videos",
            parse_upload_rows(frame),
            b,
            pacer=make_pacer(shared=shared_rate_limit, settings=settings),
            max_uploads_in_flight=max_uploads_in_flight,
            poll_interval=settings.poll_interval,
            import_timeout=settings.import_timeout,
            output=output,
            fail_on_row_errors=fail_on_row_errors,
            create_budget=(settings.rate_limit_creates, settings.rate_limit_window),
        )
    )


@firework_flow(name="import_videos", task_runner=_RUNNER)
def import_videos(
    manifest: Manifest,
    *,
    credentials: FireworkCredentials | str | None = None,
    asynchronous: bool | None = True,
    max_concurrency: int = _defaults.MAX_CONCURRENCY,
    poll_interval: float | None = None,
    import_timeout: float | None = None,
    output: str | None = None,
    ledger: Ledger | None = None,
    shared_rate_limit: bool = False,
    transport_params: dict[str, Any] | None = None,
    recreate_uncertain: bool = False,
    tag_videos: bool = True,
    fail_on_row_errors: bool = False,
    import_wait: str = "poll",
    event_timeout: float | None = None,
    lock_timeout: float = _defaults.LOCK_TIMEOUT,
) -> pd.DataFrame:
    """Import every ``url`` row of a manifest; ``source`` rows are refused as ``invalid``.

    Imports are polled from one loop, in one task; each row ends ``imported`` or ``failed``
    with the import's error.

    Args:
        manifest: A DataFrame, or the path or URI of a CSV / Parquet / JSON Lines file with
            ``url``, ``channel_id`` and ``caption`` columns (and any metadata).
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        asynchronous: Import in the background (True, the default), within the request
            (False), or as each row's ``async`` column says (None).
        max_concurrency: Creates in flight at once.
        poll_interval: Seconds between polls (default ``FIREWORK_POLL_INTERVAL``, 5).
        import_timeout: Seconds to wait for the imports (default ``FIREWORK_IMPORT_TIMEOUT``).
        output: Also write the results table here (CSV, Parquet or JSON Lines, any storage).
        ledger: Where the rows' outcomes are kept; done rows are skipped on a rerun.
        shared_rate_limit: Share each channel's create budget through a Prefect global
            concurrency limit.
        transport_params: smart-open transport parameters for the manifest.
        recreate_uncertain: Create again the rows an earlier run left "may already exist".
        tag_videos: Tag each video with its row key (``custom_fields.prefect_firework_key``).
        fail_on_row_errors: End the run ``Failed`` if any row did not succeed.
        import_wait: ``poll`` Firework, or wait for a webhook receiver's ``events`` first.
        event_timeout: With ``events``: seconds to wait for them before polling (default 600).
        lock_timeout: Seconds a row waits for a key another run holds, then fails.

    Returns:
        One result row per manifest row (the columns of ``upload_videos``).
    """
    settings = FireworkSettings()
    b = make_batch(
        credentials,
        transport_params=transport_params,
        ledger=ledger,
        max_concurrency=max_concurrency,
        recreate_uncertain=recreate_uncertain,
        tag_videos=tag_videos,
        lock_timeout=lock_timeout,
        import_wait=import_wait,
        event_timeout=event_timeout,
    )
    frame = read_manifest(manifest, transport_params=transport_params)
    return completed(
        run_uploads(
            "import_videos",
            url_rows_only(parse_upload_rows(frame), asynchronous),
            b,
            pacer=make_pacer(shared=shared_rate_limit, settings=settings),
            max_uploads_in_flight=max_concurrency,
            poll_interval=poll_interval or settings.poll_interval,
            import_timeout=import_timeout or settings.import_timeout,
            output=output,
            fail_on_row_errors=fail_on_row_errors,
            create_budget=(settings.rate_limit_creates, settings.rate_limit_window),
        )
    )
