"""A Prefect API outage mid-batch (issue 14, item 5): the batch goes on without the server,
and ends with every row's result and its output file, whatever Prefect's API does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from reliability_support import PrefectServer, count

from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

OUTAGE = 150.0  # seconds the server stays down
ROWS, LIMIT, WINDOW = 10, 2, 45.0  # creates paced so the batch outlives the outage


@pytest.mark.slow
def test_the_batch_outlives_a_150_second_prefect_outage(tmp_path):
    home = tmp_path / "prefect-home"
    home.mkdir()
    server = PrefectServer(home).start()
    config = SandboxConfig(rate_limit_count=LIMIT, rate_limit_window=WINDOW)
    with Sandbox(config=config) as sb:
        try:
            served = tmp_path / "served"
            for i in range(ROWS):
                make_mp4(served / f"c{i}.mp4", 4, size=30_000 + i, seed=i)
            base = sb.serve_files(served).rstrip("/")
            manifest = tmp_path / "m.csv"
            pd.DataFrame(
                [
                    {"url": f"{base}/c{i}.mp4", "channel_id": sb.channel_id, "caption": f"c{i}"}
                    for i in range(ROWS)
                ]
            ).to_csv(manifest, index=False)
            output = tmp_path / "results.csv"
            args = {
                "manifest": str(manifest),
                "ledger": str(tmp_path / "ledger"),
                "output": str(output),
                "credentials": {
                    "client_id": sb.client_id,
                    "client_secret": sb.client_secret,
                    "base_url": sb.base_url,
                },
            }
            env = {
                **os.environ,
                "PREFECT_API_URL": server.api_url,
                "PREFECT_HOME": str(home),
                "FIREWORK_RATE_LIMIT_CREATES": str(LIMIT),
                "FIREWORK_RATE_LIMIT_WINDOW": str(WINDOW),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            child = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("batch_child.py")), json.dumps(args)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 120
            while count(sb, "create_video") < LIMIT and time.monotonic() < deadline:
                assert child.poll() is None, child.communicate()
                time.sleep(0.1)
            server.kill()
            down_at = count(sb, "create_video")
            time.sleep(OUTAGE)
            during = count(sb, "create_video") - down_at
            server.start()
            stdout, stderr = child.communicate(timeout=600)
        finally:
            server.kill()
        assert child.returncode == 0, stderr[-4000:]
        assert during >= 2 * LIMIT, "rows went on being created while Prefect was down"
        assert json.loads(stdout.strip().splitlines()[-1]) == ["imported"] * ROWS
        frame = pd.read_csv(output)
        assert sorted(frame["row"]) == list(range(ROWS))
        assert set(frame["status"]) == {"imported"}
        videos = sb.videos()
        assert len(videos) == ROWS and set(frame["video_id"]) == {v["id"] for v in videos}
