"""How events become import outcomes, and the ``prefect-firework webhooks`` command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from prefect.events.schemas.events import Event
from prefect.settings import PREFECT_API_URL
from webhook_support import SECRET, body, signed

from prefect_firework.webhooks.wait import import_outcome

pytestmark = pytest.mark.prefect_server


def _event(name: str, resource: str, related: list[dict] | None = None, **payload) -> Event:
    return Event(
        event=name,
        resource={"prefect.resource.id": resource},
        related=related or [],
        payload=payload,
        id=uuid.uuid4(),
    )


def test_events_become_final_imports():
    created = _event(
        "firework.video.created",
        "firework.video.V1",
        [{"prefect.resource.id": "firework.import.I1", "prefect.resource.role": "import"}],
        video_id="V1",
    )
    assert import_outcome(created)[0] == "I1"
    assert import_outcome(created)[1].status == "completed"
    assert import_outcome(created)[1].video_id == "V1"

    failed = _event("firework.video.import_failed", "firework.import.I2", error="404 from origin")
    import_id, outcome = import_outcome(failed)
    assert (import_id, outcome.status, outcome.error) == ("I2", "errored", "404 from origin")

    # Firework's video_created also covers a failed transcode
    bad = _event("firework.video.created", "firework.video.V3", import_id="I3", status="failed")
    assert import_outcome(bad)[1].status == "errored"

    assert import_outcome(_event("firework.video.updated", "firework.video.V1")) is None
    assert import_outcome(_event("firework.video.created", "firework.video.V9")) is None


def test_the_cli_serves_until_sigterm():
    env = {
        **os.environ,
        "FIREWORK_WEBHOOK_SECRET": SECRET,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
    }
    cli = [sys.executable, "-m", "prefect_firework.cli", "webhooks", "--port", "0"]
    proc = subprocess.Popen(
        cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "receiver on" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline() or line
            assert proc.poll() is None, proc.stdout.read()
        url = re.search(r"http://\S+", line).group(0)
        raw = body("video_updated", video_id="VCLI")
        assert httpx.post(url, content=raw, headers=signed(raw)).status_code == 202
        assert httpx.post(url, content=raw, headers=signed(raw, secret="x")).status_code == 401
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0
        assert "receiver stopped" in output and SECRET not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_cli_needs_a_secret():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREWORK_WEBHOOK")}
    result = subprocess.run(
        [sys.executable, "-m", "prefect_firework.cli", "webhooks", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no webhook secret" in result.stderr
