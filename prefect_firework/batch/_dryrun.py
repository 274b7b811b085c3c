"""The dry run: every row validated and preflighted, nothing sent to Firework, nothing uploaded.

A file row is preflighted as a real run would (type, size, duration from the ``moov`` box) and
planned (strategy, parts); a URL row is checked reachable with one metadata request (``HEAD``,
or a ranged ``GET``). The ledger says which rows a real run would skip. The summary gives the
total bytes and, per channel, the least time the create budget allows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from prefect_firework._redact import redact_source
from prefect_firework.batch._batch import Batch, describe
from prefect_firework.batch._create import DONE, upload_row_key
from prefect_firework.batch._pacing import budget_line
from prefect_firework.batch._parts import plan_parts
from prefect_firework.batch._rows import InvalidRow, UploadRow
from prefect_firework.batch._steps import planned_strategy
from prefect_firework.sources import preflight, stat_source

__all__ = ["PLAN_COLUMNS", "budget_lines", "plan_uploads"]

#: the plan table's columns; ``status``: ``ready``, ``done`` (a real run skips it: the ledger
#: has its video), ``invalid`` (refused before any request) or ``refused`` (preflight or
#: reachability failed)
PLAN_COLUMNS = [
    "row",
    "source",
    "caption",
    "channel_id",
    "status",
    "strategy",
    "parts",
    "bytes",
    "duration",
    "error",
]


def _plan_file(b: Batch, row: UploadRow, plan: dict[str, Any]) -> None:
    tp = dict(b.transport_params) if b.transport_params else None
    info = preflight(str(row.source), transport_params=tp, limits=b.limits)
    strategy = planned_strategy(info.size, multipart_threshold=b.multipart_threshold)
    plan.update(
        strategy=strategy,
        bytes=info.size,
        duration=round(info.duration, 3),
        parts=len(plan_parts(info.size, concurrency=b.max_concurrency))
        if strategy == "multipart"
        else 1,
    )
    plan["status"] = _ledger_status(b, upload_row_key(row, info.fingerprint))


def _plan_url(b: Batch, row: UploadRow, plan: dict[str, Any]) -> None:
    tp = dict(b.transport_params) if b.transport_params else None
    stat = stat_source(str(row.url), transport_params=tp)  # reachable, and how large
    plan.update(strategy="url-async" if row.asynchronous else "url-sync", bytes=stat.size)
    plan["status"] = _ledger_status(b, upload_row_key(row, None))


def _ledger_status(b: Batch, key: str) -> str:
    """``done`` when the ledger has the row's video (a real run skips it), else ``ready``."""
    entry = b.ledger.get(key)
    return "done" if entry is not None and entry.status in DONE else "ready"


def _plan_row(b: Batch, row: UploadRow | InvalidRow) -> dict[str, Any]:
    if isinstance(row, InvalidRow):
        return {
            "row": row.row,
            "source": row.source,
            "caption": row.caption,
            "status": "invalid",
            "error": row.error,
        }
    plan: dict[str, Any] = {
        "row": row.row,
        "source": redact_source(row.source if row.kind == "file" else row.url),
        "caption": row.metadata.caption,
        "channel_id": row.metadata.channel_id,
    }
    try:
        (_plan_file if row.kind == "file" else _plan_url)(b, row, plan)
    except Exception as exc:  # a refusal of this row; the others are planned on
        plan.update(status="refused", error=f"row {row.row}: {describe(exc)}")
    return plan


def plan_uploads(rows: Sequence[UploadRow | InvalidRow], b: Batch) -> pd.DataFrame:
    """The plan table of a parsed upload manifest, rows preflighted ``max_concurrency`` at once."""
    with ThreadPoolExecutor(max_workers=max(1, b.max_concurrency)) as pool:
        plans = list(pool.map(lambda row: _plan_row(b, row), rows))
    frame = pd.DataFrame(plans).reindex(columns=PLAN_COLUMNS)
    return frame.astype(
        {"row": "Int64", "parts": "Int64", "bytes": "Int64", "duration": "Float64"}
    ).sort_values("row", kind="stable", ignore_index=True)


def budget_lines(frame: pd.DataFrame, limit: int, window: float) -> list[str]:
    """Per channel, the creates a real run would send and the least time the budget allows:
    ``limit`` creates at once, then ``limit`` more each ``window`` seconds."""
    ready = frame[frame["status"] == "ready"]
    counts = Counter(ready["channel_id"].dropna())
    return [budget_line(channel, n, limit, window) for channel, n in sorted(counts.items())]


def plan_summary(frame: pd.DataFrame, limit: int, window: float) -> str:
    """One paragraph: the counts, the bytes to upload and the create budget per channel."""
    counts = frame["status"].value_counts()
    listed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    to_send = frame[(frame["status"] == "ready") & frame["strategy"].isin(["single", "multipart"])]
    total = int(to_send["bytes"].fillna(0).sum())
    lines = [
        f"dry run: {len(frame)} rows ({listed or 'none'}); "
        f"{total / 2**20:.1f} MiB to upload; nothing was sent to Firework",
        *budget_lines(frame, limit, window),
    ]
    return "\n".join(lines)
