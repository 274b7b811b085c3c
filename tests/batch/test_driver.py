"""The pipeline driver: bounded task runs and rows, failures thrown in, pacing, sleeps, labels."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.task_runners import ThreadPoolTaskRunner

from prefect_firework.batch._driver import (
    Blocking,
    Call,
    Gather,
    Paced,
    Sleep,
    drive,
    labelled,
    run_pipeline,
)

pytestmark = pytest.mark.prefect_server


class Gauge:
    """Counts how many things run at once, and the most ever."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


TASKS = Gauge()


@task(cache_policy=NO_CACHE, task_run_name="work-{i}")
def work(i: int, delay: float = 0.02, fail: bool = False) -> int:
    with TASKS:
        time.sleep(delay)
    if fail:
        raise ValueError(f"work {i} failed")
    return i * 10


def run(pipelines, **kwargs):
    @flow(task_runner=ThreadPoolTaskRunner(max_workers=12))
    def driver_flow():
        return list(drive(pipelines(), on_error=lambda i, e: {"row": i, "error": str(e)}, **kwargs))

    return driver_flow()


def test_task_runs_and_rows_stay_bounded():
    TASKS.peak = 0
    rows = Gauge()

    def pipeline(i):
        with rows:
            single = yield Call(work, {"i": i})
            many = yield Gather([Call(work, {"i": i * 100 + k}) for k in range(4)])
        return {"row": i, "single": single, "many": many}

    results = run(
        lambda: ((i, pipeline(i)) for i in range(20)), max_tasks=3, max_rows=5, pacer=_FreePacer()
    )
    assert sorted(r for r, _ in results) == list(range(20))
    assert all(rec["single"] == i * 10 for i, rec in results)
    assert all(rec["many"] == [(i * 100 + k) * 10 for k in range(4)] for i, rec in results)
    assert TASKS.peak <= 3, TASKS.peak
    assert rows.peak <= 5, rows.peak


def test_failures_are_thrown_into_the_pipeline_after_the_whole_gather():
    seen = []

    def pipeline():
        try:
            yield Gather([Call(work, {"i": k, "fail": k == 1}) for k in range(3)])
        except ValueError as exc:
            seen.append(str(exc))
        value = yield Call(work, {"i": 7})
        return {"row": 0, "value": value}

    def unhandled():
        yield Call(work, {"i": 1, "fail": True})
        return {"row": 1}

    results = dict(
        run(
            lambda: iter([(0, pipeline()), (1, unhandled())]),
            max_tasks=4,
            max_rows=2,
            pacer=_FreePacer(),
        )
    )
    assert seen == ["work 1 failed"]
    assert results[0]["value"] == 70
    assert "work 1 failed" in results[1]["error"]


class _FreePacer:
    def try_acquire(self, channel_id):
        return True

    def release(self, channel_id):
        pass

    def cancel(self, channel_id):
        pass

    def next_free_in(self, channel_id):
        return 0.0


class _OneAtATime(_FreePacer):
    def __init__(self):
        self.busy: set[str] = set()

    def try_acquire(self, channel_id):
        if channel_id in self.busy:
            return False
        self.busy.add(channel_id)
        return True

    def release(self, channel_id):
        self.busy.discard(channel_id)

    def next_free_in(self, channel_id):
        return 0.01


def test_paced_calls_respect_the_pacer_and_sleep_resumes():
    pacer = _OneAtATime()
    order = []

    def pipeline(i):
        yield Sleep(0.05 if i == 0 else 0)
        value = yield Paced("channel", Call(work, {"i": i, "delay": 0.05}))
        order.append(i)
        return {"row": i, "value": value}

    started = time.perf_counter()
    results = run(
        lambda: ((i, pipeline(i)) for i in range(4)), max_tasks=4, max_rows=4, pacer=pacer
    )
    assert sorted(rec["value"] for _, rec in results) == [0, 10, 20, 30]
    assert time.perf_counter() - started >= 4 * 0.05, "one paced call at a time"
    assert order[-1] == 0, "the sleeping row resumed after the others"


def test_blocking_calls_run_off_the_driver_thread_and_overlap():
    """A row waiting on a Blocking call (a ledger fsync) does not stall the others: the calls
    run on helper threads, concurrently, and their value or exception goes into the row."""
    driver_threads: set[int] = set()
    blocking_threads: set[int] = set()
    gauge = Gauge()

    def slow_io(i: int) -> int:
        blocking_threads.add(threading.get_ident())
        with gauge:
            time.sleep(0.1)
        if i == 3:
            raise OSError("disk full")
        return i + 1

    def pipeline(i):
        driver_threads.add(threading.get_ident())
        try:
            got = yield Blocking(slow_io, (i,))
        except OSError as exc:
            return {"row": i, "error": str(exc)}
        value = yield Call(work, {"i": got})
        return {"row": i, "value": value}

    results = dict(
        run(
            lambda: ((i, pipeline(i)) for i in range(6)),
            max_tasks=2,
            max_rows=6,
            pacer=_FreePacer(),
        )
    )
    assert results[3] == {"row": 3, "error": "disk full"}
    assert {i: r["value"] for i, r in results.items() if i != 3} == {
        i: (i + 1) * 10 for i in (0, 1, 2, 4, 5)
    }
    assert gauge.peak > 1, "the blocking calls overlapped"
    assert not driver_threads & blocking_threads, "never on the driver's thread"


