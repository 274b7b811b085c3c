"""Batch flows fed from pandas: upload and import thousands of videos.

Every input row ends as exactly one result row (``RESULT_COLUMNS``): invalid rows are refused
before any request, valid rows go on whatever happens to their neighbours, and a rerun of the
same manifest skips the rows the ledger records as done, so no video is created twice.
``update_videos`` and ``get_videos`` live in ``prefect_firework.flows.videos`` (re-exported
here: this module is where users import the batch flows from).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from prefect.task_runners import ThreadPoolTaskRunner

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.client.errors import RateLimitedError
from prefect_firework.flows._batch import (
    KEY_FIELD,
    MAX_WORKERS,
    Batch,
    Manifest,
    RowErrorsFound,
    describe,
    finish,
    invalid_record,
    make_batch,
    record,
)
from prefect_firework.flows._create import (
    DONE,
    create_steps,
    import_unknown,
    ledger_unwritten,
    tagged,
)
from prefect_firework.flows._driver import Blocking, Call, Pipeline, drive, labelled
from prefect_firework.flows._flow import firework_flow
from prefect_firework.flows._progress import BatchProgress
from prefect_firework.flows._steps import MultipartUploadFailed, upload_steps
from prefect_firework.flows.videos import VIDEO_COLUMNS, get_videos, update_videos
from prefect_firework.ledger import Ledger, LedgerEntry, LedgerError
from prefect_firework.manifest import (
    InvalidRow,
    UploadRow,
    parse_upload_rows,
    read_manifest,
    upload_row_key,
)
from prefect_firework.pacing import ChannelPacer, PrefectRateLimitPacer, make_pacer
from prefect_firework.settings import FireworkSettings
from prefect_firework.sources import PreflightError, preflight
from prefect_firework.tasks import (
    create_video,
    wait_for_video_import_events,
    wait_for_video_imports,
)

__all__ = [
    "KEY_FIELD",
    "MAX_WORKERS",
    "VIDEO_COLUMNS",
    "RowErrorsFound",
    "get_videos",
    "import_videos",
    "update_videos",
    "upload_videos",
]


def _file_pipeline(b: Batch, row: UploadRow) -> Pipeline:
    started = time.perf_counter()
    rec = record(row.row, row.key)
    try:
        try:
            # a plain call on a helper thread, not a task run: it sends nothing to Firework,
            # and a task run per row costs ~7 ms of CPU the results table makes redundant
            info = yield Blocking(
                preflight,
                (row.source,),
                {"transport_params": dict(b.transport_params) if b.transport_params else None},
            )
        except PreflightError as exc:
            rec.update(status="invalid", error=f"row {row.row}, column 'source': {exc}")
            return rec
        key = rec["key"] = upload_row_key(row, info.fingerprint)
        rec["bytes"] = info.size
        entry = yield Blocking(b.ledger.get, (key,))
        if entry is not None and entry.status in DONE:
            rec.update(status="skipped", video_id=entry.video_id)
            return rec
        uploaded = yield from upload_steps(
            str(row.source),
            info,
            channel_id=row.metadata.channel_id,
            credentials=b.credentials,
            max_concurrency=b.max_concurrency,
            transport_params=b.transport_params,
            verify_md5=b.verify_md5,
            multipart_threshold=b.multipart_threshold,
            owner=key,
            spent=b.ledger.upload_spent,
        )
        rec["strategy"] = uploaded.strategy
        if uploaded.note:  # a multipart upload abandoned on the way is named, never hidden
            rec["error"] = f"note: {uploaded.note}"
        call = Call(
            create_video,
            {
                "metadata": tagged(b, row, key),
                "s3_key": uploaded.s3_key,
                "credentials": b.credentials,
                "wait_on_rate_limit": False,
            },
        )
        yield from create_steps(
            b, row, key, rec, call, s3_key=uploaded.s3_key, upload_id=uploaded.upload_id
        )
    except MultipartUploadFailed as exc:
        rec.update(status="failed", error=describe(exc), upload_id=exc.upload_id)
    except Exception as exc:
        rec.update(status="failed", error=describe(exc))
    rec["seconds"] = round(time.perf_counter() - started, 3)
    return rec


def _url_pipeline(b: Batch, row: UploadRow) -> Pipeline:
    started = time.perf_counter()
    key = upload_row_key(row, None)
    rec = record(row.row, key, strategy="url-async" if row.asynchronous else "url-sync")
    try:
        entry = yield Blocking(b.ledger.get, (key,))
        if entry is not None and entry.status in DONE:
            rec.update(status="skipped", video_id=entry.video_id, import_id=entry.import_id)
            return rec
        call = Call(
            create_video,
            {
                "metadata": tagged(b, row, key),
                "url": row.url,
                "asynchronous": row.asynchronous,
                "credentials": b.credentials,
                "wait_on_rate_limit": False,
            },
        )
        yield from create_steps(b, row, key, rec, call)
    except Exception as exc:
        rec.update(status="failed", error=describe(exc))
    rec["seconds"] = round(time.perf_counter() - started, 3)
    return rec


def _finish_imports(
    b: Batch, records: list[dict[str, Any]], poll_interval: float, timeout: float
) -> None:
    """Poll every import this run started (or found running) from one loop, in one task."""
    waiting = [r for r in records if r.get("status") == "importing"]
    if not waiting:
        return
    if b.import_wait == "events":
        final = wait_for_video_import_events(
            [r["import_id"] for r in waiting],
            event_timeout=b.event_timeout,
            poll_interval=poll_interval,
            timeout=timeout,
            credentials=b.credentials,
        )
    else:
        final = wait_for_video_imports(
            [r["import_id"] for r in waiting],
            poll_interval=poll_interval,
            timeout=timeout,
            credentials=b.credentials,
        )
    settled: list[LedgerEntry] = []
    for rec in waiting:
        outcome = final.get(rec["import_id"])
        if isinstance(outcome, str) or outcome is None:
            rec.update(status="failed", error=import_unknown(rec["import_id"], outcome))
            continue  # the ledger keeps "importing": a rerun polls it again, never re-creates
        if outcome.status == "completed":
            rec.update(status="imported", video_id=outcome.video_id)
            settled.append(
                LedgerEntry(
                    key=rec["key"],
                    status="imported",
                    import_id=outcome.id,
                    video_id=outcome.video_id,
                )
            )
        else:
            error = f"import {outcome.id} errored" + (
                f": {outcome.error}" if getattr(outcome, "error", None) else ""
            )
            rec.update(status="failed", video_id=outcome.video_id, error=error)
            settled.append(
                LedgerEntry(
                    key=rec["key"],
                    status="failed",
                    import_id=outcome.id,
                    error=error,
                )
            )
    # one fsync'd write each: overlapped, not one after another (hundreds of imports)
    by_key = {rec["key"]: rec for rec in waiting}

    def write(entry: LedgerEntry) -> None:
        try:
            b.ledger.put(entry)
        except LedgerError as exc:
            rec = by_key[entry.key]
            rec["error"] = ledger_unwritten(entry.key, entry, exc, rec.get("error"))

    with ThreadPoolExecutor(max_workers=b.max_concurrency) as pool:
        list(pool.map(write, settled))


def _run_manifest(
    name: str,
    rows: list[UploadRow | InvalidRow],
    b: Batch,
    *,
    pacer: ChannelPacer | PrefectRateLimitPacer,
    max_uploads_in_flight: int,
    poll_interval: float,
    import_timeout: float,
    output: str | None,
    fail_on_row_errors: bool,
) -> pd.DataFrame:
    """Run a parsed manifest's rows with progress reporting; return the results table."""
    progress = BatchProgress(name, total=len(rows))
    records: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, InvalidRow):
            records.append(invalid_record(row))
            progress.row_done(records[-1])

    def pipelines() -> Iterator[tuple[int, Pipeline]]:
        for row in rows:
            if isinstance(row, UploadRow):
                make = _file_pipeline if row.kind == "file" else _url_pipeline
                yield row.row, labelled(f"row-{row.row}", make(b, row))

    def crashed(index: int, exc: BaseException) -> dict[str, Any]:
        return record(index, None, status="failed", error=describe(exc))

    def paced(channel_id: str, failure: BaseException | None) -> None:
        if failure is None:
            pacer.succeeded(channel_id)
        elif isinstance(failure, RateLimitedError):  # the whole channel waits, not one row
            pacer.penalize(channel_id, failure.retry_after)

    for _, rec in drive(
        pipelines(),
        max_tasks=b.max_concurrency,
        max_rows=max(1, max_uploads_in_flight),
        pacer=pacer,
        on_error=crashed,
        on_paced=paced,
    ):
        records.append(rec)
        if rec.get("status") != "importing":
            progress.row_done(rec)
    _finish_imports(b, records, poll_interval, import_timeout)
    for rec in records:
        if rec.get("import_id") and rec.get("status") in ("imported", "failed"):
            progress.row_done(rec, count=False)
    return finish(
        records,
        title=f"{name} results",
        output=output,
        transport_params=b.transport_params,
        fail_on_row_errors=fail_on_row_errors,
        progress=progress,
    )


