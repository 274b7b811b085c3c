"""What every row of one batch run shares: credentials, ledger, concurrency, the create rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prefect_firework import _defaults
from prefect_firework.batch._ledger import Ledger
from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.errors import NotFoundError, PermissionDeniedError
from prefect_firework.limits import MediaLimits, current_limits

__all__ = ["KEY_FIELD", "Batch", "describe", "make_batch"]

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
    verify_md5: bool = True
    recreate_uncertain: bool = False
    multipart_threshold: int | None = None
    key_field: str | None = KEY_FIELD
    #: how async imports are awaited: "poll" Firework, or "events" (webhooks, then polling)
    import_wait: str = "poll"
    #: seconds to wait for import events before polling the rest (None: the waiter's default)
    event_timeout: float | None = None
    #: seconds a row waits for its key while another run holds it, then fails
    lock_timeout: float = _defaults.LOCK_TIMEOUT
    #: the media limits preflight applies (file-size bounds from the settings)
    limits: MediaLimits = field(default_factory=current_limits)


def describe(exc: BaseException) -> str:
    """An exception as a result's error text: its type, then its (already redacted) text."""
    return f"{type(exc).__name__}: {exc}"


def blame(row: int, exc: BaseException, **cells: str | None) -> str:
    """``row 3, column 'channel_id' ('X6Xq'): NotFoundError: 404 Channel not found``: the
    error with the row, and the column and value the API's answer points at (a 404 or 403
    naming the channel or the video), so a person can find what to fix."""
    text = describe(exc)
    if isinstance(exc, NotFoundError | PermissionDeniedError):
        said = str(exc).lower()
        for column, value in cells.items():
            noun = column.removesuffix("_id")
            if value is not None and (noun in said or isinstance(exc, PermissionDeniedError)):
                return f"row {row}, column {column!r} ({value!r}): {text}"
    return f"row {row}: {text}"


def make_batch(
    credentials: FireworkCredentials | str | None,
    *,
    transport_params: Mapping[str, Any] | None = None,
    ledger: Ledger | None = None,
    max_concurrency: int = _defaults.MAX_CONCURRENCY,
    verify_md5: bool = True,
    recreate_uncertain: bool = False,
    multipart_threshold: int | None = None,
    tag_videos: bool = True,
    lock_timeout: float = _defaults.LOCK_TIMEOUT,
    import_wait: str = "poll",
    event_timeout: float | None = None,
) -> Batch:
    """A run's settings, checked before any row: a bad value fails the run, not every row."""
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    if not lock_timeout > 0:
        raise ValueError("lock_timeout must be positive seconds")
    if import_wait not in ("poll", "events"):
        raise ValueError(f"import_wait must be 'poll' or 'events', not {import_wait!r}")
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
        import_wait=import_wait,
        event_timeout=event_timeout,
    )
