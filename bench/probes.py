"""7. Probes: the unit costs the other sections' explanations rest on, measured here.

    .venv/bin/python bench/probes.py            # 256 MiB hashed, 100 task runs, 2 empty flows
    .venv/bin/python bench/probes.py --full     # 1 GiB hashed, 300 task runs, 5 empty flows

- CPU per GiB of the checksums an uploader may compute: MD5 (what an S3 part's ETag is, and
  what ``verify_md5`` checks), CRC32 (s3transfer's default), SHA-256 (SigV4 payload hashes);
  1 MiB buffers, as the client streams them.
- CPU of one trivial Prefect task run in the submitting process (a ``ThreadPoolTaskRunner``,
  8 in flight, against a running ``prefect server``): the floor under every task run of ours.
- Wall of one empty flow call against the same server: a flow run's fixed cost.

Each measurement runs in a fresh process (``bench/_worker.py`` is not involved).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

_HASHES = """
import hashlib, json, os, sys, time, zlib
size = int(sys.argv[1]); buf = os.urandom(1 << 20); out = {}
for name in ("md5", "sha256"):
    h = hashlib.new(name); t = time.process_time()
    for _ in range(size >> 20): h.update(buf)
    out[name] = (time.process_time() - t) * (1 << 30) / size
t = time.process_time(); crc = 0
for _ in range(size >> 20): crc = zlib.crc32(buf, crc)
out["crc32"] = (time.process_time() - t) * (1 << 30) / size
print("RESULT " + json.dumps(out))
"""

_PREFECT = """
import json, os, sys, time
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

@task(cache_policy=NO_CACHE)
def nothing(i):
    return i

@flow
def empty():
    return None

@flow(task_runner=ThreadPoolTaskRunner(max_workers=16))
def many(n):
    futures = []
    for i in range(n):
        futures.append(nothing.submit(i))
        if len(futures) >= 8:
            futures.pop(0).wait()
    for future in futures:
        future.wait()

def cpu():
    t = os.times()
    return t.user + t.system

tasks, flows = int(sys.argv[1]), int(sys.argv[2])
many(8)  # warm-up: imports, the API client, the first flow run
c0 = cpu()
many(tasks)
task_cpu = (cpu() - c0) / tasks
walls = []
for _ in range(flows):
    t = time.perf_counter()
    empty()
    walls.append(time.perf_counter() - t)
print("RESULT " + json.dumps({"task_cpu": task_cpu, "flow_walls": walls}))
"""


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [c.PY, "-c", code, *args],
        capture_output=True,
        text=True,
        env=c.base_env(**(env or {})),
        timeout=600,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"probe failed (rc={done.returncode}):\n{done.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1 GiB, 300 task runs, 5 empty flows")
    args = ap.parse_args()
    size = (1024 if args.full else 256) * c.MiB
    tasks, flows = (300, 5) if args.full else (100, 2)
    load0 = c.loadavg()
    with c.section("checksums"):
        hashes = _run(_HASHES, str(size))
    with c.PrefectServer() as server, c.section("prefect task runs and empty flows"):
        prefect = _run(_PREFECT, str(tasks), str(flows), env=server.env())
    walls = prefect["flow_walls"]
    rows = [
        ["MD5 (hashlib, OpenSSL)", f"{hashes['md5']:.2f} CPU-s/GiB", f"{size // c.MiB} MiB"],
        ["SHA-256 (hashlib)", f"{hashes['sha256']:.2f} CPU-s/GiB", f"{size // c.MiB} MiB"],
        ["CRC32 (zlib)", f"{hashes['crc32']:.2f} CPU-s/GiB", f"{size // c.MiB} MiB"],
        ["one trivial task run", f"{prefect['task_cpu'] * 1000:.2f} ms CPU", f"{tasks} runs"],
        [
            "one empty flow call",
            f"{c.median(walls):.3f} s wall (median; {c.spread(walls)})",
            f"{flows} calls",
        ],
    ]
    c.report(
        "7. Probes: unit costs on this machine",
        c.table(["probe", "cost", "sample"], rows),
        load_before=load0,
        notes=[
            "Task runs and flows against a running `prefect server` on the same machine; the "
            "task-run CPU is the submitting process's only (the server's is not in it).",
            "The empty flow's wall is Prefect's fixed cost of a flow run; in Prefect 3.9 it "
            "includes joining the flow-run heartbeat thread, which sleeps in 1 s steps.",
        ],
    )


if __name__ == "__main__":
    main()
