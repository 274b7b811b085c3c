"""What every batch flow shares: the run's settings, result records and the results table.

``batch`` (upload_videos, import_videos) and ``videos`` (update_videos, get_videos) build on
this; a private module, so the names may change with them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import get_run_logger

from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.errors import RowErrorsFound
from prefect_firework.flows._progress import BatchProgress
from prefect_firework.ledger import Ledger
from prefect_firework.manifest import InvalidRow, results_frame, write_results

__all__ = [
    "KEY_FIELD",
    "MAX_WORKERS",
    "Batch",
    "Manifest",
    "RowErrorsFound",
    "describe",
    "finish",
    "invalid_record",
    "make_batch",
    "record",
]

#: threads in each batch flow's runner; ``max_concurrency`` bounds the task runs in flight
MAX_WORKERS = 16

Manifest = pd.DataFrame | str | os.PathLike[str]

#: the custom field that tags each created video with its row's idempotency key, so an
#: operator can find the video a crashed run created (the API has no search)
KEY_FIELD = "prefect_firework_key"


@dataclass
class Batch:
    """What every row pipeline of one batch run shares (all small and picklable but the
    ledger's lock handles, which stay in the flow's process)."""

    credentials: FireworkCredentials | str | None
    transport_params: Mapping[str, Any] | None
    ledger: Ledger
    max_concurrency: int
    verify_md5: bool
    recreate_uncertain: bool
    multipart_threshold: int | None = None
    key_field: str | None = KEY_FIELD
    #: how async imports are awaited: "poll" Firework, or "events" (webhooks, then polling)
    import_wait: str = "poll"
    #: seconds to wait for import events before polling the rest (None: the waiter's default)
    event_timeout: float | None = None
    #: seconds a row waits for its key while another run holds it, then fails
    lock_timeout: float = 600.0


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def record(row: int, key: str | None, **fields: Any) -> dict[str, Any]:
    return {"row": row, "key": key, **fields}


def invalid_record(row: InvalidRow) -> dict[str, Any]:
    return record(row.row, row.key, status="invalid", error=row.error)


def finish(
    records: list[dict[str, Any]],
    *,
    title: str,
    output: str | os.PathLike[str] | None,
    transport_params: Mapping[str, Any] | None,
    fail_on_row_errors: bool,
    progress: BatchProgress,
) -> pd.DataFrame:
    frame = results_frame(records)
    if output is not None:  # first: the file must exist whatever the Prefect API does
        write_results(frame, output, transport_params=dict(transport_params or {}) or None)
        get_run_logger().info("Wrote %d result rows to %s", len(frame), output)
    progress.close(frame, title=title)
    bad = frame[frame["status"].isin(["failed", "invalid"])]
    if fail_on_row_errors and len(bad):
        raise RowErrorsFound(f"{len(bad)} of {len(frame)} rows did not succeed; see the results")
    return frame


def make_batch(
    credentials: FireworkCredentials | str | None,
    transport_params: Mapping[str, Any] | None,
    ledger: Ledger | None,
    max_concurrency: int,
    verify_md5: bool,
    recreate_uncertain: bool,
    multipart_threshold: int | None = None,
    tag_videos: bool = True,
    lock_timeout: float = 600.0,
) -> Batch:
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    if not lock_timeout > 0:
        raise ValueError("lock_timeout must be positive seconds")
    return Batch(
        # resolved once per run: a block name would otherwise be loaded from the API by
        # every task run, and a missing block or variable fails here, before any row
        credentials=resolve_credentials(credentials),
        transport_params=transport_params,
        ledger=ledger or Ledger(),
        max_concurrency=max_concurrency,
        verify_md5=verify_md5,
        recreate_uncertain=recreate_uncertain,
        multipart_threshold=multipart_threshold,
        key_field=KEY_FIELD if tag_videos else None,
        lock_timeout=lock_timeout,
    )