def test_run_pipeline_returns_or_raises():
    def ok():
        return (yield Call(work, {"i": 3}))

    def bad():
        yield Call(work, {"i": 3, "fail": True})

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def single():
        value = run_pipeline(ok(), max_tasks=1)
        with pytest.raises(ValueError):
            run_pipeline(bad(), max_tasks=1)
        return value

    assert single() == 30


def test_labelled_task_run_names_say_which_row():
    def pipeline():
        yield Gather([Call(work, {"i": 1}), Call(work, {"i": 2})])
        return {"row": 5}

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def named():
        return list(
            drive(
                iter([(5, labelled("row-5", pipeline()))]),
                max_tasks=2,
                max_rows=1,
                pacer=_FreePacer(),
                on_error=lambda i, e: {},
            )
        )

    state = named(return_state=True)
    assert state.is_completed()

    async def names():
        async with get_client() as client:
            runs = await client.read_task_runs()
            return {r.name for r in runs if r.flow_run_id == state.state_details.flow_run_id}

    # task runs reach the API as events, processed after the flow returns: wait for them
    deadline = time.monotonic() + 15
    got = asyncio.run(names())
    while not {"row-5-work-1", "row-5-work-2"} <= got and time.monotonic() < deadline:
        time.sleep(0.2)
        got = asyncio.run(names())
    assert {"row-5-work-1", "row-5-work-2"} <= got


class _Counting(_OneAtATime):
    def __init__(self):
        super().__init__()
        self.granted = 0
        self.cancelled = 0

    def try_acquire(self, channel_id):
        granted = super().try_acquire(channel_id)
        self.granted += granted
        return granted

    def cancel(self, channel_id):
        self.cancelled += 1
        self.busy.discard(channel_id)


def test_paced_before_runs_once_the_slot_is_granted_and_a_failure_gives_it_back():
    """The ledger's "creating" record (``before``) is written only when the row's slot was
    granted; if it fails, the task is never submitted and the slot is cancelled, not spent."""
    pacer = _Counting()
    marks: list[tuple[int, int]] = []
    outcomes: list[tuple[str, BaseException | None]] = []

    def mark(i: int) -> None:
        marks.append((i, pacer.granted))
        if i == 2:
            raise OSError("disk full")

    def pipeline(i):
        try:
            value = yield Paced("channel", Call(work, {"i": i}), before=Blocking(mark, (i,)))
        except OSError as exc:
            return {"row": i, "error": str(exc)}
        return {"row": i, "value": value}

    results = dict(
        run(
            lambda: ((i, pipeline(i)) for i in range(4)),
            max_tasks=4,
            max_rows=4,
            pacer=pacer,
            on_paced=lambda channel, failure: outcomes.append((channel, failure)),
        )
    )
    assert results[2] == {"row": 2, "error": "disk full"}
    assert {i: results[i]["value"] for i in (0, 1, 3)} == {0: 0, 1: 10, 3: 30}
    # one slot at a time: each mark happened after its own grant, never ahead of it
    assert [granted for _, granted in sorted(marks, key=lambda m: m[1])] == [1, 2, 3, 4]
    assert pacer.cancelled == 1, "the failed mark's slot was given back unused"
    assert len(outcomes) == 3 and all(f is None for _, f in outcomes), "3 tasks ran"


@dataclasses.dataclass
class Echo:
    """A task result as ours are (small models): weak-referenceable, so Prefect's links to
    it are checked by identity, not only by ``id()``."""

    tag: str
    upstream: Echo | None = None


@task(cache_policy=NO_CACHE, task_run_name="echo-{tag}")
def echo(tag: str, value: Echo | None = None) -> Echo:
    return Echo(tag, value)


def test_prefect_records_of_a_row_are_released_when_it_ends_and_its_edges_kept():
    """Prefect keeps, per task run, a cancel event in the thread pool runner and a link from
    the result to its state in the flow run (for the UI's input edges), for the whole flow
    run: thousands of rows grew the flow's memory linearly. The driver releases both once a
    row ended, after its tasks used the links."""
    from prefect.context import FlowRunContext

    def pipeline(i):
        first = yield Call(echo, {"tag": f"a{i}"})
        second = yield Call(echo, {"tag": f"b{i}", "value": first})
        return {"row": i, "second": second}

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def driver_flow():
        rows = list(
            drive(
                ((i, pipeline(i)) for i in range(30)),
                on_error=lambda i, e: {"row": i, "error": str(e)},
                max_tasks=4,
                max_rows=4,
                pacer=_FreePacer(),
            )
        )
        context = FlowRunContext.get()
        held = (len(context.run_results), len(context.task_runner._cancel_events))
        return rows, held, context.flow_run.id

    rows, (links, events), flow_run_id = driver_flow()
    assert sorted(r for r, _ in rows) == list(range(30))
    assert all(rec["second"].upstream.tag == f"a{i}" for i, rec in rows)
    assert links == 0 and events == 0, (links, events)  # 60 of each without the release

    async def inputs():
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        return {r.name: r for r in runs}

    # the server records task runs from their events, asynchronously: wait for all 60
    deadline = time.monotonic() + 60
    while len(by_name := asyncio.run(inputs())) < 60 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(by_name) == 60, sorted(by_name)
    for i in range(30):  # the UI still draws each row's edge from its first task to its second
        upstream = {x.id for x in by_name[f"echo-b{i}"].task_inputs["value"]}
        assert upstream == {by_name[f"echo-a{i}"].id}, i
