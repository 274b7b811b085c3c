"""The create protocol: the one place a manifest row becomes a video.

A row's key (:func:`upload_row_key`) and the tag that carries it on the video (``KEY_FIELD``)
live here, beside :class:`CreateGuard`, which runs claim -> re-read -> mark ``creating`` (once
the pacer granted the slot) -> create -> classify -> record for one row. docs/ARCHITECTURE.md
says why each step is where it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Generator
from typing import Any

from prefect_firework import _defaults
from prefect_firework.batch._batch import KEY_FIELD, Batch, describe
from prefect_firework.batch._driver import Blocking, Call, Paced, Sleep
from prefect_firework.batch._ledger import LedgerEntry
from prefect_firework.batch._results import ResultStatus, RowResult
from prefect_firework.batch._rows import UploadRow
from prefect_firework.errors import LedgerError, LedgerLockTimeout, RateLimitedError
from prefect_firework.models import VideoImport, VideoMetadata
from prefect_firework.tasks._policy import create_outcome

__all__ = [
    "AUTO_KEY_PREFIX",
    "DONE",
    "KEY_FIELD",
    "CreateGuard",
    "import_unknown",
    "ledger_unwritten",
    "tagged",
    "upload_row_key",
]

logger = logging.getLogger("prefect_firework.flows")

#: ledger statuses of rows that made their video
DONE = ("created", "imported")
#: how often a row waiting for a key another run holds says so
LOCK_LOG_EVERY = 30.0
#: attempts at a ledger write after the create succeeded (the video id must not be lost)
RECORD_ATTEMPTS = 3

AUTO_KEY_PREFIX = "auto-"
_KEY_VERSION = "prefect-firework/row-key/v1"


def upload_row_key(row: UploadRow, fingerprint: str | None) -> str:
    """The idempotency key of an upload row: its ``key`` cell, else a stable hash.

    The hash (``auto-`` + 64 hex chars) covers the channel, what the video is made of (the
    source's content ``fingerprint`` for file rows, the URL for URL rows) and the canonical JSON
    of the metadata sent: the same video with the same metadata on the same channel gets the same
    key on every run, on every machine. A file row without a fingerprint falls back to its
    source URI (weaker: the file could change under the same name). ``async`` is not part of
    the key: it changes how the video is made, not which video it is.
    """
    if row.key is not None:
        return row.key
    if row.kind == "url":
        identity = f"url:{row.url}"
    elif fingerprint:
        identity = f"fingerprint:{fingerprint}"
    else:
        identity = f"source:{row.source}"
    payload = json.dumps(
        [_KEY_VERSION, row.metadata.channel_id, identity, row.metadata.to_api()],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return AUTO_KEY_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def tagged(metadata: VideoMetadata, key: str, key_field: str | None) -> VideoMetadata:
    """``metadata`` with the row's key in ``custom_fields[key_field]`` (unless tagging is off)."""
    if not key_field:
        return metadata
    fields = dict(metadata.custom_fields or {})
    tag = key if len(key) <= 1024 else hashlib.sha256(key.encode()).hexdigest()
    fields.setdefault(key_field, tag)
    return metadata.model_copy(update={"custom_fields": fields})


# ---------------------------------------------------------------------- what rows say


def _uncertain(key: str, entry: LedgerEntry) -> str:
    return (
        f"an earlier run sent the create for key {key!r} at {entry.updated_at:%Y-%m-%d %H:%M:%S} "
        "UTC and stopped before recording its outcome, so the video may already exist in "
        "Firework (the API cannot be searched for it). Check, then settle the row with "
        f"'prefect-firework ledger resolve {key} [--video-id ID]', or rerun with "
        "recreate_uncertain=True to create it again"
    )


def _sent_uncertain(b: Batch, row: UploadRow, key: str, exc: BaseException) -> str:
    tag = f" (it carries custom_fields.{b.key_field} = this row's key)" if b.key_field else ""
    advice = ""
    if row.kind == "url" and not row.asynchronous:
        advice = (
            ". Sync URL imports may time out on large files or slow hosts while Firework goes "
            "on downloading: import such rows with async=true"
        )
    return (
        f"{describe(exc)}; the create may have reached Firework, so the video may already "
        f"exist{tag}. Look it up, then settle the row with 'prefect-firework ledger resolve "
        f"{key} [--video-id ID]' (Ledger.resolve), or rerun with recreate_uncertain=True{advice}"
    )


def import_unknown(import_id: str, problem: str | None) -> str:
    return (
        f"{problem or 'import was not polled'}; Firework accepted import {import_id}, which may "
        "still complete, so the video may already exist: a rerun polls it again (and never "
        "creates it twice)"
    )


def ledger_unwritten(key: str, entry: LedgerEntry, exc: BaseException) -> str:
    """A row whose outcome is known but could not be recorded: never advise recreating it."""
    if entry.video_id:
        settle = (
            f"video {entry.video_id} exists: before the next run, record it with "
            f"'prefect-firework ledger resolve {key} --video-id {entry.video_id}' (the ledger "
            "still says the create was sent, and a rerun would report the row uncertain)"
        )
    elif entry.import_id:
        settle = (
            f"import {entry.import_id} was accepted: the next run cannot poll it, so look its "
            "video up before settling the row with 'prefect-firework ledger resolve'"
        )
    else:
        settle = "the next run will retry the row"
    return f"ledger not updated ({exc}); {settle}"


# ---------------------------------------------------------------------- ledger writes


def _mark_creating(b: Batch, entry: LedgerEntry) -> None:
    """Recorded (fsync'd) as the create is about to leave: from here a crash is "uncertain"."""
    b.ledger.put(entry)
    if entry.upload_id:
        b.ledger.spend_upload(entry.upload_id, entry.key)


def _not_created(b: Batch, entry: LedgerEntry, error: str) -> None:
    b.ledger.put(LedgerEntry(key=entry.key, status="not_created", error=error))
    if entry.upload_id:  # the object was not consumed: a rerun may resume the same upload
        b.ledger.spend_upload(entry.upload_id, entry.key, spent=False)


def put_retrying(b: Batch, entry: LedgerEntry) -> None:
    """Write an outcome the run must not lose (a video id): retried before giving up."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            b.ledger.put(entry)
            return
        except LedgerError:
            if attempt == RECORD_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * 2**attempt)


def skipped(result: RowResult, entry: LedgerEntry) -> RowResult:
    """A row an earlier run finished, as that run recorded it: video and import ids, how it was
    made (when the entry says) and when."""
    return result.set(
        ResultStatus.SKIPPED,
        video_id=entry.video_id,
        import_id=entry.import_id,
        strategy=entry.strategy or result.strategy,
        recorded_at=entry.updated_at,
    )


def outcome_of(
    row: UploadRow, key: str, created: Any, s3_key: str | None, strategy: str | None = None
) -> tuple[ResultStatus, dict[str, Any], LedgerEntry]:
    """The result and the ledger entry of a create's answer (``strategy``: how it was made).

    A 202 is an import job whatever its status: its id is an *import* id; a video id comes
    only from a completed import's ``video_id``; an errored import is a failed row.
    """
    if isinstance(created, VideoImport):
        ids = {"import_id": created.id, "video_id": created.video_id}
        if created.status == "completed" and created.video_id:
            entry = LedgerEntry(key=key, status="imported", strategy=strategy, **ids)
            return ResultStatus.IMPORTED, ids, entry
        if created.status == "errored":
            error = f"import {created.id} errored" + (
                f": {created.error}" if created.error else ""
            )
            entry = LedgerEntry(key=key, status="not_created", import_id=created.id, error=error)
            return ResultStatus.FAILED, {**ids, "error": error}, entry
        # running (or completed without its video id yet): polled with the others
        entry = LedgerEntry(key=key, status="importing", import_id=created.id, strategy=strategy)
        return ResultStatus.IMPORTING, ids, entry
    done = ResultStatus.CREATED if row.kind == "file" else ResultStatus.IMPORTED
    entry = LedgerEntry(
        key=key, status=done.value, video_id=created.id, s3_key=s3_key, strategy=strategy
    )
    return done, {"video_id": created.id}, entry


# ---------------------------------------------------------------------- the guard


class CreateGuard:
    """One row's create, guarded so that no run ever makes its video twice.

    :meth:`steps` is a pipeline fragment for the driver: it claims the row's key (without
    blocking the driver), re-reads the ledger under it, has the row marked ``creating`` once
    the pacer grants a slot, sends ``call``, classifies a failure with ``create_outcome`` and
    records the outcome in the ledger and in ``result``.
    """

    def __init__(
        self,
        b: Batch,
        row: UploadRow,
        key: str,
        result: RowResult,
        call: Call,
        *,
        s3_key: str | None = None,
        upload_id: str | None = None,
    ) -> None:
        self.b, self.row, self.key, self.result, self.call = b, row, key, result, call
        self.creating = LedgerEntry(
            key=key,
            status="creating",
            s3_key=s3_key,
            upload_id=upload_id,
            strategy=result.strategy,
        )
        self.s3_key = s3_key

    def steps(self) -> Generator[Any, Any, Any]:
        yield from self._claim()
        try:
            entry = yield Blocking(self.b.ledger.get, (self.key,))
            if not self._still_to_create(entry):
                return None
            created = yield from self._send()
            yield from self._record(created)
            return created
        finally:
            self.b.ledger.release(self.key)

    def _claim(self) -> Generator[Any, Any, None]:
        """Take the key's lock without blocking the driver (another run may hold it a while,
        and blocking would stall this run's other rows); log who holds it; give up at
        ``lock_timeout`` with that explanation, while the other rows go on."""
        delay, started, said = 0.2, time.monotonic(), 0.0
        while not (yield Blocking(self.b.ledger.try_acquire, (self.key,))):
            waited = time.monotonic() - started
            if waited >= self.b.lock_timeout or waited - said >= LOCK_LOG_EVERY:
                info = yield Blocking(self.b.ledger.lock_info, (self.key,))
                who = info.describe() if info is not None else "another run"
                if waited >= self.b.lock_timeout:
                    raise LedgerLockTimeout(
                        f"key {self.key!r} is held by {who}; gave up after {waited:.0f} s "
                        "(lock_timeout). A lock whose holder stopped refreshing it expires "
                        f"after its lease ({self.b.ledger.lock_lease:.0f} s); rerun once that "
                        "run has ended"
                    )
                logger.info("Row %d waits for key %r, held by %s", self.row.row, self.key, who)
                said = waited
            yield Sleep(delay)
            delay = min(delay * 2, 5.0)

    def _still_to_create(self, entry: LedgerEntry | None) -> bool:
        """What the ledger says under the lock; False when this row must not create."""
        if entry is None or entry.status == "not_created":
            return True
        if entry.status in DONE:  # a concurrent run finished it
            skipped(self.result, entry)
            return False
        if entry.status == "importing" and entry.import_id:
            self.result.set(ResultStatus.IMPORTING, import_id=entry.import_id)
            return False
        if not self.b.recreate_uncertain:
            raise RuntimeError(_uncertain(self.key, entry))
        return True

    def _send(self) -> Generator[Any, Any, Any]:
        """The paced create; a 429 pauses the channel (the flow's ``on_paced``) and the row
        waits its turn again, without spending a retry, for up to the rate-limit budget."""
        first_429: float | None = None
        mark = Blocking(_mark_creating, (self.b, self.creating))
        while True:
            try:
                return (yield Paced(self.row.metadata.channel_id, self.call, before=mark))
            except RateLimitedError as exc:
                now = time.monotonic()
                first_429 = now if first_429 is None else first_429
                if now - first_429 < _defaults.RATE_LIMIT_BUDGET:
                    continue
                yield Blocking(_not_created, (self.b, self.creating, describe(exc)))
                raise
            except LedgerError:
                raise  # the "creating" record could not be written: nothing was sent
            except Exception as exc:
                if create_outcome(exc) == "not_created":
                    yield Blocking(_not_created, (self.b, self.creating, describe(exc)))
                    raise
                # it may have reached Firework: the ledger keeps "creating", the row says so
                raise RuntimeError(_sent_uncertain(self.b, self.row, self.key, exc)) from exc

    def _record(self, created: Any) -> Generator[Any, Any, None]:
        status, fields, entry = outcome_of(
            self.row, self.key, created, self.s3_key, self.result.strategy
        )
        self.result.set(status, **fields)
        try:
            yield Blocking(put_retrying, (self.b, entry))
        except LedgerError as exc:
            self.result.add_note(ledger_unwritten(self.key, entry, exc))
        else:
            if entry.status in DONE:
                self.result.recorded_at = entry.updated_at
