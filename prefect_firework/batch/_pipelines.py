"""One pipeline per kind of row: what the driver runs for it, step by step.

A file row: preflight -> (skip if done) -> upload -> guarded create. A URL row: (skip if done)
-> guarded create. An update row: (read the key tag) -> PATCH. A get row: GET. Each returns
its :class:`RowResult`; only the create steps write to the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from prefect_firework._redact import redact_source
from prefect_firework.batch._batch import Batch, blame, describe
from prefect_firework.batch._create import DONE, CreateGuard, skipped, tagged, upload_row_key
from prefect_firework.batch._driver import Blocking, Call
from prefect_firework.batch._results import ResultStatus, RowResult
from prefect_firework.batch._rows import UpdateRow, UploadRow
from prefect_firework.batch._steps import planned_strategy, upload_steps
from prefect_firework.errors import PreflightError
from prefect_firework.models import VideoUpdate
from prefect_firework.sources import preflight
from prefect_firework.tasks import create_video, get_video, update_video

__all__ = ["file_pipeline", "get_pipeline", "update_pipeline", "url_pipeline"]

Pipeline = Generator[Any, Any, Any]


def _timed(result: RowResult, started: float) -> RowResult:
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _preflight(b: Batch, row: UploadRow) -> Blocking:
    # a plain call on a helper thread, not a task run: it sends nothing to Firework, and a
    # task run per row costs CPU the results table makes redundant
    return Blocking(
        preflight,
        (row.source,),
        {
            "transport_params": dict(b.transport_params) if b.transport_params else None,
            "limits": b.limits,
        },
    )


def file_pipeline(b: Batch, row: UploadRow) -> Pipeline:
    started = time.perf_counter()
    result = RowResult(
        row.row, source=redact_source(row.source), caption=row.metadata.caption, key=row.key
    )
    try:
        try:
            info = yield _preflight(b, row)
        except PreflightError as exc:
            result.set(ResultStatus.INVALID, error=f"row {row.row}, column 'source': {exc}")
            return result
        key = result.key = upload_row_key(row, info.fingerprint)
        result.bytes = info.size
        result.strategy = planned_strategy(info.size, multipart_threshold=b.multipart_threshold)
        entry = yield Blocking(b.ledger.get, (key,))
        if entry is not None and entry.status in DONE:
            return _timed(skipped(result, entry), started)
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
        result.strategy = uploaded.strategy
        if uploaded.note:  # a multipart upload abandoned on the way is named, never hidden
            result.add_note(f"note: {uploaded.note}")
        call = Call(
            create_video,
            {
                "metadata": tagged(row.metadata, key, b.key_field),
                "s3_key": uploaded.s3_key,
                "credentials": b.credentials,
                "wait_on_rate_limit": False,
            },
        )
        guard = CreateGuard(
            b, row, key, result, call, s3_key=uploaded.s3_key, upload_id=uploaded.upload_id
        )
        yield from guard.steps()
    except Exception as exc:
        result.fail(blame(row.row, exc, channel_id=row.metadata.channel_id))
    return _timed(result, started)


def url_pipeline(b: Batch, row: UploadRow) -> Pipeline:
    started = time.perf_counter()
    key = upload_row_key(row, None)
    result = RowResult(
        row.row,
        source=redact_source(row.url),
        caption=row.metadata.caption,
        key=key,
        strategy="url-async" if row.asynchronous else "url-sync",
    )
    try:
        entry = yield Blocking(b.ledger.get, (key,))
        if entry is not None and entry.status in DONE:
            return _timed(skipped(result, entry), started)
        call = Call(
            create_video,
            {
                "metadata": tagged(row.metadata, key, b.key_field),
                "url": row.url,
                "asynchronous": row.asynchronous,
                "credentials": b.credentials,
                "wait_on_rate_limit": False,
            },
        )
        yield from CreateGuard(b, row, key, result, call).steps()
    except Exception as exc:
        result.fail(blame(row.row, exc, channel_id=row.metadata.channel_id))
    return _timed(result, started)


def _keeping_tag(b: Batch, row: UpdateRow) -> Generator[Any, Any, VideoUpdate]:
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


def update_pipeline(b: Batch, row: UpdateRow) -> Pipeline:
    started = time.perf_counter()
    result = RowResult(row.row, caption=row.update.caption, key=row.key, video_id=row.video_id)
    try:
        update = yield from _keeping_tag(b, row)
        yield Call(
            update_video,
            {"video_id": row.video_id, "update": update, "credentials": b.credentials},
        )
        result.set(ResultStatus.UPDATED)
    except Exception as exc:
        result.fail(blame(row.row, exc, video_id=row.video_id))
    return _timed(result, started)


def get_pipeline(b: Batch, index: int, video_id: str) -> Pipeline:
    """A ``get_videos`` row: the video's fields (``video_id`` for ``id``), or its error."""
    try:
        video = yield Call(get_video, {"video_id": video_id, "credentials": b.credentials})
    except Exception as exc:
        return {"row": index, "video_id": video_id, "error": describe(exc)}
    data = video.model_dump(mode="json")
    data["video_id"] = data.pop("id")
    return {"row": index, **data}
