"""Run many row pipelines over one bounded task runner, from the flow's own thread.

A row is a generator yielding ``Call``, ``Gather``, ``Paced`` or ``Blocking``; the
:class:`Driver` submits the task runs (at most ``max_tasks`` in flight, ``max_rows`` rows
admitted), waits on every future and resumes each row with its result. docs/ARCHITECTURE.md
("The driver").
"""

from __future__ import annotations

import collections
import concurrent.futures
import copy
import heapq
import itertools
import queue as queue_module
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.utilities.collections import visit_collection

__all__ = [
    "NO_PACING",
    "Blocking",
    "Call",
    "Driver",
    "Gather",
    "Paced",
    "PacedOutcome",
    "Pipeline",
    "Sleep",
    "SlotPacer",
    "drive",
    "labelled",
    "run_pipeline",
]


@dataclass
class Call:
    """One task run: ``task.submit(**kwargs)``; ``label`` prefixes its run name (the row)."""

    task: Any
    kwargs: dict[str, Any]
    label: str | None = None


@dataclass
class Gather:
    """Several task runs; the pipeline resumes with their results in order once all finish,
    or with the first failure thrown in (after every one of them has finished)."""

    calls: list[Call]


@dataclass
class Paced:
    """A task run that may start only when the channel's create budget has a free slot.

    ``before`` (a blocking call, e.g. the ledger's "creating" record) runs once the slot is
    granted and before the task is submitted: a row is marked as creating only when its
    request is about to leave. If ``before`` raises, the slot is given back unused and the
    exception goes into the pipeline; the task is never submitted.
    """

    channel_id: str
    call: Call
    before: Blocking | None = None


@dataclass
class Sleep:
    """Resume the pipeline after ``seconds`` without holding a worker thread (e.g. to try a
    lock again that another run holds)."""

    seconds: float


