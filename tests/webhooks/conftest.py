"""Webhook tests: a Prefect test server for the session, and an in-memory events worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.events.clients import AssertingEventsClient
from prefect.events.worker import EventsWorker
from webhook_support import EventLog


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[EventLog]:
    """Every Prefect event emitted during the test, captured in memory (nothing reaches the API).

    The same arrangement as Prefect's own ``asserting_events_worker`` fixture: ``emit_event``
    keeps working unchanged, only its worker's client records instead of sending.
    """
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    try:
        yield EventLog(worker)
    finally:
        worker.drain()
