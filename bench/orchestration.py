"""4. Orchestration overhead: ``upload_videos`` vs a plain loop at the same concurrency.

    .venv/bin/python bench/orchestration.py            # 100 URL rows, 40 file rows, 1 run
    .venv/bin/python bench/orchestration.py --full     # 500 URL rows, 200 file rows, 5 runs

Sandbox limits lifted (rate limit 10^6 creates per second, 10 ms transcoding) and the flow's
pacer too (``FIREWORK_RATE_LIMIT_CREATES``/``_WINDOW``). The flow runs against a running
``prefect server``, in a process that already ran a 4-row batch. URL rows are sync imports of a
small MP4 served on loopback; file rows are 64 KiB local MP4s (preflight, presigned POST,
create). The plain loop is a ThreadPoolExecutor of the same requests (raw httpx for URL rows,
``FireworkClient`` calls for file rows), no Prefect, no ledger, no preflight.

Per-row overhead = (flow wall - plain wall) / rows, pair by pair in the same round; CPU per row
is the client process's user+sys / rows. A one-row manifest, run in the same rounds, measures
the flow's fixed cost (the flow run itself, artifacts, the results table); subtracted round by
round, what is left is the overhead each further row adds. One more flow run of the URL and
the file manifest under cProfile (every thread, per-thread CPU clock) says where the flow's CPU
goes.
"""

from __future__ import annotations

import argparse
import pstats
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

LIFTED = {"FIREWORK_RATE_LIMIT_CREATES": "1000000", "FIREWORK_RATE_LIMIT_WINDOW": "1"}

GROUPS = [
    ("prefect/task_engine", "Prefect task engine (state machine, hooks, transactions)"),
    ("prefect/client", "Prefect API client (task-run create / state proposals over HTTP)"),
    ("prefect/events", "Prefect events"),
    ("prefect/logging", "Prefect logging (run loggers, API log handler)"),
    ("prefect/results", "Prefect results and cache records"),
    ("prefect/transactions", "Prefect transactions"),
    ("prefect/", "Prefect, other"),
    ("prefect_firework/ledger", "our ledger (result store records, file locks)"),
    ("prefect_firework/", "prefect_firework, other"),
    ("pydantic", "pydantic (validation, serialisation)"),
    ("httpx", "httpx/httpcore/h11 (all HTTP)"),
    ("httpcore", "httpx/httpcore/h11 (all HTTP)"),
    ("h11", "httpx/httpcore/h11 (all HTTP)"),
    ("anyio", "anyio / asyncio loop threads"),
    ("asyncio", "anyio / asyncio loop threads"),
    ("uuid", "stdlib, other"),
]


def _group(filename: str, func: str) -> str:
    path = filename.replace("\\", "/")
    if path == "~":  # a C function: name it (lock waits do not count, the clock is CPU)
        name = func.strip("<>").replace("built-in method ", "").replace("method ", "")
        return f"built-in {name.split(' of ')[0]}"
    for key, name in GROUPS:
        if f"/{key}" in path:
            return name
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/")[0].replace(".py", "")
    if "/python3." in path:
        rest = path.split("/python3.", 1)[1].split("/", 1)[-1]
        return "stdlib " + rest.split("/")[0].replace(".py", "")
    return path.rsplit("/", 1)[-1]