@dataclass
class Blocking:
    """A plain function call that may block on I/O (``fn(*args, **kwargs)``), run on one of
    the driver's helper threads rather than as a task run: local bookkeeping such as ledger
    reads and fsync'd writes, which Prefect need not track and the scheduling thread must not
    wait for. Never for requests to Firework or S3 (those are task runs, with retries)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


Pipeline = Generator[Call | Gather | Paced | Sleep | Blocking, Any, dict[str, Any]]


class SlotPacer(Protocol):
    """What the driver needs of a pacer (``prefect_firework.batch._pacing`` has the real ones)."""

    def try_acquire(self, channel_id: str) -> bool: ...
    def release(self, channel_id: str) -> None: ...
    def cancel(self, channel_id: str) -> None: ...
    def next_free_in(self, channel_id: str) -> float: ...


#: called with (channel id, outcome) after each paced task run: its exception, or None
PacedOutcome = Callable[[str, BaseException | None], None]


class _NoPacing:
    """For single-video flows: one create needs no budgeting."""

    def try_acquire(self, channel_id: str) -> bool:
        return True

    def release(self, channel_id: str) -> None:
        return None

    def cancel(self, channel_id: str) -> None:
        return None

    def next_free_in(self, channel_id: str) -> float:
        return 0.0


NO_PACING: SlotPacer = _NoPacing()


@dataclass
class _Row:
    index: int
    pipeline: Pipeline
    results: list[Any] = field(default_factory=list)
    errors: list[BaseException | None] = field(default_factory=list)
    waiting: int = 0
    single: bool = True
    #: ``id()`` of each task result the row received: Prefect's flow-run records of them
    #: are released when the row ends
    result_ids: list[int] = field(default_factory=list)


@dataclass
class _Pending:
    row: _Row
    slot: int
    call: Call
    channel_id: str | None = None
    before: Blocking | None = None


class Driver:
    """Runs row pipelines to their ends; its state is the rows and futures in flight.

    One instance per batch. :meth:`run` yields ``(row index, result)`` as rows finish, in
    completion order, and returns once every row ended and every call it started finished
    (none is orphaned). All methods run on the thread that iterates :meth:`run`; done
    futures reach it through a queue.
    """

    def __init__(
        self,
        rows: Iterable[tuple[int, Pipeline]],
        *,
        max_tasks: int,
        max_rows: int,
        pacer: SlotPacer,
        on_error: Callable[[int, BaseException], Any],
        on_paced: PacedOutcome | None = None,
    ) -> None:
        self._source = iter(rows)
        self._max_tasks = max_tasks
        self._max_rows = max(1, max_rows)
        self._pacer = pacer
        self._on_error = on_error
        self._on_paced = on_paced
        self._active = 0
        self._queue: collections.deque[_Pending] = collections.deque()
        self._paced: collections.deque[_Pending] = collections.deque()
        self._in_flight: dict[PrefectFuture[Any], _Pending] = {}
        self._finished: list[tuple[int, Any]] = []
        self._done: queue_module.SimpleQueue[Any] = queue_module.SimpleQueue()
        self._sleeping: list[tuple[float, int, _Row]] = []
        self._tie = itertools.count()
        # helper threads for Blocking calls: at most one per admitted row (a row waits on one
        # thing at a time); created on first use (URL-only batches may never need one)
        self._helpers: concurrent.futures.ThreadPoolExecutor | None = None
        self._blocking: dict[concurrent.futures.Future[Any], _Row] = {}
        self._preparing: dict[concurrent.futures.Future[Any], _Pending] = {}

    # ------------------------------------------------------------------ the loop

    def run(self) -> Iterator[tuple[int, Any]]:
        try:
            self._admit()
            while self._active or self._finished:
                yield from self._take_finished()
                self._wake_due()
                self._admit()
                self._submit_ready()
                if self._finished:
                    continue
                if not self._wait():
                    break
            yield from self._take_finished()
        finally:
            if self._helpers is not None:  # waits for any call still running
                self._helpers.shutdown(wait=True)

    def _take_finished(self) -> list[tuple[int, Any]]:
        finished, self._finished = self._finished, []
        return finished

    def _wait(self) -> bool:
        """Wait for the next thing to happen; False when nothing ever will."""
        if not (self._in_flight or self._blocking or self._preparing):
            timer = self._next_timer()
            if timer is None:
                if self._active:
                    raise RuntimeError(
                        f"{self._active} row pipeline(s) stalled with nothing to wait on"
                    )
                return False
            time.sleep(timer)
            return True
        try:
            done = self._done.get(timeout=self._next_timer())
        except queue_module.Empty:
            return True
        self._complete(done)
        return True

    # ------------------------------------------------------------------ rows

    def _admit(self) -> None:
        while self._active < self._max_rows:
            try:
                index, pipeline = next(self._source)
            except StopIteration:
                return
            self._active += 1
            self._advance(_Row(index, pipeline))

    def _advance(self, row: _Row, value: Any = None, error: BaseException | None = None) -> None:
        """Resume ``row`` with a value (or throw an error in) and queue what it asks next."""
        try:
            request = row.pipeline.throw(error) if error else row.pipeline.send(value)
        except StopIteration as stop:
            self._end(row, stop.value)
            return
        except Exception as exc:  # the pipeline did not handle it: the row failed
            self._end(row, self._on_error(row.index, exc))
            return
        if isinstance(request, Call):
            _expect(row, 1, single=True)
            self._queue.append(_Pending(row, 0, request))
        elif isinstance(request, Gather):
            if not request.calls:
                self._advance(row, [])
                return
            _expect(row, len(request.calls), single=False)
            self._queue.extend(_Pending(row, i, c) for i, c in enumerate(request.calls))
        elif isinstance(request, Sleep):
            due = time.monotonic() + request.seconds
            heapq.heappush(self._sleeping, (due, next(self._tie), row))
        elif isinstance(request, Paced):
            _expect(row, 1, single=True)
            self._paced.append(_Pending(row, 0, request.call, request.channel_id, request.before))
        elif isinstance(request, Blocking):
            self._blocking[self._on_helper(request)] = row
        else:
            raise TypeError(f"a pipeline yielded {request!r}")

    def _end(self, row: _Row, result: Any) -> None:
        self._active -= 1
        self._finished.append((row.index, result))
        _forget_results(row.result_ids)

    # ------------------------------------------------------------------ submitting

    def _on_helper(self, request: Blocking) -> concurrent.futures.Future[Any]:
        if self._helpers is None:
            self._helpers = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_rows, thread_name_prefix="firework-driver"
            )
        future = self._helpers.submit(request.fn, *request.args, **request.kwargs)
        future.add_done_callback(self._done.put)
        return future

    def _start(self, item: _Pending) -> None:
        task = item.call.task
        if item.call.label:
            task = _labelled_task(task, item.call.label)
        future = task.submit(**item.call.kwargs)
        self._in_flight[future] = item
        future.add_done_callback(self._done.put)

    def _submit_ready(self) -> None:
        # creates first: they are the bottleneck, and their slot is already reserved
        for _ in range(len(self._paced)):
            if len(self._in_flight) + len(self._preparing) >= self._max_tasks:
                return
            item = self._paced.popleft()
            if not self._pacer.try_acquire(item.channel_id or ""):
                self._paced.append(item)
            elif item.before is not None:
                self._preparing[self._on_helper(item.before)] = item
            else:
                self._start(item)
        while self._queue and len(self._in_flight) < self._max_tasks:
            self._start(self._queue.popleft())

    # ------------------------------------------------------------------ completing

    def _complete(self, future: Any) -> None:
        if future in self._preparing:
            self._prepared(future)
        elif future in self._blocking:
            row = self._blocking.pop(future)
            error = future.exception()
            self._advance(row, None if error else future.result(), error)
        else:
            self._task_done(future)

    def _prepared(self, future: concurrent.futures.Future[Any]) -> None:
        item = self._preparing.pop(future)
        error = future.exception()
        if error is None:
            self._start(item)
            return
        self._pacer.cancel(item.channel_id or "")  # nothing was sent: the slot was not used
        item.row.waiting = 0
        self._advance(item.row, error=error)

    def _task_done(self, future: PrefectFuture[Any]) -> None:
        item = self._in_flight.pop(future)
        future.wait()  # already done: this only settles its final state
        if item.channel_id is not None:
            self._pacer.release(item.channel_id)
        state = future.state
        row = item.row
        failure: BaseException | None = None
        _forget_cancel_event(future)
        if state.is_completed():
            row.results[item.slot] = result = future.result()
            row.result_ids.extend(_linked_ids(result))
        else:
            exc = state.result(raise_on_failure=False)
            if not isinstance(exc, BaseException):
                exc = RuntimeError(f"task ended {state.type.value}: {state.message}")
            row.errors[item.slot] = failure = exc
        if item.channel_id is not None and self._on_paced is not None:
            self._on_paced(item.channel_id, failure)
        row.waiting -= 1
        if row.waiting == 0:
            first = next((e for e in row.errors if e is not None), None)
            if first is not None:
                self._advance(row, error=first)
            else:
                self._advance(row, row.results[0] if row.single else list(row.results))

    # ------------------------------------------------------------------ timers

    def _wake_due(self) -> None:
        now = time.monotonic()
        while self._sleeping and self._sleeping[0][0] <= now:
            self._advance(heapq.heappop(self._sleeping)[2])

    def _next_timer(self) -> float | None:
        waits = [self._pacer.next_free_in(p.channel_id or "") for p in self._paced]
        if self._sleeping:
            waits.append(self._sleeping[0][0] - time.monotonic())
        return max(0.01, min(waits)) if waits else None


# What Prefect keeps per task run for the whole flow run, released once we are done with it, so
# a batch's memory does not grow with its rows (docs/ARCHITECTURE.md, "Memory per row"). Both
# are private to Prefect 3.9 and looked up defensively: if they move, nothing breaks, the
# memory is just not released.


def _forget_cancel_event(future: PrefectFuture[Any]) -> None:
    """Drop the cancel event ``ThreadPoolTaskRunner`` keeps per submitted task run (it never
    removes them): the task run has ended, there is nothing left to cancel."""
    context = FlowRunContext.get()
    events = getattr(getattr(context, "task_runner", None), "_cancel_events", None)
    if isinstance(events, dict):
        events.pop(future.task_run_id, None)


def _linked_ids(result: Any) -> list[int]:
    """The ``id()`` of what Prefect links to a task result's state: the result and its direct
    members (it walks them the same way, one level deep)."""
    ids: list[int] = []

    def note(member: Any) -> Any:
        ids.append(id(member))
        return member

    visit_collection(result, visit_fn=note, max_depth=1)
    return ids


def _forget_results(result_ids: list[int]) -> None:
    """Drop the flow run's links from a row's task results to their states (what Prefect
    uses to draw a later task's inputs in the UI); once the row ended, no task of it is left
    to submit."""
    context = FlowRunContext.get()
    links = getattr(context, "run_results", None)
    if isinstance(links, dict):
        for result_id in result_ids:
            links.pop(result_id, None)
    result_ids.clear()


def drive(
    rows: Iterable[tuple[int, Pipeline]],
    *,
    max_tasks: int,
    max_rows: int,
    pacer: SlotPacer,
    on_error: Callable[[int, BaseException], Any],
    on_paced: PacedOutcome | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(row index, result)`` as rows finish, in completion order (see :class:`Driver`).

    ``on_paced`` hears how each paced task run ended (the batch flow maps a 429 to a pause
    of the channel's pacer there: the driver knows no API errors).
    """
    return Driver(
        rows,
        max_tasks=max_tasks,
        max_rows=max_rows,
        pacer=pacer,
        on_error=on_error,
        on_paced=on_paced,
    ).run()


class _RowRunName:
    """A task run name prefixed with the row's label (``row-7-upload-part-3/12``).

    A module-level callable rather than a closure: Dask and Ray pickle the task, run name
    included, to run it in another process.
    """

    def __init__(self, label: str, original: Any, task_name: str) -> None:
        self.label = label
        self.original = original
        self.task_name = task_name

    def __call__(self, parameters: dict[str, Any]) -> str:
        original = self.original
        if callable(original):
            try:
                base = original(parameters=parameters)
            except TypeError:
                base = original()
        elif isinstance(original, str):
            base = original.format(**parameters)
        else:
            base = self.task_name
        return f"{self.label}-{base}"


def _labelled_task(task: Any, label: str) -> Any:
    """``task`` named for the row that submits it: a shallow copy with one attribute changed.

    ``Task.with_options`` would re-read the task's source code (1-5 ms of the driver thread's
    CPU per task run, half of it in bench/orchestration.py); the copy costs microseconds and
    keeps every other option as it is at submit time.
    """
    labelled_task = copy.copy(task)
    labelled_task.task_run_name = _RowRunName(label, task.task_run_name, task.name)
    return labelled_task


def labelled(label: str, pipeline: Pipeline) -> Pipeline:
    """Run ``pipeline``, labelling every task run it asks for (which row it belongs to)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = pipeline.throw(error) if error is not None else pipeline.send(value)
        except StopIteration as stop:
            return stop.value
        calls = (
            request.calls
            if isinstance(request, Gather)
            else [request.call]
            if isinstance(request, Paced)
            else [request]
            if isinstance(request, Call)
            else []
        )
        for call in calls:
            call.label = label
        try:
            value, error = (yield request), None
        except Exception as exc:
            value, error = None, exc


def _expect(row: _Row, count: int, *, single: bool) -> None:
    row.results = [None] * count
    row.errors = [None] * count
    row.waiting = count
    row.single = single


def run_pipeline(pipeline: Pipeline, *, max_tasks: int, pacer: SlotPacer = NO_PACING) -> Any:
    """Run one pipeline to its end; return its value or raise its exception."""
    failure: list[BaseException] = []

    def keep(index: int, exc: BaseException) -> dict[str, Any]:
        failure.append(exc)
        return {}

    results = list(
        drive([(0, pipeline)], max_tasks=max_tasks, max_rows=1, pacer=pacer, on_error=keep)
    )
    if failure:
        raise failure[0]
    return results[0][1]
