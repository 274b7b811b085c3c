"""Helpers of the reliability suite: media, request counting, fault timing, and the accounting
check every fault test ends with ("the sandbox holds exactly the videos the results say")."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prefect_firework import tasks
from prefect_firework.sandbox.media import make_mp4

MIB = 1024 * 1024
#: the custom field each created video carries (the row's idempotency key)
KEY_FIELD = "prefect_firework_key"
#: what the error of a row whose create outcome is unknown must say
AMBIGUOUS = "may already exist"
DONE = ("created", "imported", "skipped")

#: every task the flows submit; retry delays are patched on these objects
ALL_TASKS = (
    tasks.create_upload_signature,
    tasks.upload_to_s3,
    tasks.upload_single,
    tasks.create_multipart_upload,
    tasks.upload_part,
    tasks.complete_multipart_upload,
    tasks.create_video,
    tasks.get_video,
    tasks.update_video,
    tasks.get_video_import,
    tasks.wait_for_video_import,
    tasks.wait_for_video_imports,
)


def field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def calls(sb: Any, endpoint: str) -> list[Any]:
    """The sandbox's log entries for one endpoint (faulted ones included)."""
    return [r for r in sb.requests if field(r, "endpoint") == endpoint]


def count(sb: Any, endpoint: str) -> int:
    return len(calls(sb, endpoint))


def mp4(path: Path, *, size: int = 40_000, seconds: float = 4, seed: int = 0) -> str:
    return str(make_mp4(path, seconds, size=size, seed=seed))


def set_retry_delay(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> None:
    """Keep every task's retry *count* and condition, but wait ``delay`` s between tries
    (the real schedule is 1, 2, 4, 8, 16 s with jitter; the count is what the tests show)."""
    for task in ALL_TASKS:
        if task.retries:
            monkeypatch.setattr(task, "retry_delay_seconds", [delay] * task.retries)
            monkeypatch.setattr(task, "retry_jitter_factor", None)


@contextmanager
def when(
    sb: Any, endpoint: str, action: Callable[[], Any], *, after: int = 1, poll: float = 0.003
) -> Iterator[threading.Event]:
    """Run ``action`` once, as soon as the sandbox has logged ``after`` requests to
    ``endpoint`` (a fault that must land mid-run, e.g. expiring tokens between two steps)."""
    fired = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if count(sb, endpoint) >= after:
                action()
                fired.set()
                return
            time.sleep(poll)

    thread = threading.Thread(target=watch, daemon=True, name=f"when-{endpoint}")
    thread.start()
    try:
        yield fired
    finally:
        stop.set()
        thread.join(5)


def assert_accounting(
    sb: Any, frame: pd.DataFrame, n_rows: int, *, update: bool = False
) -> dict[str, Any]:
    """The invariants every fault test ends with; returns a summary for the test to refine.

    - every manifest row is in the results exactly once;
    - no row key has two videos (zero duplicates);
    - every video the results report exists and carries the row's key;
    - every other video in the sandbox belongs to a row reported ``failed`` with an error
      that says the video may already exist (the create's outcome was unknown: the one
      deliberate deviation from "exactly the videos the results say", see RELIABILITY.md);
    - every failed row whose error does not say so has no video;
    - every multipart upload left open is named by a failed row's error.
    """
    assert sorted(frame["row"].tolist()) == list(range(n_rows)), frame
    videos = sb.videos()
    keys = collections.Counter((field(v, "custom_fields") or {}).get(KEY_FIELD) for v in videos)
    if not update:
        duplicates = {k: c for k, c in keys.items() if c > 1}
        assert not duplicates, f"duplicate videos for keys {duplicates}"
    by_key = {(field(v, "custom_fields") or {}).get(KEY_FIELD): field(v, "id") for v in videos}
    ids = {field(v, "id") for v in videos}
    rows = {r["key"]: r for r in frame.to_dict("records") if isinstance(r["key"], str)}
    ambiguous: list[str] = []
    for r in frame.to_dict("records"):
        status, error = r["status"], r["error"] if isinstance(r["error"], str) else ""
        if status in DONE or status == "updated":
            assert r["video_id"] in ids, f"row {r['row']} reports a video the sandbox lacks"
            if not update:
                assert by_key.get(r["key"]) == r["video_id"], r
        elif status == "failed":
            assert error, f"row {r['row']} failed without an error"
            if AMBIGUOUS in error:
                ambiguous.append(r["key"])
            elif not update:
                assert r["key"] not in by_key, f"row {r['row']} failed but made a video: {r}"
    if not update:
        for key, video_id in by_key.items():
            row = rows.get(key)
            assert row is not None, f"video {video_id} belongs to no result row"
            if row["status"] not in DONE:
                assert row["status"] == "failed" and key in ambiguous, (
                    f"video {video_id} exists but row {row['row']} says {row['status']}: {row}"
                )
    errors = " ".join(e for e in frame["error"].dropna())
    for upload in sb.multipart_uploads():
        if field(upload, "status") != "completed":
            assert field(upload, "upload_id") in errors, (
                f"multipart upload {field(upload, 'upload_id')} left "
                f"{field(upload, 'status')} and no result row says so"
            )
    return {
        "videos": len(videos),
        "ambiguous": ambiguous,
        "status": collections.Counter(frame["status"]),
    }


def one(frame: pd.DataFrame, row: int = 0) -> dict[str, Any]:
    """Result row ``row`` as a dict."""
    match = frame[frame["row"] == row].to_dict("records")
    assert len(match) == 1, frame
    return match[0]


def statuses(frame: pd.DataFrame) -> list[str]:
    return [str(s) for s in frame.sort_values("row")["status"]]


def text_of(values: Iterable[Any]) -> str:
    return "\n".join(str(v) for v in values)


class PrefectServer:
    """A real ``prefect server start`` on a loopback port, with its own home and database,
    that a test can kill and start again on the same port (the same database)."""

    def __init__(self, home: Path) -> None:
        import socket

        self.home = home
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.proc: Any = None

    def start(self, timeout: float = 300.0) -> PrefectServer:
        """Start it and wait until it answers (a loaded 2-core machine took over 120 s)."""
        import os
        import subprocess
        import sys

        import httpx

        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        }
        env.pop("PREFECT_API_URL", None)
        log = open(self.home / f"server-{time.time():.0f}.log", "wb")  # noqa: SIM115
        prefect = str(Path(sys.executable).parent / "prefect")
        self.proc = subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"prefect server did not answer on {self.api_url}")

    def kill(self) -> None:
        import os
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None
