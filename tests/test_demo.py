"""`prefect-firework demo` (what `make demo` runs) end to end in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _row(text: str, source: str) -> list[str]:
    """The cells of the table line that starts with ``source``."""
    lines = [
        [cell.strip() for cell in line.replace("│", " ").split()]
        for line in text.splitlines()
        if line.lstrip("│ ").startswith(source)
    ]
    assert lines, f"no table line for {source} in:\n{text[-3000:]}"
    return lines[0]


def test_demo_runs_and_prints_the_table(tmp_path):
    exe = shutil.which("prefect-firework", path=os.path.dirname(sys.executable))
    assert exe, "the console script is installed with the package"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)  # like a new user: Prefect's temporary API
    # Prefect gives its temporary API 20 s to start; on a loaded CI box (two suites on two
    # cores) that is not enough, as for the suite's own harness (120 s in conftest.py)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    done = subprocess.run([exe, "demo"], capture_output=True, text=True, env=env, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for text in ("single", "multipart", "url-async", "created", "imported", "FIREWORK_CLIENT_ID"):
        assert text in output
    assert "not in sandbox" not in output
    assert "Traceback" not in output
    assert "| ERROR" not in output
    # the README shows this table: its strategy and part count are what the demo prints
    shown = _row(README.read_text(), "product-launch.mp4")
    printed = _row(output, "product-launch.mp4")
    assert printed[1:3] == shown[1:3], (printed, shown)
    # MiB/s is the client's: the bytes over the time the sandbox's S3 received them
    assert float(printed[3]) > 0
    assert "the time the sandbox's S3 took to receive them" in " ".join(output.split())
