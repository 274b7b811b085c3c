"""The idempotency ledger: entries in Prefect storage, per-key locks for threads and processes."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from batch_support import claim_in_child, exit_while_holding_in_child, hold_forever_in_child
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.locking.filesystem import FileSystemLockManager
from prefect.locking.protocol import LockManager

from prefect_firework.batch._ledger import (
    Ledger,
    LedgerEntry,
    LedgerError,
    LedgerLockManager,
    LedgerLockTimeout,
    key_digest,
    make_holder,
    scrub,
)

WEIRD_KEYS = [
    "simple",
    "auto-" + "f" * 64,
    "with/slash\\and:colon*?<>|",
    "dots.in.key",
    ".",
    "..",
    "../../etc/passwd",
    "ünïcødé ✓ 🎬",
    "k" * 5000,
    " spaced key ",
]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "store")


def entry(key: str, **fields: object) -> LedgerEntry:
    return LedgerEntry(key=key, status=fields.pop("status", "created"), **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- entries


def test_put_get_round_trip_for_any_key(ledger: Ledger, tmp_path: Path) -> None:
    for key in WEIRD_KEYS:
        assert ledger.get(key) is None
        ledger.put(entry(key, video_id="v", s3_key="uploads/x.mp4", upload_id="u1"))
        got = ledger.get(key)
        assert got is not None and (got.key, got.video_id, got.upload_id) == (key, "v", "u1")
    files = sorted((tmp_path / "store" / "prefect-firework-ledger" / "entries").iterdir())
    assert [f.name for f in files] == sorted(f"{key_digest(k)}.json" for k in WEIRD_KEYS)
    assert not list((tmp_path / "store").rglob("*.tmp"))
    assert ledger.local_directory == (tmp_path / "store" / "prefect-firework-ledger").resolve()


def test_put_replaces_and_updated_at_is_utc(ledger: Ledger) -> None:
    ledger.put(entry("k", status="creating"))
    naive = datetime(2025, 1, 2, 3, 4, 5)
    ledger.put(entry("k", status="imported", import_id="imp", video_id="v", updated_at=naive))
    got = ledger.get("k")
    assert got is not None and got.status == "imported" and got.import_id == "imp"
    assert got.updated_at == naive.replace(tzinfo=timezone.utc)
    assert LedgerEntry(key="x", status="failed").updated_at.tzinfo is not None
    with pytest.raises(ValueError):
        LedgerEntry(key="x", status="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LedgerEntry(key="", status="created")


def test_corrupt_or_foreign_entries_are_errors_not_missing(ledger: Ledger) -> None:
    ledger.put(entry("k"))
    path = ledger.local_directory / "entries" / f"{key_digest('k')}.json"  # type: ignore[operator]
    path.write_text("{not json")
    with pytest.raises(LedgerError, match="corrupt ledger entry"):
        ledger.get("k")
    path.write_text(entry("other").model_dump_json())
    with pytest.raises(LedgerError, match="holds key 'other'"):
        ledger.get("k")


def test_readers_never_see_half_an_entry(ledger: Ledger) -> None:
    stop = threading.Event()
    problems: list[BaseException] = []

    def write() -> None:
        for index in range(150):
            ledger.put(entry("busy", error="x" * (1 + index * 13 % 1900), video_id=str(index)))
        stop.set()

    def read() -> None:
        while not stop.is_set():
            try:
                ledger.get("busy")
            except BaseException as exc:  # pragma: no cover - the failure being tested
                problems.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert problems == []


def test_secrets_are_scrubbed_from_errors() -> None:
    error = (
        "PUT https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc123&X-Amz-Credential=AKIA "
        "failed; Authorization: Bearer eyJhbGciOi.payload.sig; source s3://AKIAXX:SeCrEt@bkt/k; "
        'body {"client_secret": "shh", "policy": "eyJwb2xpY3k"} X-Amz-Security-Token=tok'
    )
    scrubbed = LedgerEntry(key="k", status="failed", error=error).error
    assert scrubbed is not None
    for secret in ("abc123", "AKIA", "eyJhbGciOi", "SeCrEt", "shh", "eyJwb2xpY3k", "=tok"):
        assert secret not in scrubbed, (secret, scrubbed)
    assert "https://bucket.s3.amazonaws.com/k?[REDACTED]" in scrubbed
    assert len(scrub("e" * 10_000)) == 2000
    assert scrub("plain error: 404 not found") == "plain error: 404 not found"


# ---------------------------------------------------------------------- storage choices


def test_storage_spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for storage in (
        str(tmp_path / "abs"),
        "./rel",
        f"file://{tmp_path / 'uri'}",
        tmp_path / "path",
        LocalFileSystem(basepath=str(tmp_path / "block")),
    ):
        ledger = Ledger(storage, namespace="team/nightly")
        ledger.put(entry("k"))
        assert ledger.get("k") is not None
        assert ledger.lock_directory == ledger.local_directory / "locks"  # type: ignore[operator]
    assert (tmp_path / "rel" / "team" / "nightly" / "entries").is_dir()

    default = LocalFileSystem(basepath=str(tmp_path / "default"))
    monkeypatch.setattr("prefect.results.get_default_result_storage", lambda: default)
    assert Ledger().local_directory == (tmp_path / "default" / "prefect-firework-ledger")

    loaded: list[str] = []
    remote = RemoteFileSystem(basepath="memory://slug-ledger")
    monkeypatch.setattr(
        "prefect.results.resolve_result_storage", lambda slug: loaded.append(slug) or remote
    )
    slug_ledger = Ledger("s3-bucket/ledger")
    assert loaded == ["s3-bucket/ledger"] and slug_ledger.local_directory is None

    for bad in ("", "../up", "a//b", "sp ace"):
        with pytest.raises(ValueError, match="namespace"):
            Ledger(tmp_path, namespace=bad)
    with pytest.raises(TypeError):
        Ledger(42)  # type: ignore[arg-type]


def test_remote_storage_block(tmp_path: Path) -> None:
    ledger = Ledger(RemoteFileSystem(basepath="memory://ledger-tests"), namespace="remote")
    assert ledger.get("k") is None  # the block's "no such file" is "no entry"
    ledger.put(entry("k", video_id="v"))
    got = ledger.get("k")
    assert got is not None and got.video_id == "v"
    assert ledger.local_directory is None
    lock_directory = ledger.lock_directory
    assert lock_directory is not None and lock_directory.parts[-3:] == (
        "prefect-firework",
        "locks",
        "remote",
    )
    with ledger.hold("k", timeout=5):
        assert (lock_directory / f"{key_digest('k')}.lock").exists()
    clone = pickle.loads(pickle.dumps(ledger))
    got = clone.get("k")
    assert got is not None and got.video_id == "v"


def test_read_errors_other_than_not_found_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(self: RemoteFileSystem, path: str) -> bytes:
        raise ConnectionError("S3 is down")

    monkeypatch.setattr(RemoteFileSystem, "read_path", down)
    ledger = Ledger(RemoteFileSystem(basepath="memory://broken"))
    with pytest.raises(LedgerError, match="S3 is down"):
        ledger.get("k")


# ---------------------------------------------------------------------- locks in one process


def overlapping(intervals: list[tuple[float, float]]) -> bool:
    ordered = sorted(intervals)
    return any(b[0] < a[1] for a, b in itertools.pairwise(ordered))


def test_hold_serializes_threads_on_a_key_and_not_across_keys(ledger: Ledger) -> None:
    spans: dict[str, list[tuple[float, float]]] = {"a.b": [], "a.c": []}
    lock = threading.Lock()

    def work(key: str) -> None:
        with ledger.hold(key, timeout=20):
            start = time.monotonic()
            time.sleep(0.05)
            end = time.monotonic()
        with lock:
            spans[key].append((start, end))

    threads = [threading.Thread(target=work, args=(key,)) for key in ["a.b", "a.c"] * 5]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(spans["a.b"]) == len(spans["a.c"]) == 5
    assert not overlapping(spans["a.b"]) and not overlapping(spans["a.c"])
    # the two keys ran side by side ("a.b" and "a.c" share a stem: hashed, they do not collide)
    assert overlapping(spans["a.b"] + spans["a.c"])
    assert not list(ledger.lock_directory.glob("*.lock"))  # type: ignore[union-attr]


def test_hold_times_out_is_not_reentrant_and_releases_on_error(ledger: Ledger) -> None:
    entered = threading.Event()
    leave = threading.Event()

    def holder() -> None:
        with ledger.hold("k"):
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    entered.wait(10)
    began = time.monotonic()
    timeout = pytest.raises(LedgerLockTimeout, match=r"could not hold ledger key 'k' within 0.2 s")
    with timeout, ledger.hold("k", timeout=0.2):
        pass  # pragma: no cover
    assert 0.2 <= time.monotonic() - began < 2
    leave.set()
    thread.join(10)

    with ledger.hold("k"):
        with pytest.raises(RuntimeError, match="already held by this thread"), ledger.hold("k"):
            pass  # pragma: no cover
        with ledger.hold("other"):  # other keys are fine
            pass
    with pytest.raises(ZeroDivisionError), ledger.hold("k"):
        _ = 1 / 0
    with ledger.hold("k", timeout=0.5):  # released despite the error
        pass


class _CallerLocks:
    """A caller's in-memory ``LockManager``. Not Prefect 3.9's ``MemoryLockManager``: its
    release deletes the key's entry, and a waiter that then wins the old lock re-inserts it
    over a newcomer's fresh one, so under load one key can have two holders."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holders: dict[str, str] = {}

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        with self._cond:
            while self._holders.get(key, holder) != holder:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self._holders[key] = holder
            return True

    async def aacquire_lock(self, key: str, holder: str, **kwargs: float | None) -> bool:
        return self.acquire_lock(key, holder, **kwargs)

    def release_lock(self, key: str, holder: str) -> None:
        with self._cond:
            if self._holders.get(key) != holder:
                raise ValueError(f"{holder} does not hold {key}")
            del self._holders[key]
            self._cond.notify_all()

    def is_locked(self, key: str) -> bool:
        return key in self._holders

    def is_lock_holder(self, key: str, holder: str) -> bool:
        return self._holders.get(key) == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: key not in self._holders, timeout)

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return self.wait_for_lock(key, timeout)


