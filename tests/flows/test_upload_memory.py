"""Memory: a large multipart upload's client RSS does not grow with the file or the part size.

The client runs in a child process (the sandbox, which shares the test process, holds the
bytes it receives), and measures its own peak RSS from just before the upload to the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from prefect.settings import PREFECT_API_URL

from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

MIB = 1024 * 1024
FILE_SIZE = 320 * MIB
PART_SIZE = 32 * MIB
CONCURRENCY = 8
#: the bound: concurrency x a 1 MiB streaming buffer, plus room for interpreter noise; far
#: below one part (32 MiB) per stream (256 MiB), let alone the file
GROWTH_BOUND = 64 * MIB

CHILD = r"""
import json, sys
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows import upload_video

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

args = json.loads(sys.argv[1])
creds = FireworkCredentials(**args["credentials"])
upload_video(args["small"], args["channel"], "warm-up", credentials=creds)  # load everything once
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS:")
upload_video(args["big"], args["channel"], "big", credentials=creds, strategy="multipart",
             part_size=args["part_size"], max_concurrency=args["concurrency"])
print(json.dumps({"before": before, "peak": status("VmHWM:")}))
"""


def test_multipart_upload_memory_is_bounded(sb, credentials, tmp_path):
    small = make_mp4(tmp_path / "warm.mp4", 4, size=100_000, seed=1)
    big = make_mp4(tmp_path / "big.mp4", 5, size=FILE_SIZE, seed=2)
    args = {
        "credentials": {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
            "base_url": credentials.base_url,
        },
        "channel": sb.channel_id,
        "small": str(small),
        "big": str(big),
        "part_size": PART_SIZE,
        "concurrency": CONCURRENCY,
    }
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    growth = measured["peak"] - measured["before"]
    print(f"client RSS growth for a {FILE_SIZE // MIB} MiB upload: {growth / MIB:.1f} MiB")
    assert growth < GROWTH_BOUND, f"RSS grew {growth / MIB:.1f} MiB"
    assert len([o for o in sb.objects() if o["size"] == FILE_SIZE]) == 1
