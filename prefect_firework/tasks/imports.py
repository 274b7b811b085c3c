"""Import tasks: read an async URL import, and wait for one to finish in a single task.

Polling happens inside one task with its own deadline, not as a task run per poll: every task
run is several state changes on the Prefect API, and thousands of polls would crowd it out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.client.errors import is_retryable
from prefect_firework.errors import ImportFailedError, ImportTimeoutError
from prefect_firework.models import VideoImport
from prefect_firework.tasks._policy import (
    RETRY_DELAYS,
    RETRY_JITTER,
    retry_condition,
    with_rate_limit_wait,
)
from prefect_firework.webhooks.wait import DEFAULT_EVENT_TIMEOUT, await_import_events

__all__ = [
    "ImportFailedError",
    "ImportTimeoutError",
    "get_video_import",
    "poll_video_import",
    "wait_for_video_import",
    "wait_for_video_import_events",
    "wait_for_video_imports",
]

logger = logging.getLogger("prefect_firework.tasks")


@task(
    name="get_video_import",
    cache_policy=NO_CACHE,
    task_run_name="get-import-{import_id}",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_condition,
)
def get_video_import(
    import_id: str, credentials: FireworkCredentials | str | None = None
) -> VideoImport:
    """Read an import job's status once (``running``, ``completed`` or ``errored``).

    Args:
        import_id: The import job's id (``VideoImport.id``, from an async create).
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        The ``VideoImport`` as read; the video is ready only once ``status`` is
        ``completed`` (``video_id`` may appear earlier).

    Raises:
        NotFoundError: No import job has this id (404, not retried).
    """
    client = resolve_credentials(credentials).get_client()
    return with_rate_limit_wait(lambda: client.get_video_import(import_id))


def poll_video_import(
    get: Callable[[], VideoImport],
    *,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> VideoImport:
    """Poll until the import is ``completed``; raise on ``errored`` or at the deadline.

    Transient read failures (429/5xx/transport) are absorbed while the deadline allows: the
    import keeps running on Firework's side whatever happens to one poll.
    """
    deadline = clock() + timeout
    while True:
        try:
            current = get()
        except Exception as exc:
            if not is_retryable(exc) or clock() + poll_interval > deadline:
                raise
            logger.info("Polling import failed transiently (%s); polling again", type(exc).__name__)
        else:
            if current.status == "completed":
                return current
            if current.status == "errored":
                raise ImportFailedError(current)
            if clock() + poll_interval > deadline:
                raise ImportTimeoutError(
                    f"video import {current.id} still {current.status} after {timeout:.0f} s"
                )
        sleep(poll_interval)


@task(
    name="wait_for_video_import",
    cache_policy=NO_CACHE,
    task_run_name="wait-for-import-{import_id}",
)
def wait_for_video_import(
    import_id: str,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    credentials: FireworkCredentials | str | None = None,
) -> VideoImport:
    """Poll an import every ``poll_interval`` s until it finishes (the API asks for 5-10 s).

    A poll that fails transiently (429, 5xx, no response) is polled again while the deadline
    allows: the import keeps running on Firework's side whatever happens to one read.

    Args:
        import_id: The import job's id (``VideoImport.id``, from an async create).
        poll_interval: Seconds between polls.
        timeout: Seconds to wait in all before giving up.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        The completed ``VideoImport``, with its ``video_id``.

    Raises:
        ImportFailedError: The import ended ``errored`` (``video_import`` holds the job).
        ImportTimeoutError: It had not finished within ``timeout`` seconds (it may still).
    """
    client = resolve_credentials(credentials).get_client()
    return poll_video_import(
        lambda: client.get_video_import(import_id), poll_interval=poll_interval, timeout=timeout
    )


@task(
    name="wait_for_video_imports",
    cache_policy=NO_CACHE,
    task_run_name=lambda parameters: f"wait-for-{len(parameters['import_ids'])}-imports",  # type: ignore[arg-type]
)
def wait_for_video_imports(
    import_ids: list[str],
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    credentials: FireworkCredentials | str | None = None,
) -> dict[str, VideoImport | str]:
    """Poll many imports from one loop until each finishes or the deadline passes.

    One task for all of them: a task run per poll would flood the API. Nothing is raised for
    one import: each ends in the mapping, so one failure never hides the others' outcomes.

    Args:
        import_ids: The import jobs' ids; a repeated id is polled once.
        poll_interval: Seconds between rounds (each round reads every unfinished import).
        timeout: Seconds to wait in all; imports not finished by then get an error text.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        ``import id -> final VideoImport`` for finished imports (``completed`` or
        ``errored``) and ``import id -> error text`` for those that could not be read (a
        non-retryable error such as a 404) or did not finish in time.
    """
    client = resolve_credentials(credentials).get_client()
    pending = list(dict.fromkeys(import_ids))
    final: dict[str, VideoImport | str] = {}
    deadline = time.monotonic() + timeout
    while pending:
        still: list[str] = []
        for import_id in pending:
            try:
                current = client.get_video_import(import_id)
            except Exception as exc:
                if not is_retryable(exc):
                    final[import_id] = f"{type(exc).__name__}: {exc}"
                    continue
                still.append(import_id)
                continue
            if current.status in ("completed", "errored"):
                final[import_id] = current
            else:
                still.append(import_id)
        pending = still
        if pending and time.monotonic() + poll_interval > deadline:
            for import_id in pending:
                final[import_id] = f"import {import_id} did not finish within {timeout:.0f} s"
            break
        if pending:
            time.sleep(poll_interval)
    return final


def _log() -> Any:
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:
        return logger


@task(
    name="wait_for_video_import_events",
    cache_policy=NO_CACHE,
    task_run_name=lambda parameters: f"wait-for-{len(parameters['import_ids'])}-import-events",  # type: ignore[arg-type]
)
def wait_for_video_import_events(
    import_ids: list[str],
    event_timeout: float | None = None,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    credentials: FireworkCredentials | str | None = None,
    lookback: float = 86400.0,
    requery_interval: float = 5.0,
) -> dict[str, VideoImport | str]:
    """Wait for imports through Firework's webhook events, then poll what is left.

    The events (``firework.video.created``, ``firework.video.import_failed``, which the
    webhook receiver emits into Prefect) cost no Firework requests; polling is the fallback
    for the imports no event settled, since the receiver may be down or webhooks not set up.

    Args:
        import_ids: The import jobs' ids; a repeated id is waited for once.
        event_timeout: Seconds to wait for events before polling the rest (None:
            ``DEFAULT_EVENT_TIMEOUT``, 10 minutes), never more than ``timeout``.
        poll_interval: Seconds between polling rounds, after the events.
        timeout: Seconds to wait in all, events and polling together.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings; used for the polling only.
        lookback: How far back, in seconds, Prefect's stored events are read (default a
            day), for events that came before the wait began (a rerun's older imports).
        requery_interval: Seconds between reads of Prefect's stored events while waiting.

    Returns:
        The mapping of ``wait_for_video_imports``: import id -> final ``VideoImport`` (from
        its event or a poll) or error text.
    """
    from prefect.utilities.asyncutils import run_coro_as_sync

    ids = list(dict.fromkeys(import_ids))
    started = time.monotonic()
    outcomes: dict[str, VideoImport | str] = dict(
        run_coro_as_sync(
            await_import_events(
                ids,
                timeout=min(
                    DEFAULT_EVENT_TIMEOUT if event_timeout is None else event_timeout, timeout
                ),
                lookback=lookback,
                requery_interval=requery_interval,
            )
        )
        or {}
    )
    rest = [i for i in ids if i not in outcomes]
    _log().info(
        "%d of %d imports finished through webhook events%s",
        len(ids) - len(rest),
        len(ids),
        f"; polling the other {len(rest)}" if rest else "",
    )
    if rest:
        remaining = max(0.0, timeout - (time.monotonic() - started))
        outcomes.update(
            wait_for_video_imports.fn(
                rest, poll_interval=poll_interval, timeout=remaining, credentials=credentials
            )
        )
    return outcomes
