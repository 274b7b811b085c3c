"""Helpers for the deployment and distribution tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from prefect_firework.sandbox import Sandbox
from prefect_firework.sandbox.media import make_mp4

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
SERVE_SCRIPT = REPO / "deployments" / "serve.py"
BIN = Path(sys.executable).parent
MIB = 1024 * 1024

T = TypeVar("T")


def field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def videos(sb: Sandbox) -> list[Any]:
    return list(sb.videos())


def captions(sb: Sandbox) -> list[str]:
    return sorted(field(v, "caption") for v in sb.videos())


def manifest_rows(
    sb: Sandbox, directory: Path, count: int, *, prefix: str, size: int = 60_000
) -> list[dict[str, Any]]:
    """``count`` file rows over the sandbox's channels, with real, distinct MP4s."""
    rows = []
    for i in range(count):
        path = make_mp4(directory / f"{prefix}{i}.mp4", 4, size=size + i, seed=i + 7 * len(prefix))
        rows.append(
            {"source": str(path), "channel_id": sb.channel_ids[i % 2], "caption": f"{prefix}{i}"}
        )
    return rows


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(list(rows)).to_csv(path, index=False)
    return path


def wait_for(probe: Callable[[], T], *, timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def run_cli(args: Sequence[str], *, cwd: Path = REPO, timeout: float = 120) -> str:
    """Run a console script of the venv (``prefect ...``); return its output, fail loudly."""
    done = subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def stop_process(process: subprocess.Popen[Any], *, timeout: float = 20) -> None:
    """SIGTERM the process we started (by its pid), then SIGKILL if it does not exit."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
