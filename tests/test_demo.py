"""`prefect-firework demo` (what `make demo` runs) end to end in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


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
