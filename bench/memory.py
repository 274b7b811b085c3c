"""2. Memory growth of one multipart upload, ours vs boto3 s3transfer, local and S3 sources.

    .venv/bin/python bench/memory.py            # 64 and 256 MiB, 1 run (make bench)
    .venv/bin/python bench/memory.py --full     # 256 MiB and 2 GiB, 3 runs

Growth = peak RSS during the upload (``VmHWM`` after resetting it through
``/proc/self/clear_refs``) minus the RSS just before it, in a process that has already done one
small upload of the same kind (imports, clients and connections exist). Concurrency 8, 16 MiB
parts requested (ours is raised to the 100-part minimum for 2 GiB, i.e. 21 MiB). S3 sources
live in moto; ours reads them with bounded range GETs, s3transfer gets the streaming body
(``upload_fileobj(get_object()["Body"])``, what a boto3 user would write).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

CLIENTS = ["flow", "client", "s3transfer"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="256 MiB and 2 GiB, 3 runs")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--sizes-mib", type=int, nargs="+", default=None)
    args = ap.parse_args()
    sizes = [s * c.MiB for s in (args.sizes_mib or ([256, 2048] if args.full else [64, 256]))]
    runs = args.runs or (3 if args.full else 1)
    load0 = c.loadavg()
    part = 16 * c.MiB
    samples: dict[tuple[int, str, str], list[dict]] = {}
    with c.SandboxProc() as sb, c.PrefectServer() as server:
        info = sb.for_worker()
        tp = c.s3_transport_params(info["moto_url"])
        warm_local = c.video(12 * c.MiB, seed=1)
        warm_s3 = c.put_s3_source(info["moto_url"], "bench-sources", "warm.mp4", warm_local)
        for size in sizes:
            local = c.video(size)
            remote = c.put_s3_source(info["moto_url"], "bench-sources", local.name, local)
            for run in range(runs):
                for kind, source, warm in (("local", local, warm_local), ("s3", remote, warm_s3)):
                    for client in CLIENTS:
                        cfg = {
                            "mode": "upload",
                            "client": client,
                            "sb": info,
                            "source": str(source),
                            "size": size,
                            "part_size": part,
                            "concurrency": 8,
                            "verify_md5": True,
                            "warm_source": str(warm),
                            "transport_params": tp if kind == "s3" else None,
                            "memory": True,
                            "complete": client != "client",  # server time, not client memory
                        }
                        label = f"{size // c.MiB} MiB {kind} {client} run {run}"
                        with c.section(label):
                            result = c.worker(cfg, env=server.env() if client == "flow" else None)
                        sb.reset()
                        samples.setdefault((size, kind, client), []).append(result)

    rows = []
    for kind in ("local", "s3"):
        for client in CLIENTS:
            growths = []
            for size in sizes:
                got = samples[(size, kind, client)]
                growth = [(r["hwm"] - r["rss_before"]) / c.MiB for r in got]
                growths.append(c.median(growth))
                rows.append(
                    [
                        f"{size // c.MiB} MiB",
                        kind,
                        client,
                        c.median([r["rss_before"] / c.MiB for r in got]),
                        c.median([r["hwm"] / c.MiB for r in got]),
                        c.median(growth),
                        c.spread(growth),
                        c.median([size / c.MiB / r["wall"] for r in got]),
                    ]
                )
            rows[-1].append(f"{growths[-1] - growths[0]:+.1f} MiB")
            for row in rows[-len(sizes) : -1]:
                row.append("")
    body = c.table(
        [
            "source size",
            "source",
            "client",
            "RSS before (MiB)",
            "peak (MiB)",
            "growth (MiB, median)",
            "range",
            "MiB/s",
            "growth change, smallest to largest",
        ],
        rows,
    )
    c.report(
        f"2. Memory growth during one upload (concurrency 8, median of {runs} run(s))",
        body,
        load_before=load0,
        notes=[
            "flow = upload_video against a running prefect server; client = FireworkClient + "
            "ThreadPoolExecutor; s3transfer = boto3 upload_file / upload_fileobj to moto.",
            "Goal: growth <= 64 MiB at concurrency 8 and flat in file size.",
        ],
    )


if __name__ == "__main__":
    main()