@firework_flow(name="upload_videos", task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def upload_videos(
    manifest: Manifest,
    *,
    credentials: FireworkCredentials | str | None = None,
    max_concurrency: int = 8,
    max_uploads_in_flight: int = 8,
    output: str | None = None,
    ledger: Ledger | None = None,
    shared_rate_limit: bool = False,
    transport_params: dict[str, Any] | None = None,
    verify_md5: bool = True,
    multipart_threshold: int | None = None,
    recreate_uncertain: bool = False,
    tag_videos: bool = True,
    fail_on_row_errors: bool = False,
    lock_timeout: float = 600.0,
) -> pd.DataFrame:
    """Upload (``source`` rows) and import (``url`` rows) every video of a manifest.

    ``manifest`` is a DataFrame or a CSV / Parquet / JSON Lines file on any storage. File
    rows go preflight -> single or multipart upload -> create; URL rows go create (sync, or
    async then polled with the others from one loop). Uploads run ahead (at most
    ``max_uploads_in_flight`` rows at once, ``max_concurrency`` task runs at once) while a
    per-channel pacer releases creates as Firework's 20-per-5-minutes budget frees up
    (``shared_rate_limit=True`` shares that budget across processes through a Prefect global
    concurrency limit). Returns one result row per input row; ``output=`` also writes them.
    Rows recorded as done in the ledger are ``skipped`` on a rerun. Files above
    ``multipart_threshold`` bytes (default: the spec's ~100 MB) go multipart. Each created
    video carries its row key in ``custom_fields["prefect_firework_key"]`` (``tag_videos``), so
    a crash's uncertain create can be looked up; see ``Ledger.resolve``.
    """
    settings = FireworkSettings()
    b = make_batch(
        credentials,
        transport_params,
        ledger,
        max_concurrency,
        verify_md5,
        recreate_uncertain,
        multipart_threshold,
        tag_videos,
        lock_timeout,
    )
    frame = read_manifest(manifest, transport_params=transport_params)
    return _run_manifest(
        "upload_videos",
        parse_upload_rows(frame),
        b,
        pacer=make_pacer(shared=shared_rate_limit, settings=settings),
        max_uploads_in_flight=max_uploads_in_flight,
        poll_interval=settings.poll_interval,
        import_timeout=settings.import_timeout,
        output=output,
        fail_on_row_errors=fail_on_row_errors,
    )


@firework_flow(name="import_videos", task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def import_videos(
    manifest: Manifest,
    *,
    credentials: FireworkCredentials | str | None = None,
    asynchronous: bool | None = True,
    max_concurrency: int = 8,
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
    lock_timeout: float = 600.0,
) -> pd.DataFrame:
    """Import every ``url`` row of a manifest; ``source`` rows are refused as ``invalid``.

    Imports are async by default (``asynchronous=None`` follows each row's ``async`` column)
    and are all polled from one loop, in one task, every ``poll_interval`` seconds (default
    ``FIREWORK_POLL_INTERVAL``, 5 s). Each row ends ``imported`` or ``failed`` with the
    import's error. ``import_wait="events"`` (opt-in) waits instead for the Prefect events of a
    running webhook receiver (``firework.video.created`` / ``import_failed``) for up to
    ``event_timeout`` seconds (default 600), then polls the imports still open.
    """
    if import_wait not in ("poll", "events"):
        raise ValueError(f"import_wait must be 'poll' or 'events', not {import_wait!r}")
    settings = FireworkSettings()
    b = make_batch(
        credentials,
        transport_params,
        ledger,
        max_concurrency,
        True,
        recreate_uncertain,
        tag_videos=tag_videos,
        lock_timeout=lock_timeout,
    )
    b.import_wait, b.event_timeout = import_wait, event_timeout
    frame = read_manifest(manifest, transport_params=transport_params)
    rows: list[UploadRow | InvalidRow] = []
    for row in parse_upload_rows(frame):
        if isinstance(row, UploadRow) and row.kind == "file":
            row = InvalidRow(
                row=row.row,
                key=row.key,
                column="source",
                rule="url_rows_only",
                error=f"row {row.row}, column 'source': import_videos takes url rows only; "
                "use upload_videos for files",
            )
        elif isinstance(row, UploadRow) and asynchronous is not None:
            row = row.model_copy(update={"asynchronous": asynchronous})
        rows.append(row)
    return _run_manifest(
        "import_videos",
        rows,
        b,
        pacer=make_pacer(shared=shared_rate_limit, settings=settings),
        max_uploads_in_flight=max_concurrency,
        poll_interval=poll_interval or settings.poll_interval,
        import_timeout=import_timeout or settings.import_timeout,
        output=output,
        fail_on_row_errors=fail_on_row_errors,
    )
