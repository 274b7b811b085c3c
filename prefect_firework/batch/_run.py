"""Run a parsed manifest: its rows through the driver, its imports polled to their end, its
results table built, written and published. The batch flows are thin wrappers of these."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from prefect import State, get_run_logger
from prefect.states import Completed

from prefect_firework._redact import redact_url
from prefect_firework.batch._batch import Batch, describe
from prefect_firework.batch._create import import_unknown, ledger_unwritten
from prefect_firework.batch._driver import NO_PACING, Pipeline, drive, labelled
from prefect_firework.batch._dryrun import plan_summary, plan_uploads
from prefect_firework.batch._ledger import LedgerEntry
from prefect_firework.batch._manifest import write_results
from prefect_firework.batch._pacing import ChannelPacer, CreatesLeft, PrefectRateLimitPacer
from prefect_firework.batch._pipelines import (
    file_pipeline,
    get_pipeline,
    update_pipeline,
    url_pipeline,
)
from prefect_firework.batch._progress import (
    FINAL_ARTIFACT_TIMEOUT,
    ArtifactReporter,
    BatchProgress,
)
from prefect_firework.batch._results import ResultStatus, RowResult, results_frame
from prefect_firework.batch._rows import InvalidRow, UpdateRow, UploadRow
from prefect_firework.errors import LedgerError, RateLimitedError, RowErrorsFound
from prefect_firework.models import VideoImport
from prefect_firework.tasks import wait_for_video_import_events, wait_for_video_imports

__all__ = [
    "VIDEO_COLUMNS",
    "completed",
    "counts_message",
    "run_dry",
    "run_gets",
    "run_updates",
    "run_uploads",
]

#: the columns of ``get_videos``'s table
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


def _invalid(row: InvalidRow) -> RowResult:
    return RowResult(
        row.row,
        source=row.source,
        caption=row.caption,
        key=row.key,
        status=ResultStatus.INVALID,
        error=row.error,
    )


def _crashed(index: int, exc: BaseException) -> RowResult:
    """A pipeline that raised instead of returning its result (a bug): the row failed."""
    return RowResult(index).fail(describe(exc))


def _drive(
    b: Batch,
    pipelines: Iterator[tuple[int, Pipeline]],
    *,
    max_rows: int,
    pacer: ChannelPacer | PrefectRateLimitPacer | None = None,
) -> Iterator[Any]:
    def paced(channel_id: str, failure: BaseException | None) -> None:
        assert pacer is not None
        if failure is None:
            pacer.succeeded(channel_id)
        elif isinstance(failure, RateLimitedError):  # the whole channel waits, not one row
            pacer.penalize(channel_id, failure.retry_after)

    for _, result in drive(
        pipelines,
        max_tasks=b.max_concurrency,
        max_rows=max_rows,
        pacer=pacer if pacer is not None else NO_PACING,
        on_error=_crashed,
        on_paced=paced if pacer is not None else None,
    ):
        yield result


def run_dry(
    name: str, rows: Sequence[UploadRow | InvalidRow], b: Batch, *, limit: int, window: float
) -> State[pd.DataFrame]:
    """The dry run of a parsed upload manifest: the plan table, its summary as the run's
    message, logged and published (best effort); nothing is sent to Firework."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    plan = plan_uploads(rows, b)
    summary = plan_summary(plan, limit, window)
    get_run_logger().info(summary)
    reporter = ArtifactReporter()
    slug = name.replace("_", "-")
    records = plan.astype(object).where(plan.notna(), None).to_dict(orient="records")
    reporter.submit(
        "plan", lambda: create_table_artifact(records, key=f"{slug}-plan", description=summary)
    )
    text = "# Dry run\n\n" + summary.replace("\n", "\n\n")
    reporter.submit("summary", lambda: create_markdown_artifact(text, key=f"{slug}-plan-summary"))
    reporter.flush(FINAL_ARTIFACT_TIMEOUT)
    return Completed(message=summary.splitlines()[0], data=plan)


