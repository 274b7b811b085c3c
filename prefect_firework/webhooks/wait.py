"""Wait for async imports through webhook events instead of polling Firework, opt-in.

``await_import_events`` collects the outcomes; the task ``wait_for_video_import_events``
(``prefect_firework.tasks``) builds on it, with the contract of ``wait_for_video_imports``
(import id -> final ``VideoImport``, or error text) so a batch flow can use either. It listens
for the receiver's ``firework.video.created`` and ``firework.video.import_failed`` events about
the given imports, for at most ``event_timeout`` seconds, then polls Firework for whatever is
still open (the receiver may be down, or the webhooks not configured): polling is the fallback,
never skipped.

Events can precede the wait: imports are created before the flow starts waiting, and a rerun
waits on imports started long ago. So, besides the live subscription, Prefect's stored events
are queried at the start and every ``requery_interval`` seconds (this also covers events that
were not yet persisted when the subscription's own backfill ran). Those queries go to Prefect,
not Firework, whose API budget is the thing the events path saves.

An import counts as done on ``firework.video.created`` (Firework sends it once the video is
transcoded, per its docs) unless the payload's status says the transcode failed, and as errored
on ``firework.video.import_failed``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from prefect.events.schemas.events import Event

from prefect_firework.models import VideoImport
from prefect_firework.webhooks.events import (
    IMPORT_FAILED_EVENT,
    VIDEO_CREATED_EVENT,
    import_resource_id,
)

__all__ = [
    "DEFAULT_EVENT_TIMEOUT",
    "await_import_events",
    "import_outcome",
]

#: seconds to wait for events before polling what is left
DEFAULT_EVENT_TIMEOUT = 600.0

logger = logging.getLogger("prefect_firework.webhooks")

_IMPORT_PREFIX = "firework.import."
_FAILED_STATUSES = {"failed", "errored", "error"}
_CHUNK = 200


def import_outcome(event: Event | Any) -> tuple[str, VideoImport] | None:
    """``(import id, final VideoImport)`` for an import event, ``None`` for any other event."""
    if event.event not in (VIDEO_CREATED_EVENT, IMPORT_FAILED_EVENT):
        return None
    payload = event.payload or {}
    import_id = payload.get("import_id")
    if not import_id:
        for resource in [event.resource, *event.related]:
            if resource.id.startswith(_IMPORT_PREFIX):
                import_id = resource.id[len(_IMPORT_PREFIX) :]
                break
    if not import_id:
        return None
    status = str(payload.get("status") or "").lower()
    if event.event == IMPORT_FAILED_EVENT or status in _FAILED_STATUSES:
        error = payload.get("error") or f"Firework reported the import failed ({event.event})"
        return import_id, VideoImport(
            id=import_id, status="errored", video_id=payload.get("video_id"), error=error
        )
    return import_id, VideoImport(
        id=import_id,
        status="completed",
        video_id=payload.get("video_id"),
        completed_at=event.occurred,
    )


def _filter(import_ids: Iterable[str] | None, since: dt.datetime | None = None) -> Any:
    from prefect.events.filters import (
        EventAnyResourceFilter,
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
    )

    resources = (
        EventAnyResourceFilter(id=[import_resource_id(i) for i in import_ids])
        if import_ids is not None
        else EventAnyResourceFilter(id_prefix=[_IMPORT_PREFIX])
    )
    now = dt.datetime.now(dt.timezone.utc)
    return EventFilter(
        occurred=EventOccurredFilter(
            since=since or now - dt.timedelta(days=1), until=now + dt.timedelta(days=1)
        ),
        event=EventNameFilter(name=[VIDEO_CREATED_EVENT, IMPORT_FAILED_EVENT]),
        any_resource=resources,
    )


class _Collector:
    """Outcomes gathered so far from any source; the first event per import wins."""

    def __init__(self, import_ids: Sequence[str]) -> None:
        self.pending = set(import_ids)
        self.outcomes: dict[str, VideoImport] = {}

    def absorb(self, event: Event | Any) -> None:
        found = import_outcome(event)
        if found and found[0] in self.pending:
            self.pending.discard(found[0])
            self.outcomes[found[0]] = found[1]


async def _query_stored(collector: _Collector, since: dt.datetime) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        ids = sorted(collector.pending)
        for start in range(0, len(ids), _CHUNK):
            page = await client.read_events(_filter(ids[start : start + _CHUNK], since), limit=50)
            while True:
                for event in page.events:
                    collector.absorb(event)
                if not page.next_page:
                    break
                page = await client.read_events_page(str(page.next_page))


async def await_import_events(
    import_ids: Sequence[str],
    *,
    timeout: float,
    lookback: float = 86400.0,
    requery_interval: float = 5.0,
) -> dict[str, VideoImport]:
    """Outcomes of the imports whose event is seen within ``timeout`` s (the rest are absent).

    Never raises for Prefect trouble: a subscription that cannot start leaves the stored-event
    queries; queries that fail end the wait early, so the caller's polling takes over.
    """
    from prefect.events.clients import get_events_subscriber

    collector = _Collector(list(dict.fromkeys(import_ids)))
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=lookback)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        subscriber: Any = await get_events_subscriber(filter=_filter(None)).__aenter__()
    except Exception as exc:
        logger.warning("No live Prefect event stream (%s); reading stored events only", exc)
        subscriber = None
    try:
        next_query = loop.time()
        while collector.pending and loop.time() < deadline:
            if loop.time() >= next_query:
                try:
                    await _query_stored(collector, since)
                except Exception as exc:
                    logger.warning("Reading stored Prefect events failed (%s); stop waiting", exc)
                    break
                next_query = loop.time() + requery_interval
                continue
            wait = max(0.0, min(deadline, next_query) - loop.time())
            if subscriber is None:
                await asyncio.sleep(wait)
                continue
            try:
                event = await asyncio.wait_for(subscriber.__anext__(), wait)
            except TimeoutError:
                continue
            except StopAsyncIteration:
                subscriber = None
                continue
            except Exception as exc:
                logger.warning("Prefect event stream failed (%s); reading stored events", exc)
                subscriber = None
                continue
            collector.absorb(event)
    finally:
        if subscriber is not None:
            try:
                await subscriber.__aexit__(None, None, None)
            except Exception:  # closing a broken socket must not hide the outcomes
                logger.debug("Closing the event subscriber failed", exc_info=True)
    return collector.outcomes
