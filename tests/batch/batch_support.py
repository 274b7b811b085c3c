"""Helpers shared by the batch-unit tests (imported by name: the test directory is on sys.path)."""

from __future__ import annotations

S3_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it (or a test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ---------------------------------------------------------------------- ledger child processes
# (module-level so that ``multiprocessing`` with the spawn start method can import them)


def claim_in_child(ledger: object, key: str, seconds: float, out: str) -> None:
    """Hold ``key``; create the entry if missing (slowly); write what happened to ``out``."""
    import json
    import os
    import time

    from prefect_firework.batch._ledger import Ledger, LedgerEntry

    assert isinstance(ledger, Ledger)
    with ledger.hold(key, timeout=30):
        start = time.time()
        created = ledger.get(key) is None
        if created:
            time.sleep(seconds)
            ledger.put(LedgerEntry(key=key, status="created", video_id=f"video-{os.getpid()}"))
        end = time.time()
    with open(out, "w") as handle:
        json.dump({"pid": os.getpid(), "start": start, "end": end, "created": created}, handle)


def hold_forever_in_child(ledger: object, key: str, ready: str) -> None:
    """Hold ``key``, say so by creating ``ready``, and wait to be killed."""
    import pathlib
    import time

    from prefect_firework.batch._ledger import Ledger

    assert isinstance(ledger, Ledger)
    with ledger.hold(key, timeout=30):
        pathlib.Path(ready).touch()
        time.sleep(120)


def exit_while_holding_in_child(ledger: object, key: str) -> None:
    """Crash (``os._exit``) inside ``hold``: the lock file stays behind."""
    import os

    from prefect_firework.batch._ledger import Ledger

    assert isinstance(ledger, Ledger)
    with ledger.hold(key, timeout=30):
        os._exit(3)
