"""Crash and rerun: ``upload_videos`` SIGKILLed at random moments, then rerun to completion.

The sandbox runs in its own process (``prefect-firework sandbox --port 0 --s3-port 0``) and is
inspected over HTTP under ``/_sandbox/``. Each trial runs a 20-row manifest (15 small files,
3 multipart files of 2 parts, 2 invalid rows) in a child process, kills it with SIGKILL at a
seeded moment (during part uploads, right after create calls, while a create's answer is still
on its way, or after a random time), reruns it to completion, then plays the operator for rows
reported as uncertain (looks their video up by ``custom_fields.prefect_firework_key`` and calls
``Ledger.resolve``, the first time through the CLI) and reruns once more. Every trial must end
with exactly one video per valid row, zero duplicates and every row in the final results.

``make test`` runs a few trials; ``make soak`` runs many (``RELIABILITY_SOAK_TRIALS``; not a
``FIREWORK_*`` name, which the suite's conftest strips). With ``RELIABILITY_CRASH_REPORT=path``
each trial appends its summary to that file (JSON lines).
"""

from __future__ import annotations

import collections
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from prefect.settings import PREFECT_API_URL
from reliability_support import AMBIGUOUS, KEY_FIELD, MIB, mp4

from prefect_firework.batch._ledger import Ledger
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

CLI = Path(sys.executable).parent / "prefect-firework"
CHILD = Path(__file__).with_name("reliability_child.py")
TRIALS = int(os.environ.get("RELIABILITY_SOAK_TRIALS") or 3)
PLANS = ("parts", "held-create", "creates", "signatures", "time")
SMALL, LARGE, INVALID = 15, 3, 2
VALID = SMALL + LARGE
THRESHOLD = 4 * MIB


class RemoteSandbox:
    """A sandbox in another process, driven over HTTP (its ``/_sandbox/`` prefix)."""

    def __init__(self, info: dict[str, str]) -> None:
        self.info = info
        self.http = httpx.Client(base_url=info["base_url"], timeout=30)

    def get(self, name: str) -> Any:
        response = self.http.get(f"/_sandbox/{name}")
        response.raise_for_status()
        return response.json()

    def count(self, endpoint: str) -> int:
        return sum(1 for r in self.get("requests") if r["endpoint"] == endpoint)

    def fault(self, spec: dict[str, Any]) -> None:
        self.http.post("/_sandbox/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_sandbox/faults").raise_for_status()

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()


