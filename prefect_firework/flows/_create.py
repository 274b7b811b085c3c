"""The create protocol of a batch row: the one place a manifest row becomes a video.

claim the row's key -> re-read the ledger -> (pacer grants a slot) mark ``creating`` -> send
the create -> classify a failure with ``create_outcome`` (``not_created`` / ``unknown``) ->
record the outcome. See docs/ARCHITECTURE.md for why each step is where it is.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Generator
from typing import Any

from prefect_firework.client.errors import RateLimitedError
from prefect_firework.flows._batch import Batch, describe
from prefect_firework.flows._driver import Blocking, Call, Paced, Sleep
from prefect_firework.ledger import LedgerEntry, LedgerError, LedgerLockTimeout
from prefect_firework.manifest import UploadRow
from prefect_firework.models import VideoImport
from prefect_firework.tasks._policy import RATE_LIMIT_BUDGET_SECONDS, create_outcome

__all__ = ["DONE", "claim", "create_steps", "import_unknown", "put", "tagged"]

logger = logging.getLogger("prefect_firework.flows")

#: ledger statuses of rows that made their video
DONE = ("created", "imported")
#: how long a row waits for a key another run holds, and how often it says so
LOCK_LOG_EVERY = 30.0
#: attempts at a ledger write after the create succeeded (the video id must not be lost)
RECORD_ATTEMPTS = 3


def put(b: Batch, entry: LedgerEntry) -> Blocking:
    """A ledger write (an fsync on local storage, a PUT on an object store), for a worker
    thread: the driver's thread goes on scheduling other rows meanwhile."""
    return Blocking(b.ledger.put, (entry,))


def tagged(b: Batch, row: UploadRow, key: str) -> Any:
    """The row's metadata with its key in ``custom_fields`` (unless tagging is off)."""
    if not b.key_field:
        return row.metadata
    fields = dict(row.metadata.custom_fields or {})
    tag = key if len(key) <= 1024 else hashlib.sha256(key.encode()).hexdigest()
    fields.setdefault(b.key_field, tag)
    return row.metadata.model_copy(update={"custom_fields": fields})


def claim(b: Batch, key: str, row: int) -> Generator[Any, Any, None]:
    """Take the row's lock without blocking the driver: another run may hold it for a while,
    and blocking here would stall this run's other rows (and could deadlock two runs).

    The wait is logged (who holds the key, since when) and ends at ``b.lock_timeout``: the
    row then fails with that explanation and the other rows go on.
    """
    delay, started, said = 0.2, time.monotonic(), 0.0
    while not (yield Blocking(b.ledger.try_acquire, (key,))):
        waited = time.monotonic() - started
        if waited >= b.lock_timeout or waited - said >= LOCK_LOG_EVERY:
            info = yield Blocking(b.ledger.lock_info, (key,))
            who = info.describe() if info is not None else "another run"
            if waited >= b.lock_timeout:
                raise LedgerLockTimeout(
                    f"key {key!r} is held by {who}; gave up after {waited:.0f} s "
                    f"(lock_timeout). A lock whose holder stopped refreshing it expires after "
                    f"its lease ({b.ledger.lock_lease:.0f} s); rerun once that run has ended"
                )
            logger.info("Row %d waits for key %r, held by %s", row, key, who)
            said = waited
        yield Sleep(delay)
        delay = min(delay * 2, 5.0)


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


def _mark_creating(b: Batch, entry: LedgerEntry) -> None:
    """Recorded (fsync'd) as the create is about to leave: from here a crash is "uncertain"."""
    b.ledger.put(entry)
    if entry.upload_id:
        b.ledger.spend_upload(entry.upload_id, entry.key)


def _not_created(b: Batch, entry: LedgerEntry, error: str) -> None:
    b.ledger.put(LedgerEntry(key=entry.key, status="failed", error=error))
    if entry.upload_id:  # the object was not consumed: a rerun may resume the same upload
        b.ledger.spend_upload(entry.upload_id, entry.key, spent=False)