def run_uploads(
    name: str,
    rows: Sequence[UploadRow | InvalidRow],
    b: Batch,
    *,
    pacer: ChannelPacer | PrefectRateLimitPacer,
    max_uploads_in_flight: int,
    poll_interval: float,
    import_timeout: float,
    output: str | os.PathLike[str] | None,
    fail_on_row_errors: bool,
    create_budget: tuple[int, float] | None = None,
) -> pd.DataFrame:
    """Run a parsed upload manifest's rows with progress reporting; return the results.

    ``create_budget`` (creates, window seconds) lets the progress show each channel's creates
    left and the least time the budget allows them.
    """
    creates = None
    if create_budget is not None:
        channel_of = {r.row: r.metadata.channel_id for r in rows if isinstance(r, UploadRow)}
        creates = CreatesLeft(channel_of, *create_budget)
    progress = BatchProgress(name, total=len(rows), creates=creates)
    results = [_invalid(row) for row in rows if isinstance(row, InvalidRow)]
    for result in results:
        progress.row_done(result)
    # the rows are consumed: each parsed row is released once its pipeline ended (a list the
    # caller still holds would keep every row of a 100,000-row manifest to the end)
    pending = collections.deque(row for row in rows if isinstance(row, UploadRow))
    if isinstance(rows, list):
        rows.clear()

    def pipelines() -> Iterator[tuple[int, Pipeline]]:
        while pending:
            row = pending.popleft()
            make = file_pipeline if row.kind == "file" else url_pipeline
            yield row.row, labelled(f"row-{row.row}", make(b, row))
            del row

    for result in _drive(b, pipelines(), max_rows=max_uploads_in_flight, pacer=pacer):
        results.append(result)
        if result.status is ResultStatus.IMPORTING:
            progress.create_ended(result)  # its create is done; the row ends with its poll
        else:
            progress.row_done(result)
    polled = _finish_imports(b, results, poll_interval, import_timeout)
    for result in polled:
        progress.row_done(result, count=False)
    return finish(
        results,
        title=f"{name} results",
        output=output,
        transport_params=b.transport_params,
        fail_on_row_errors=fail_on_row_errors,
        progress=progress,
    )


def run_updates(
    rows: Sequence[UpdateRow | InvalidRow],
    b: Batch,
    *,
    output: str | os.PathLike[str] | None,
    fail_on_row_errors: bool,
) -> pd.DataFrame:
    """PATCH every valid row of a parsed update manifest; return the results table."""
    progress = BatchProgress("update_videos", total=len(rows))
    results = [_invalid(row) for row in rows if isinstance(row, InvalidRow)]
    pipelines = (
        (r.row, labelled(f"row-{r.row}", update_pipeline(b, r)))
        for r in rows
        if isinstance(r, UpdateRow)
    )
    for result in _drive(b, pipelines, max_rows=b.max_concurrency):
        results.append(result)
        progress.row_done(result)
    return finish(
        results,
        title="update_videos results",
        output=output,
        transport_params=b.transport_params,
        fail_on_row_errors=fail_on_row_errors,
        progress=progress,
    )


def run_gets(ids: Sequence[str], b: Batch) -> pd.DataFrame:
    """GET every video; one row per id, ``error`` set where it could not be read."""
    progress = BatchProgress("get_videos", total=len(ids))
    pipelines = ((i, labelled(f"row-{i}", get_pipeline(b, i, v))) for i, v in enumerate(ids))
    records = []
    for record in _drive(b, pipelines, max_rows=b.max_concurrency):
        if isinstance(record, RowResult):  # a pipeline that crashed
            record = {"row": record.row, "error": record.error}
        records.append(record)
        progress.row_done(RowResult(record["row"], status=None))
    progress.close(None, title=None)
    frame = pd.DataFrame(sorted(records, key=lambda r: r["row"]))
    return frame.reindex(columns=VIDEO_COLUMNS)


