"""Batch flows over existing videos: ``update_videos`` (PATCH each row) and ``get_videos``.

Both take a manifest of video ids, run one task per row on a bounded runner, and return one
result row per input row; they create nothing, so they need no ledger.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pandas as pd
from prefect.task_runners import ThreadPoolTaskRunner

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows._batch import (
    MAX_WORKERS,
    Batch,
    Manifest,
    describe,
    finish,
    invalid_record,
    make_batch,
    record,
)
from prefect_firework.flows._driver import NO_PACING, Call, Pipeline, drive, labelled
from prefect_firework.flows._flow import firework_flow
from prefect_firework.flows._progress import BatchProgress
from prefect_firework.manifest import (
    InvalidRow,
    UpdateRow,
    parse_update_rows,
    parse_video_ids,
    read_manifest,
)
from prefect_firework.tasks import get_video, update_video

__all__ = ["VIDEO_COLUMNS", "get_videos", "update_videos"]


def _keeping_tag(b: Batch, row: UpdateRow) -> Pipeline:
    """``row.update`` with the video's key tag merged into a ``custom_fields`` replacement.

    ``custom_fields`` replaces all of a video's custom fields, which would delete the tag an
    operator needs to settle an uncertain create. So a non-empty replacement that does not
    set the tag itself keeps the video's current one (read first); ``{}`` clears everything,
    the tag included, as asked.
    """
    update = row.update
    fields = update.custom_fields
    if not b.key_field or not fields or b.key_field in fields:
        return update
    current = yield Call(get_video, {"video_id": row.video_id, "credentials": b.credentials})
    tag = current.custom_fields.get(b.key_field)
    if tag is None:
        return update
    return update.model_copy(update={"custom_fields": {**fields, b.key_field: str(tag)}})


def _update_pipeline(b: Batch, row: UpdateRow) -> Pipeline:
    started = time.perf_counter()
    rec = record(row.row, row.key, video_id=row.video_id)
    try:
        update = yield from _keeping_tag(b, row)
        yield Call(
            update_video,
            {"video_id": row.video_id, "update": update, "credentials": b.credentials},
        )
        rec["status"] = "updated"
    except Exception as exc:
        rec.update(status="failed", error=describe(exc))
    rec["seconds"] = round(time.perf_counter() - started, 3)
    return rec


def _run_simple(
    rows: Iterable[tuple[int, Pipeline]], b: Batch, progress: BatchProgress
) -> list[dict[str, Any]]:
    records = []
    for _, rec in drive(
        rows,
        max_tasks=b.max_concurrency,
        max_rows=b.max_concurrency,
        pacer=NO_PACING,
        on_error=lambda i, exc: record(i, None, status="failed", error=describe(exc)),
    ):
        records.append(rec)
        progress.row_done(rec)
    return records


@firework_flow(name="update_videos", task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def update_videos(
    manifest: Manifest,
    *,
    credentials: FireworkCredentials | str | None = None,
    max_concurrency: int = 8,
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
    """
    b = make_batch(
        credentials, transport_params, None, max_concurrency, True, False, tag_videos=keep_key_tag
    )
    frame = read_manifest(manifest, transport_params=transport_params)
    parsed = parse_update_rows(frame)
    progress = BatchProgress("update_videos", total=len(parsed))
    records = [invalid_record(r) for r in parsed if isinstance(r, InvalidRow)]
    records += _run_simple(
        (
            (r.row, labelled(f"row-{r.row}", _update_pipeline(b, r)))
            for r in parsed
            if isinstance(r, UpdateRow)
        ),
        b,
        progress,
    )
    return finish(
        records,
        title="update_videos results",
        output=output,
        transport_params=transport_params,
        fail_on_row_errors=fail_on_row_errors,
        progress=progress,
    )


VIDEO_COLUMNS = [
    "video_id",
    "caption",
    "description",
    "access",
    "archived_at",
    "audio_disabled",
    "hashtags",
    "product_ids",
    "custom_fields",
    "display_social_attributions",
    "external_media",
    "thumbnail_url",
    "video_posters",
    "error",
]


def _get_pipeline(b: Batch, index: int, video_id: str) -> Pipeline:
    try:
        video = yield Call(get_video, {"video_id": video_id, "credentials": b.credentials})
    except Exception as exc:
        return {"row": index, "video_id": video_id, "error": describe(exc)}
    data = video.model_dump(mode="json")
    data["video_id"] = data.pop("id")
    return {"row": index, **data}


@firework_flow(name="get_videos", task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def get_videos(
    video_ids: Iterable[str] | pd.Series | pd.DataFrame,
    *,
    credentials: FireworkCredentials | str | None = None,
    max_concurrency: int = 8,
) -> pd.DataFrame:
    """Fetch each video's metadata: one row per id (``error`` set when it could not be read),
    for data teams to join against their catalogue and audit."""
    b = make_batch(credentials, None, None, max_concurrency, True, False)
    ids = parse_video_ids(video_ids)
    progress = BatchProgress("get_videos", total=len(ids))
    records = _run_simple(
        ((i, labelled(f"row-{i}", _get_pipeline(b, i, v))) for i, v in enumerate(ids)), b, progress
    )
    progress.close(None, title=None)
    frame = pd.DataFrame(sorted(records, key=lambda r: r["row"]))
    return frame.reindex(columns=VIDEO_COLUMNS)