def test_hold_with_a_caller_lock_manager(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, lock_manager=_CallerLocks())  # type: ignore[arg-type]
    assert ledger.lock_directory is None
    order: list[str] = []

    def work(name: str) -> None:
        with ledger.hold("shared", timeout=10):
            order.append(f"{name}-in")
            time.sleep(0.05)
            order.append(f"{name}-out")

    threads = [threading.Thread(target=work, args=(n,)) for n in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert all(order[i][:1] == order[i + 1][:1] for i in range(0, 6, 2))


def test_lock_manager_survives_the_race_that_breaks_prefects(tmp_path: Path) -> None:
    """Prefect 3.9's FileSystemLockManager creates a lock file empty and then fills it: a
    contender reading in between raises ``ValueError: EOF while parsing``. Ours never does."""
    inside = [0]
    problems: list[str] = []

    def hammer(index: int) -> None:
        manager = LedgerLockManager(tmp_path / "locks")  # one manager per "process"
        for round_ in range(60):
            holder = f"h{index}-{round_}"
            try:
                assert manager.acquire_lock("key", holder, acquire_timeout=10)
            except Exception as exc:  # pragma: no cover - the failure being tested
                problems.append(repr(exc))
                continue
            inside[0] += 1
            if inside[0] != 1:  # pragma: no cover
                problems.append("two holders at once")
            inside[0] -= 1
            manager.release_lock("key", holder)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert problems == []
    # Prefect's protocol, by composition: no private member of Prefect's manager is used
    assert isinstance(LedgerLockManager(tmp_path / 'x'), LockManager)
    assert not issubclass(LedgerLockManager, FileSystemLockManager)


def test_stale_and_foreign_locks(tmp_path: Path) -> None:
    manager = LedgerLockManager(tmp_path / "locks")
    manager.empty_lock_grace = 0.2
    ledger = Ledger(tmp_path, lock_manager=manager)
    lock = tmp_path / "locks" / f"{key_digest('k')}.lock"
    lock.parent.mkdir(parents=True)

    # a holder from a process that no longer exists on this host: broken at once
    dead = make_holder().split("|")
    dead[2] = str(2**22 + 12345)  # above the default pid_max: no such process
    lock.write_text(json.dumps({"holder": "|".join(dead), "expiration": None}))
    with ledger.hold("k", timeout=2):
        pass

    # a holder we cannot judge (another host, or Prefect's own format): never broken
    for holder in ("prefect-firework|other-host|1|0|1|x", "host:123:MainThread:140"):
        lock.write_text(json.dumps({"holder": holder, "expiration": None}))
        with pytest.raises(LedgerLockTimeout), ledger.hold("k", timeout=0.3):
            pass  # pragma: no cover
    # a half-written lock file: waited for, broken only once older than the grace period
    lock.write_text("")
    with ledger.hold("k", timeout=3):
        pass
    assert not lock.exists()


# ---------------------------------------------------------------------- pickling, processes


def test_ledger_pickles_without_its_runtime_state(ledger: Ledger) -> None:
    ledger.put(entry("k"))
    with ledger.hold("k"):
        clone = pickle.loads(pickle.dumps(ledger))
    assert clone.get("k") is not None
    assert clone.local_directory == ledger.local_directory
    with clone.hold("k", timeout=1):
        pass
    assert "Ledger(" in repr(clone)


@pytest.fixture
def spawn() -> Iterator[multiprocessing.context.SpawnContext]:
    context = multiprocessing.get_context("spawn")
    yield context


def test_two_processes_contending_for_a_key_serialize(
    ledger: Ledger, tmp_path: Path, spawn: multiprocessing.context.SpawnContext
) -> None:
    outs = [tmp_path / f"out{i}.json" for i in range(2)]
    processes = [
        spawn.Process(target=claim_in_child, args=(ledger, "shared-key", 0.4, str(out)))
        for out in outs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    results = [json.loads(out.read_text()) for out in outs]
    assert sorted(r["created"] for r in results) == [False, True]  # one video, not two
    assert not overlapping([(r["start"], r["end"]) for r in results])
    got = ledger.get("shared-key")
    creator = next(r for r in results if r["created"])
    assert got is not None and got.video_id == f"video-{creator['pid']}"


def test_a_killed_holder_does_not_block_the_rerun(
    ledger: Ledger, tmp_path: Path, spawn: multiprocessing.context.SpawnContext
) -> None:
    ready = tmp_path / "ready"
    holder = spawn.Process(target=hold_forever_in_child, args=(ledger, "k", str(ready)))
    crasher = spawn.Process(target=exit_while_holding_in_child, args=(ledger, "k2"))
    holder.start()
    crasher.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        with pytest.raises(LedgerLockTimeout), ledger.hold("k", timeout=0.3):
            pass  # pragma: no cover  (alive: its lock is respected)
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)  # not joined yet: a zombie still has its pid
        time.sleep(0.2)
        with ledger.hold("k", timeout=5):
            pass
        crasher.join(60)
        assert crasher.exitcode == 3
        assert (ledger.lock_directory / f"{key_digest('k2')}.lock").exists()  # type: ignore[operator]
        with ledger.hold("k2", timeout=5):  # left by os._exit: broken, taken
            pass
    finally:
        holder.kill()
        holder.join(10)


@pytest.mark.prefect_server
def test_hold_from_thread_pool_task_runner_workers(ledger: Ledger) -> None:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.task_runners import ThreadPoolTaskRunner

    @task(cache_policy=NO_CACHE)
    def claim(ledger: Ledger, key: str) -> str:
        with ledger.hold(key, timeout=30):
            if ledger.get(key) is not None:
                return "skipped"
            time.sleep(0.05)
            ledger.put(LedgerEntry(key=key, status="created", video_id=f"v-{key}"))
            return "created"

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=6))
    def batch() -> list[str]:
        futures = [claim.submit(ledger, key) for key in ["x", "y", "x", "x", "y", "z", "x"]]
        return [future.result() for future in futures]

    outcomes = batch()
    assert sorted(outcomes) == ["created"] * 3 + ["skipped"] * 4


