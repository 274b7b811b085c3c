"""Several machines, one channel: worker processes started by the test, each running
``machine.py`` (``upload_videos`` with the README's recipe) against one Prefect server, one
sandbox, one ledger (a prefect-aws ``S3Bucket`` block on moto) and one ``redis-server``.

- two machines with their own manifests for the same channel, at once: the channel's budget
  is shared through a Prefect global concurrency limit (``prefect gcl create ...``), so the
  sandbox's real window (scaled down: 3 creates per 6 s) answers no 429, and the combined
  makespan stays within 1.1x the least the limit allows;
- two machines with the *same* manifest at once: every video is created exactly once, the
  other machine reports the row ``skipped`` (its lock waited in Redis, then the shared ledger
  said done), and the locks really went through Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from components import MotoS3, Redis, save_s3_bucket_block, unique

from prefect_firework.batch._pacing import gcl_parameters
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
#: the sandbox's create limit, scaled down from 20 per 300 s so a test takes seconds
LIMIT, WINDOW = 3, 6.0
#: a slot granted now may reach the server this much later (gcl_parameters' margin)
LATENCY = 2.0
BURST, DECAY = gcl_parameters(LIMIT, WINDOW, latency=LATENCY)  # 1 slot, one back every 4 s


@pytest.fixture(scope="module")
def paced_sandbox():
    config = SandboxConfig(
        transcoding_delay=0.05, rate_limit_count=LIMIT, rate_limit_window=WINDOW
    )
    with Sandbox(config=config) as sb:
        yield sb


def _files(directory: Path, prefix: str, count: int, seed: int) -> list[str]:
    return [
        str(make_mp4(directory / f"{prefix}{i}.mp4", 4, size=40_000 + i, seed=seed + i))
        for i in range(count)
    ]


def _manifest(path: Path, sources: list[str], channel: str, prefix: str) -> str:
    rows = [{"source": s, "channel_id": channel, "caption": f"{prefix}{i}"} for i, s in
            enumerate(sources)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _create_limit(channel: str) -> str:
    """The README's command, run as a user would (the limit lives in the Prefect server)."""
    name = f"firework-create-{channel}"
    done = subprocess.run(
        [str(BIN / "prefect"), "gcl", "create", name, "--limit", str(BURST),
         "--slot-decay-per-second", str(DECAY)],
        env=os.environ.copy(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return name


def _start(config: dict[str, Any], log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FIREWORK_RATE_LIMIT_CREATES": str(LIMIT),
        "FIREWORK_RATE_LIMIT_WINDOW": str(WINDOW),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(HERE / "machine.py"), json.dumps(config)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )


def _run_machines(configs: list[dict[str, Any]], tmp: Path) -> list[pd.DataFrame]:
    go = tmp / "go"
    configs = [
        {**c, "ready": str(tmp / f"ready-{i}"), "go": str(go)} for i, c in enumerate(configs)
    ]
    procs = [_start(c, tmp / f"machine-{i}.log") for i, c in enumerate(configs)]
    try:
        deadline = time.monotonic() + 180
        while not all(Path(c["ready"]).exists() for c in configs):  # both imported
            assert all(p.poll() is None for p in procs), "a machine exited before its run"
            assert time.monotonic() < deadline, "the machines did not start within 180 s"
            time.sleep(0.05)
        go.touch()  # both runs start now
        for i, proc in enumerate(procs):
            code = proc.wait(timeout=240)
            assert code == 0, (tmp / f"machine-{i}.log").read_text()[-4000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [pd.read_json(c["results"], orient="records", lines=True) for c in configs]


@pytest.fixture
def recipe(paced_sandbox: Sandbox, moto_s3: MotoS3, redis_server: Redis, api_env, tmp_path):
    """What every machine shares: the credentials block, the S3Bucket block of the ledger
    and the Redis server's address."""
    sb = paced_sandbox
    sb.reset()
    credentials = unique("firework")
    FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    ).save(credentials)
    ledger = save_s3_bucket_block(moto_s3, unique("firework-ledger"))
    prefix = unique("ledger")
    return {
        "credentials": credentials,
        # a namespace of its own per test: the bucket is shared by the session
        "ledger": ledger,
        "namespace": prefix,
        "redis_host": redis_server.host,
        "redis_port": redis_server.port,
    }


def _creates(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.endpoint == "create_video"]


def test_two_machines_share_one_channel_budget_through_a_global_limit(
    recipe, paced_sandbox, tmp_path
):
    sb = paced_sandbox
    channel = sb.channel_ids[0]
    _create_limit(channel)
    configs = []
    for machine in ("a", "b"):
        sources = _files(tmp_path / machine, machine, 4, seed=ord(machine) * 10)
        manifest = _manifest(tmp_path / f"{machine}.csv", sources, channel, machine)
        configs.append(
            {**recipe, "manifest": manifest, "results": str(tmp_path / f"{machine}.jsonl")}
        )

    results = _run_machines(configs, tmp_path)

    for frame in results:
        assert list(frame["status"]) == ["created"] * 4, frame["error"].tolist()
    creates = _creates(sb)
    assert [r.status for r in creates if r.status == 429] == [], "the window was never exceeded"
    assert len(creates) == 8 and len(sb.videos()) == 8
    first = min(r.time for r in creates)
    last = max(r.time + r.duration for r in creates)
    minimum = (len(creates) - BURST) / DECAY  # the limit grants 1 now, then one per 1/decay
    ratio = (last - first) / minimum
    print(f"makespan {last - first:.2f} s, minimum {minimum:.2f} s: {ratio:.3f}x")
    assert last - first <= 1.1 * minimum, (last - first, minimum)
    # both machines drew from the one budget: their creates interleave
    owners = [
        v["caption"][0] for v in sorted(sb.videos(), key=lambda v: v["created_at"])
    ]
    assert set(owners[:5]) == {"a", "b"}, owners


def test_the_same_manifest_on_two_machines_creates_each_video_once(
    recipe, paced_sandbox, redis_server: Redis, moto_s3: MotoS3, tmp_path
):
    sb = paced_sandbox
    channel = sb.channel_ids[1]
    _create_limit(channel)
    sources = _files(tmp_path / "media", "same", 4, seed=500)
    manifest = _manifest(tmp_path / "same.csv", sources, channel, "same")
    redis_server.client().config_resetstat()
    configs = [
        {**recipe, "manifest": manifest, "results": str(tmp_path / f"{m}.jsonl")}
        for m in ("a", "b")
    ]

    a, b = _run_machines(configs, tmp_path)

    videos = sb.videos()
    assert sorted(v["caption"] for v in videos) == [f"same{i}" for i in range(4)], videos
    for row in range(4):
        statuses = sorted([a.loc[row, "status"], b.loc[row, "status"]])
        assert statuses == ["created", "skipped"], (a.loc[row].to_dict(), b.loc[row].to_dict())
        assert a.loc[row, "video_id"] == b.loc[row, "video_id"]
    assert [r for r in _creates(sb) if r.status != 201] == []
    # the rows' locks were taken in Redis (SET NX per acquisition), not in local files
    stats = redis_server.client().info("commandstats")
    assert stats.get("cmdstat_set", {}).get("calls", 0) >= 8, stats
    # and the ledger is the S3Bucket block's: one entry per row in the moto bucket
    keys = moto_s3.client.list_objects_v2(Bucket="firework-ledger").get("Contents", [])
    entries = [k["Key"] for k in keys if "/entries/" in k["Key"]]
    assert len(entries) >= 4, entries