def _settle(result: RowResult, outcome: VideoImport | str | None) -> LedgerEntry | None:
    """An import's end, in its row; the ledger entry to write (None: keep ``importing``)."""
    assert result.key is not None and result.import_id is not None
    if isinstance(outcome, str) or outcome is None:
        result.fail(import_unknown(result.import_id, outcome))
        return None  # a rerun polls it again, and never creates it twice
    if outcome.status == "completed":
        result.set(ResultStatus.IMPORTED, video_id=outcome.video_id)
        return LedgerEntry(
            key=result.key,
            status="imported",
            import_id=outcome.id,
            video_id=outcome.video_id,
            strategy=result.strategy,
        )
    error = f"import {outcome.id} errored" + (f": {outcome.error}" if outcome.error else "")
    result.set(ResultStatus.FAILED, video_id=outcome.video_id, error=error)
    return LedgerEntry(key=result.key, status="not_created", import_id=outcome.id, error=error)


def _finish_imports(
    b: Batch, results: list[RowResult], poll_interval: float, timeout: float
) -> list[RowResult]:
    """Poll every import this run started (or found running) from one loop, in one task;
    return the rows it settled."""
    waiting = [r for r in results if r.status is ResultStatus.IMPORTING]
    if not waiting:
        return []
    wait = wait_for_video_import_events if b.import_wait == "events" else wait_for_video_imports
    extra: dict[str, Any] = {"event_timeout": b.event_timeout} if b.import_wait == "events" else {}
    final = wait(
        [r.import_id for r in waiting],
        poll_interval=poll_interval,
        timeout=timeout,
        credentials=b.credentials,
        **extra,
    )
    settled = [(r, _settle(r, final.get(r.import_id or ""))) for r in waiting]

    def write(item: tuple[RowResult, LedgerEntry | None]) -> None:
        result, entry = item
        if entry is None:
            return
        try:
            b.ledger.put(entry)
        except LedgerError as exc:
            result.add_note(ledger_unwritten(entry.key, entry, exc))
        else:
            if entry.status == "imported":
                result.recorded_at = entry.updated_at

    # one fsync'd write each: overlapped, not one after another (hundreds of imports)
    with ThreadPoolExecutor(max_workers=b.max_concurrency) as pool:
        list(pool.map(write, settled))
    return waiting


def finish(
    results: Sequence[RowResult],
    *,
    title: str,
    output: str | os.PathLike[str] | None,
    transport_params: Mapping[str, Any] | None,
    fail_on_row_errors: bool,
    progress: BatchProgress,
) -> pd.DataFrame:
    """The results table: written first (whatever Prefect's API does), then published."""
    frame = results_frame(results)
    if output is not None:
        write_results(frame, output, transport_params=dict(transport_params or {}) or None)
        get_run_logger().info(
            "Wrote %d result rows to %s", len(frame), redact_url(os.fspath(output))
        )
    progress.close(frame, title=title)
    counts = counts_message(frame)
    bad = frame["status"].isin(["failed", "invalid"])
    if bad.any() and not frame["status"].isin(_SUCCEEDED).any():
        # a header typo or a wrong channel on every row: a schedule must not stay green
        raise RowErrorsFound(f"no row succeeded ({counts}); see the results", frame)
    if fail_on_row_errors and bad.any():
        raise RowErrorsFound(
            f"{int(bad.sum())} of {len(frame)} rows did not succeed ({counts}); see the results",
            frame,
        )
    return frame


#: statuses of a row that did what it was asked (a skipped row was done by an earlier run)
_SUCCEEDED = ("created", "imported", "updated", "skipped")


def completed(frame: pd.DataFrame) -> State[pd.DataFrame]:
    """The flow's final state: ``Completed`` with the counts as its message (the UI shows it);
    calling the flow still returns the DataFrame."""
    return Completed(message=counts_message(frame), data=frame)


def counts_message(frame: pd.DataFrame) -> str:
    """``8 rows: 1 created, 1 failed, 6 invalid``: the flow run's state message."""
    counts = frame["status"].value_counts() if len(frame) else pd.Series(dtype="int64")
    order = {status: i for i, status in enumerate(_SUCCEEDED)}
    parts = sorted(counts.items(), key=lambda item: (order.get(str(item[0]), 9), str(item[0])))
    listed = ", ".join(f"{n} {status}" for status, n in parts)
    return f"{len(frame)} rows" + (f": {listed}" if listed else "")