def _put_retrying(b: Batch, entry: LedgerEntry) -> None:
    """Write an outcome the run must not lose (a video id): retried before giving up."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            b.ledger.put(entry)
            return
        except LedgerError:
            if attempt == RECORD_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * 2**attempt)


def create_steps(
    b: Batch,
    row: UploadRow,
    key: str,
    rec: dict[str, Any],
    call: Call,
    *,
    s3_key: str | None = None,
    upload_id: str | None = None,
) -> Generator[Any, Any, Any]:
    """Create under the row's lock, paced, bracketed by ledger records; fill ``rec``."""
    yield from claim(b, key, row.row)
    try:
        entry = yield Blocking(b.ledger.get, (key,))
        if entry is not None and entry.status in DONE:  # a concurrent run finished it
            rec.update(status="skipped", video_id=entry.video_id, import_id=entry.import_id)
            return None
        if entry is not None and entry.status in ("creating", "importing"):
            if entry.status == "importing" and entry.import_id:
                rec.update(status="importing", import_id=entry.import_id)
                return None
            if not b.recreate_uncertain:
                raise RuntimeError(_uncertain(key, entry))
        creating = LedgerEntry(key=key, status="creating", s3_key=s3_key, upload_id=upload_id)
        created = yield from _send(b, row, key, call, creating)
        yield from _record(b, row, key, rec, created, s3_key)
        return created
    finally:
        b.ledger.release(key)


def _send(
    b: Batch, row: UploadRow, key: str, call: Call, creating: LedgerEntry
) -> Generator[Any, Any, Any]:
    """The paced create; a 429 pauses the channel (the driver's ``on_paced``) and the row
    waits its turn again, without spending a retry, for up to the rate-limit budget."""
    first_429: float | None = None
    while True:
        try:
            return (
                yield Paced(
                    row.metadata.channel_id, call, before=Blocking(_mark_creating, (b, creating))
                )
            )
        except RateLimitedError as exc:
            now = time.monotonic()
            first_429 = now if first_429 is None else first_429
            if now - first_429 < RATE_LIMIT_BUDGET_SECONDS:
                continue
            yield Blocking(_not_created, (b, creating, describe(exc)))
            raise
        except LedgerError:
            raise  # the "creating" record could not be written: nothing was sent
        except Exception as exc:
            if create_outcome(exc) == "not_created":
                yield Blocking(_not_created, (b, creating, describe(exc)))
                raise
            # it may have reached Firework: the ledger keeps "creating", and the row says so
            raise RuntimeError(_sent_uncertain(b, row, key, exc)) from exc


def _outcome(
    row: UploadRow, key: str, created: Any, s3_key: str | None
) -> tuple[dict[str, Any], LedgerEntry]:
    """The result fields and the ledger entry of a create's answer.

    A 202 is an import job whatever its status: its id is an *import* id; a video id comes
    only from a completed import's ``video_id``; an errored import is a failed row.
    """
    if isinstance(created, VideoImport):
        if created.status == "completed" and created.video_id:
            fields = {"status": "imported", "import_id": created.id, "video_id": created.video_id}
            entry = LedgerEntry(
                key=key, status="imported", import_id=created.id, video_id=created.video_id
            )
        elif created.status == "errored":
            error = f"import {created.id} errored" + (f": {created.error}" if created.error else "")
            fields = {
                "status": "failed",
                "import_id": created.id,
                "video_id": created.video_id,
                "error": error,
            }
            entry = LedgerEntry(key=key, status="failed", import_id=created.id, error=error)
        else:  # running (or completed without its video id yet): polled with the others
            fields = {"status": "importing", "import_id": created.id, "video_id": created.video_id}
            entry = LedgerEntry(key=key, status="importing", import_id=created.id)
        return fields, entry
    status = "created" if row.kind == "file" else "imported"
    return {"status": status, "video_id": created.id}, LedgerEntry(
        key=key, status=status, video_id=created.id, s3_key=s3_key
    )


def _record(
    b: Batch, row: UploadRow, key: str, rec: dict[str, Any], created: Any, s3_key: str | None
) -> Generator[Any, Any, None]:
    fields, entry = _outcome(row, key, created, s3_key)
    rec.update(fields)
    try:
        yield Blocking(_put_retrying, (b, entry))
    except LedgerError as exc:
        rec["error"] = ledger_unwritten(key, entry, exc, rec.get("error"))


def ledger_unwritten(
    key: str, entry: LedgerEntry, exc: BaseException, earlier: str | None = None
) -> str:
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
    note = f"ledger not updated ({exc}); {settle}"
    return f"{earlier}; {note}" if earlier else note
