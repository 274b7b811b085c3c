"""8. Multipart complete: what the sandbox's complete costs, and the reads that follow it.

    .venv/bin/python bench/complete.py                      # 256 MiB, 1 run (make bench)
    .venv/bin/python bench/complete.py --full               # 1 GiB and 4 GiB, 3 runs
    .venv/bin/python bench/complete.py --full --baseline f082588   # and another commit's sandbox

For each size, a real MP4 of exactly that size is uploaded through the strict S3 front in 64
parts (fewer below 320 MiB, so that parts stay >= 5 MiB), 4 PUTs at a time with plain httpx on
the presigned URLs; then three calls are timed one after the other, each from request sent to
answer received:

- ``complete``: ``POST /api/v1/upload_multipart/complete`` (the goal: O(parts), not O(bytes));
- ``create``: ``POST /api/v1/videos`` with the ``s3_key`` (the sandbox reads the duration from
  the object with ranged reads);
- ``objects``: ``GET /_sandbox/objects`` (key, size and the MD5 of the bytes, checked here
  against the source file's MD5, so a fast complete cannot hide a wrong object).

Sandbox CPU is the sandbox process's own user+sys during the complete call. ``--baseline REV``
starts a second sandbox from ``git archive REV prefect_firework`` (same venv and
dependencies) and alternates the two within each round, so before and after share the
machine's load.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

PARTS = 64
MIN_PART = 5 * 1024 * 1024
CONCURRENCY = 4


def parts_for(size: int) -> int:
    """64 parts, or fewer where 64 would make parts smaller than the 5 MiB minimum."""
    return max(1, min(PARTS, size // MIN_PART))


def baseline_tree(rev: str) -> tuple[str, Path]:
    """``(short commit, directory)``: the sandbox package of ``rev``, unpacked once."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=c.ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = c.WORK / f"baseline-{commit}"
    if not (tree / "prefect_firework" / "__init__.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "prefect_firework"],
            cwd=c.ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    probe = subprocess.run(
        [c.PY, "-c", "import prefect_firework.sandbox as u; print(u.__file__)"],
        cwd=tree,
        env=c.base_env(PYTHONPATH=str(tree)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not probe.startswith(str(tree)):
        raise RuntimeError(f"the baseline sandbox would import {probe}, not {tree}")
    return commit, tree


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(8 * c.MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Target:
    """One sandbox process and an authenticated httpx client for it."""

    def __init__(self, label: str, proc: c.SandboxProc) -> None:
        import httpx

        self.label = label
        self.sb = proc
        info = proc.info
        token = httpx.post(
            info["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            },
        ).json()["access_token"]
        self.api = httpx.Client(
            base_url=info["base_url"],
            headers={"Authorization": f"Bearer {token}"},
            timeout=900,
        )
        self.s3 = httpx.Client(
            timeout=900,
            limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
        )
        self.channel = info["channel_id"]

    def close(self) -> None:
        self.api.close()
        self.s3.close()

    def upload_parts(self, source: Path, size: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        count = parts_for(size)
        part_size = -(-size // count)
        init = self.api.post(
            "/api/v1/upload_multipart/signatures",
            json={
                "filename": source.name,
                "mime_type": "video/mp4",
                "channel_id": self.channel,
                "parts_count": count,
            },
        )
        init.raise_for_status()
        body = init.json()
        fd = os.open(source, os.O_RDONLY)
        try:

            def put(part: dict[str, Any]) -> dict[str, Any]:
                offset = (part["part"] - 1) * part_size
                data = os.pread(fd, min(part_size, size - offset), offset)
                resp = self.s3.put(part["signature"]["put_url"], content=data)
                resp.raise_for_status()
                return {"part": part["part"], "etag": resp.headers["etag"]}

            with ThreadPoolExecutor(CONCURRENCY) as pool:
                parts = list(pool.map(put, body["parts"]))
        finally:
            os.close(fd)
        return body, parts

    def round(self, source: Path, size: int, md5: str) -> dict[str, float]:
        init, parts = self.upload_parts(source, size)
        cpu0 = c.tree_cpu(self.sb.proc)
        t0 = time.perf_counter()
        done = self.api.post(
            "/api/v1/upload_multipart/complete",
            json={"key": init["key"], "upload_id": init["upload_id"], "parts": parts},
        )
        complete = time.perf_counter() - t0
        cpu = c.tree_cpu(self.sb.proc) - cpu0
        if done.status_code != 204:
            raise RuntimeError(f"{self.label}: complete answered {done.status_code}: {done.text}")
        t0 = time.perf_counter()
        created = self.api.post(
            "/api/v1/videos",
            json={"channel_id": self.channel, "caption": "bench", "s3_key": init["key"]},
        )
        create = time.perf_counter() - t0
        if created.status_code != 201:
            raise RuntimeError(
                f"{self.label}: create answered {created.status_code}: {created.text}"
            )
        t0 = time.perf_counter()
        listing = self.api.get("/_sandbox/objects").json()
        objects = time.perf_counter() - t0
        (obj,) = [o for o in listing if o["key"] == init["key"]]
        if (obj["size"], obj["md5"]) != (size, md5):
            raise RuntimeError(f"{self.label}: stored {obj} is not the source ({size} B, {md5})")
        self.sb.reset()
        return {"complete": complete, "cpu": cpu, "create": create, "objects": objects}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1 GiB and 4 GiB, 3 runs")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--size-mib", type=int, nargs="+", default=None)
    ap.add_argument("--baseline", help="also time the sandbox of this commit (e.g. main)")
    args = ap.parse_args()
    sizes = [s * c.MiB for s in (args.size_mib or ([1024, 4096] if args.full else [256]))]
    runs = args.runs or (3 if args.full else 1)
    load0 = c.loadavg()
    sources = {size: c.video(size, seed=4) for size in sizes}
    with c.section("source MD5s"):
        digests = {size: md5_file(path) for size, path in sources.items()}

    procs: list[tuple[str, c.SandboxProc]] = []
    if args.baseline:
        commit, tree = baseline_tree(args.baseline)
        procs.append((f"before ({commit})", c.SandboxProc(cwd=tree, env={"PYTHONPATH": str(tree)})))
    procs.append((f"after ({c.revision()})", c.SandboxProc()))
    targets: list[Target] = []
    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for label, proc in procs:
            proc.start()
            targets.append(Target(label, proc))
        for run in range(runs + 1):  # run 0 is the warm-up round, discarded
            for size in sizes:
                for target in targets:
                    with c.section(f"run {run} {target.label} {size // c.MiB} MiB"):
                        result = target.round(sources[size], size, digests[size])
                    print(f"[bench]   {result}", file=sys.stderr, flush=True)
                    if run:
                        samples.setdefault((target.label, size), []).append(result)
    finally:
        for target in targets:
            target.close()
        for _, proc in procs:
            proc.stop()

    rows = []
    for size in sizes:
        for target in targets:
            got = samples[(target.label, size)]
            rows.append(
                [
                    target.label,
                    f"{size // c.MiB} MiB",
                    parts_for(size),
                    c.median([r["complete"] for r in got]),
                    c.spread([r["complete"] for r in got]),
                    c.median([r["cpu"] for r in got]),
                    c.median([r["create"] for r in got]),
                    c.median([r["objects"] for r in got]),
                ]
            )
    body = c.table(
        [
            "sandbox",
            "object",
            "parts",
            "complete s (median)",
            "range",
            "sandbox CPU-s in complete",
            "create from s3_key s",
            "objects() s (MD5 check)",
        ],
        rows,
    )
    c.report(
        f"8. Multipart complete ({', '.join(f'{s // c.MiB} MiB' for s in sizes)}, "
        f"median of {runs} runs after a warm-up round)",
        body,
        load_before=load0,
        notes=[
            "Goal (issue 18): complete <= 1 s for 1 GiB and for 4 GiB, with the object's bytes "
            "and MD5 exactly the parts' (checked in every run against the source file's MD5).",
            "Each call is timed alone, in this order, after all parts were PUT: complete, a "
            "create from the s3_key (duration read from the stored object), then the object "
            "listing with the MD5 of its bytes.",
        ],
    )


if __name__ == "__main__":
    main()