# ---------------------------------------------------------------------- leases


def test_a_lease_outlives_its_length_while_the_holder_refreshes_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, lock_lease=0.6)  # refreshed every 0.2 s
    other = Ledger(tmp_path, lock_lease=0.6)  # another run on the same storage
    assert ledger.try_acquire("k")
    time.sleep(1.5)  # more than twice the lease
    assert not other.try_acquire("k"), "a live holder's lease never runs out"
    info = other.lock_info("k")
    assert info is not None and "pid" in info.describe() and "lease until" in info.describe()
    ledger.release("k")
    assert other.try_acquire("k")
    other.release("k")


def test_a_lease_nobody_refreshes_is_broken_by_any_contender(tmp_path: Path) -> None:
    manager = LedgerLockManager(tmp_path / "locks")
    # a holder on another host, which this host cannot check: only its lease tells
    assert manager.acquire_lock("k", "prefect-firework|far-away|1|0|1|x", hold_timeout=0.3)
    assert not manager.acquire_lock("k", make_holder(), acquire_timeout=0)
    time.sleep(0.4)
    mine = make_holder()
    assert manager.acquire_lock("k", mine, acquire_timeout=0)
    assert not manager.refresh("k", "prefect-firework|far-away|1|0|1|x", 10), "not its lock"
    assert manager.refresh("k", mine, 10)
    manager.release_lock("k", mine)
    with pytest.raises(ValueError):
        manager.release_lock("k", mine)