class Zygote:
    """``reliability_child.py`` in a subprocess: forks one flow run per ``start``."""

    def __init__(self, env: dict[str, str], stderr: Path) -> None:
        self._err = open(stderr, "ab")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def start(self, args: dict[str, Any]) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(args) + "\n")
        self.proc.stdin.flush()
        return int(self.lines.get(timeout=60)["pid"])

    def exit_code(self, timeout: float) -> int | None:
        try:
            return int(self.lines.get(timeout=timeout)["exit"])
        except queue.Empty:
            return None

    def close(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def _banner(proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, str]:
    assert proc.stdout is not None
    fields: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while "inspect" not in fields:
        assert time.monotonic() < deadline, f"no banner; got {fields}"
        line = proc.stdout.readline()
        assert line, f"the sandbox CLI exited early ({proc.wait()})"
        name, sep, value = line.partition(": ")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Any:
    logs = tmp_path_factory.mktemp("sandbox-cli")
    with open(logs / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            [str(CLI), "sandbox", "--port", "0", "--s3-port", "0"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            info = _banner(proc)
            # loopback by default, and the banner says where it listens
            assert info["base_url"].startswith("http://127.0.0.1:"), info
            assert info["s3_url"].startswith("http://127.0.0.1:"), info
            sandbox = RemoteSandbox(info)
            yield sandbox
            sandbox.http.close()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def zygote(remote, tmp_path_factory) -> Any:
    logs = tmp_path_factory.mktemp("zygote")
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "FIREWORK_CLIENT_ID": remote.info["client_id"],
        "FIREWORK_CLIENT_SECRET": remote.info["client_secret"],
        "FIREWORK_BASE_URL": remote.info["base_url"],
        "FIREWORK_POLL_INTERVAL": "0.2",
    }
    z = Zygote(env, logs / "stderr.log")
    yield z
    z.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> list[str]:
    directory = tmp_path_factory.mktemp("crash-media")
    small = [
        mp4(directory / f"s{i:02d}.mp4", size=30_000 + 997 * i, seed=700 + i) for i in range(SMALL)
    ]
    large = [
        str(make_mp4(directory / f"m{i}.mp4", 4, size=6 * MIB + i, seed=800 + i))
        for i in range(LARGE)
    ]
    return small + large


def _manifest(remote: RemoteSandbox, files: list[str], directory: Path) -> Path:
    channels = remote.info["channel_ids"].split(", ")
    rows: list[dict[str, Any]] = [
        {
            "source": path,
            "channel_id": channels[i % 3],
            "caption": f"crash trial row {i}",
            "custom_fields": json.dumps({"batch": "crash", "row": str(i)}),
        }
        for i, path in enumerate(files)
    ]
    rows.insert(
        4,
        {
            "source": str(directory / "poster.gif"),
            "channel_id": channels[0],
            "caption": "not a video",
        },
    )
    rows.insert(
        11,
        {
            "source": files[0],
            "channel_id": channels[1],
            "caption": "bad field",
            "custom_fields": json.dumps({"Bad Key": "x"}),
        },
    )
    path = directory / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _trigger(plan: str, target: float, remote: RemoteSandbox, started: float) -> bool:
    if plan == "time":
        return time.monotonic() - started >= target
    if plan == "held-create":
        return len(remote.get("videos")) >= target
    endpoint = {"parts": "s3_part", "creates": "create_video", "signatures": "upload_signature"}
    return remote.count(endpoint[plan]) >= target


def _run(
    zygote: Zygote,
    args: dict[str, Any],
    *,
    kill: tuple[str, float] | None = None,
    remote: RemoteSandbox | None = None,
) -> dict[str, Any]:
    pid = zygote.start(args)
    started = time.monotonic()
    while True:
        code = zygote.exit_code(0.02)
        if code is not None:
            return {"exit": code, "killed": False, "seconds": time.monotonic() - started}
        if kill is not None and remote is not None and _trigger(*kill, remote, started):
            os.kill(pid, signal.SIGKILL)
            code = zygote.exit_code(60)
            return {"exit": code, "killed": True, "seconds": time.monotonic() - started}
        assert time.monotonic() - started < 240, "a flow run took more than 4 minutes"


def _results(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"key": str, "video_id": str, "error": str, "status": str})


def _settle_uncertain(
    frame: pd.DataFrame, remote: RemoteSandbox, ledger: Path, use_cli: bool
) -> collections.Counter[str]:
    """The operator's job: find each uncertain row's video by its key, record what was found."""
    found: collections.Counter[str] = collections.Counter()
    uncertain = frame[(frame["status"] == "failed") & frame["error"].str.contains(AMBIGUOUS)]
    videos = remote.get("videos")
    for key in uncertain["key"]:
        matches = [v["id"] for v in videos if (v.get("custom_fields") or {}).get(KEY_FIELD) == key]
        assert len(matches) <= 1, f"key {key} has {len(matches)} videos"
        video_id = matches[0] if matches else None
        if use_cli:
            command = [str(CLI), "ledger", "resolve", key, "--storage", str(ledger)]
            command += ["--video-id", video_id] if video_id else []
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            assert f"-> {'created' if video_id else 'not_created'}" in result.stdout
            use_cli = False
        else:
            Ledger(ledger).resolve(key, video_id)
        found["with-video" if video_id else "without-video"] += 1
    return found


def _plan(trial: int) -> tuple[str, float, random.Random]:
    rng = random.Random(f"firework-crash-{trial}")
    kind = PLANS[trial] if trial < len(PLANS) else rng.choice(PLANS)  # each plan, then random
    target = {
        "parts": lambda: rng.randint(1, 2 * LARGE - 1),
        "held-create": lambda: rng.randint(1, 6),
        "creates": lambda: rng.randint(1, VALID - 2),
        "signatures": lambda: rng.randint(2, SMALL - 1),
        "time": lambda: round(rng.uniform(0.3, 4.0), 2),
    }[kind]()
    return kind, target, rng


@pytest.mark.parametrize("trial", range(TRIALS))
def test_crash_then_rerun_makes_each_video_once(trial, remote, zygote, media, tmp_path):
    remote.reset()
    for i, path in enumerate(media):  # a new fingerprint per trial: new keys, no resume across
        os.utime(path, (time.time(), 1_700_000_000 + trial * 1000 + i))
    manifest = _manifest(remote, media, tmp_path)
    ledger = tmp_path / "ledger"
    args = {
        "manifest": str(manifest),
        "ledger": str(ledger),
        "log": str(tmp_path / "runs.log"),
        "multipart_threshold": THRESHOLD,
        "max_uploads_in_flight": 6,
    }
    kind, target, _ = _plan(trial)
    if kind == "held-create":  # a create is handled, its answer held until after the kill
        remote.fault({"kind": "late", "endpoint": "create_video", "seconds": 15, "times": 1})
    crashed = _run(
        zygote, {**args, "output": str(tmp_path / "r1.csv")}, kill=(kind, target), remote=remote
    )
    remote.clear_faults()
    before = len(remote.get("videos"))

    runs = [crashed]
    second = _run(zygote, {**args, "output": str(tmp_path / "r2.csv")})
    runs.append(second)
    assert second["exit"] == 0, (tmp_path / "runs.log").read_text()[-4000:]
    frame = _results(tmp_path / "r2.csv")
    settled = _settle_uncertain(frame, remote, ledger, use_cli=trial == 0)
    if settled or (frame["status"] == "failed").any():
        third = _run(zygote, {**args, "output": str(tmp_path / "r3.csv")})
        runs.append(third)
        assert third["exit"] == 0, (tmp_path / "runs.log").read_text()[-4000:]
        frame = _results(tmp_path / "r3.csv")

    # every row in the final results; every valid row done; invalid rows refused
    assert sorted(frame["row"]) == list(range(VALID + INVALID))
    status = dict(zip(frame["row"], frame["status"], strict=True))
    assert status[4] == "invalid" and status[11] == "invalid"
    valid = frame[~frame["row"].isin([4, 11])]
    assert set(valid["status"]) <= {"created", "skipped"}, valid[["row", "status", "error"]]
    # exactly one video per valid row, zero duplicates, and they are the ones reported
    videos = remote.get("videos")
    keys = collections.Counter((v.get("custom_fields") or {}).get(KEY_FIELD) for v in videos)
    assert all(n == 1 for n in keys.values()), f"duplicates: {keys.most_common(3)}"
    assert sorted(keys) == sorted(valid["key"])
    assert len(videos) == VALID
    by_key = {(v.get("custom_fields") or {}).get(KEY_FIELD): v["id"] for v in videos}
    assert {k: by_key[k] for k in valid["key"]} == dict(
        zip(valid["key"], valid["video_id"], strict=True)
    )
    summary = {
        "trial": trial,
        "plan": kind,
        "target": target,
        "killed": crashed["killed"],
        "exit": crashed["exit"],
        "killed_after_s": round(crashed["seconds"], 2),
        "videos_at_kill": before,
        "uncertain_with_video": settled["with-video"],
        "uncertain_without_video": settled["without-video"],
        "runs": len(runs),
        "videos": len(videos),
        "duplicates": sum(n - 1 for n in keys.values()),
        # uploads a kill abandoned (informational: a killed run cannot report them)
        "open_uploads": sum(u["status"] != "completed" for u in remote.get("multipart_uploads")),
        "seconds": round(sum(r["seconds"] for r in runs), 1),
    }
    print("crash trial", json.dumps(summary))
    report = os.environ.get("RELIABILITY_CRASH_REPORT")
    if report:
        with open(report, "a") as fh:
            fh.write(json.dumps(summary) + "\n")
    if crashed["killed"]:
        assert crashed["exit"] == -signal.SIGKILL
    shutil.rmtree(tmp_path / "ledger", ignore_errors=True)