def profile_summary(path: Path, rows: int) -> tuple[str, list[str]]:
    stats = pstats.Stats(str(path))
    total = 0.0
    by_group: dict[str, float] = defaultdict(float)
    for (filename, _line, _func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        by_group[_group(filename, _func)] += tt
        total += tt
    ranked = sorted(by_group.items(), key=lambda kv: -kv[1])
    table_rows = [
        [name, secs, secs / rows * 1000, f"{secs / total:.0%}"] for name, secs in ranked[:15]
    ]
    cumulative = []
    for (filename, line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if "/prefect/" in filename or "/prefect_firework/" in filename:
            short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
            cumulative.append((ct, f"{short}:{line}({func})"))
    cumulative.sort(reverse=True)
    text = c.table(["self CPU, grouped", "CPU s", "CPU ms/row", "share"], table_rows)
    return text, [f"{ct:.2f} s  {name}" for ct, name in cumulative[:25]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="500 URL rows, 200 file rows, 5 runs")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--url-rows", type=int, default=None)
    ap.add_argument("--file-rows", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    runs = args.runs or (5 if args.full else 1)
    n_url = args.url_rows or (500 if args.full else 100)
    n_file = args.file_rows or (200 if args.full else 40)
    conc = args.concurrency
    load0 = c.loadavg()
    served, small = c.served_clip()
    config = {"rate_limit_count": 1_000_000, "rate_limit_window": 1.0, "transcoding_delay": 0.01}
    results: dict[tuple[str, str], list[dict]] = defaultdict(list)
    profile_path = c.WORK / "orchestration-profile.pstats"
    with c.SandboxProc(**config) as sb, c.PrefectServer() as server, c.FileServer(served) as fs:
        info = sb.for_worker()
        channel = info["channel_id"]
        manifests = {
            "url": c.url_rows(fs.url, [channel], n_url),
            "file": [{"source": str(small), "channel_id": channel} for _ in range(n_file)],
            # one row: the flow's fixed cost (flow run, artifacts, results), for the margin
            "one": c.url_rows(fs.url, [channel], 1),
        }
        env = {**server.env(), **LIFTED}
        for run in range(runs + 1):
            for kind, rows in manifests.items():
                base = {"sb": info, "rows": rows, "concurrency": conc}
                flow_cfg = {**base, "mode": "batch", "warm_rows": rows[:4]}
                for label, cfg in (("flow", flow_cfg), ("plain", {**base, "mode": "plain"})):
                    with c.section(f"run {run} {kind} {label}"):
                        result = c.worker(cfg, env=env if label == "flow" else None)
                    sb.reset()
                    if run:
                        results[(kind, label)].append(result)
        profiled: dict[str, dict] = {}
        for kind in ("url", "file"):
            rows = manifests[kind]
            with c.section(f"profile {kind}"):
                cfg = {
                    "sb": info,
                    "rows": rows,
                    "concurrency": conc,
                    "mode": "batch",
                    "warm_rows": rows[:4],
                    "profile": str(profile_path.with_suffix(f".{kind}.pstats")),
                }
                profiled[kind] = c.worker(cfg, env=env)
                sb.reset()

    def extra(kind: str) -> list[float]:
        """Flow wall - plain wall (s), round by round."""
        pairs = zip(results[(kind, "flow")], results[(kind, "plain")], strict=True)
        return [f["wall"] - p["wall"] for f, p in pairs]

    fixed = extra("one")
    rows = []
    for kind, n in (("url", n_url), ("file", n_file), ("one", 1)):
        flow, plain = results[(kind, "flow")], results[(kind, "plain")]
        overhead = [e / n * 1000 for e in extra(kind)]
        # the same round's one-row run stands for the fixed cost: what is left is per row
        margin = [(e - f) / n * 1000 for e, f in zip(extra(kind), fixed, strict=True)]
        name = "1 url row (fixed cost)" if kind == "one" else f"{n} {kind} rows"
        for label, got in (("upload_videos", flow), ("plain loop", plain)):
            ours = label == "upload_videos"
            rows.append(
                [
                    name,
                    label,
                    c.median([n / r["wall"] for r in got]),
                    c.median([r["wall"] for r in got]),
                    c.median([r["cpu"] / n * 1000 for r in got]),
                    c.median(overhead) if ours else "",
                    c.spread(overhead) if ours else "",
                    c.median(margin) if ours and kind != "one" else "",
                    c.pair_ratio(plain, flow, "wall") if ours else "",
                    str(got[-1]["counts"]),
                ]
            )
    body = c.table(
        [
            "manifest",
            "runner",
            "rows/s",
            "wall (s)",
            "client CPU ms/row",
            "overhead ms/row (wall)",
            "range",
            "per-row overhead without the fixed cost (ms)",
            "speed vs plain",
            "statuses (last run)",
        ],
        rows,
    )
    for kind, n in (("url", n_url), ("file", n_file)):
        prof_table, cumulative = profile_summary(profile_path.with_suffix(f".{kind}.pstats"), n)
        body += (
            f"\n\nWhere the flow's CPU goes, {n} {kind} rows (cProfile with a per-thread CPU "
            f"clock, all threads; the profiled run took {profiled[kind]['wall']:.1f} s wall, "
            f"{profiled[kind]['cpu']:.1f} s CPU):\n\n" + prof_table
        )
        body += "\n\nLargest cumulative CPU in Prefect / prefect_firework functions:\n\n```\n"
        body += "\n".join(cumulative[:15]) + "\n```"
    c.report(
        f"4. Orchestration overhead (concurrency {conc}, median of {runs} runs after a warm-up "
        "round)",
        body,
        load_before=load0,
        notes=[
            "Goal: <= 20 ms of overhead per row. The flow does more than the loop on purpose: "
            "a ledger record and lock per row, preflight of file rows, a Prefect task run per "
            "row step (2 per file row: upload_single, create_video; 1 per URL row), progress "
            "and result artifacts, and Prefect's fixed cost of a flow run (~1 s: creation, "
            "and Prefect 3.9 joins its heartbeat thread, which sleeps in 1 s steps, at exit).",
        ],
    )


if __name__ == "__main__":
    main()