def test_resolve_waits_for_a_run_that_holds_the_key(ledger: Ledger) -> None:
    """An operator's ``ledger resolve`` never overwrites a row a running batch is creating."""
    entered, leave = threading.Event(), threading.Event()

    def batch_creating() -> None:
        with ledger.hold("k"):
            ledger.put(LedgerEntry(key="k", status="creating"))
            entered.set()
            leave.wait(10)
            ledger.put(LedgerEntry(key="k", status="created", video_id="from-the-batch"))

    thread = threading.Thread(target=batch_creating)
    thread.start()
    entered.wait(10)
    with pytest.raises(LedgerLockTimeout):
        ledger.resolve("k", None, timeout=0.2)
    assert ledger.get("k").status == "creating"  # type: ignore[union-attr]
    leave.set()
    thread.join(10)
    # the batch recorded its video meanwhile: settling the row again is refused ...
    with pytest.raises(LedgerError, match=r"is created .*from-the-batch.*not creating"):
        ledger.resolve("k", "settled-by-hand", timeout=5)
    assert ledger.get("k").video_id == "from-the-batch"  # type: ignore[union-attr]
    # ... unless forced
    entry = ledger.resolve("k", "settled-by-hand", timeout=5, force=True)
    assert entry.video_id == "settled-by-hand"
    assert ledger.get("k").video_id == "settled-by-hand"  # type: ignore[union-attr]
