"""9. Scale: one ``upload_videos`` of 1,000 to 20,000 rows; speed and memory per row.

    .venv/bin/python bench/scale.py              # 200 and 600 URL rows, 50 file rows
    .venv/bin/python bench/scale.py --full       # 1,000 / 5,000 / 20,000 URL, 2,000 file rows
    .venv/bin/python bench/scale.py --trace 12   # + tracemalloc at the smallest, largest size

Each manifest runs once per round in a fresh process that has already run a 4-row batch
(imports, clients, connections exist), against a running ``prefect server`` and a sandbox in
its own process, limits lifted (the sandbox's and the flow's pacer: 10^6 creates per second).
URL rows are sync imports of a 64 KiB MP4 served on loopback; file rows are 64 KiB local MP4s.

Per size: rows/s, ms/row (wall), the flow process's peak RSS (``VmHWM``, reset just before the
run) and its growth over the RSS before the run, client CPU ms/row (the flow process's
user+sys), Prefect server CPU ms/row (its process tree). Memory per row is the growth's slope
between the smallest and the largest URL size; per-row wall at the largest size is compared
with the smallest. ``--trace N`` runs the smallest and largest URL sizes again under
tracemalloc (N frames) and lists the allocation sites whose memory, held when every row is
done and before the results are written, grew most per row between them.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

LIFTED = {"FIREWORK_RATE_LIMIT_CREATES": "1000000", "FIREWORK_RATE_LIMIT_WINDOW": "1"}
KiB = 1024


def _settle(server: Any, *, idle: float = 0.1, window: float = 2.0, limit: float = 900) -> float:
    """Wait until the Prefect server has worked off the last run's events (under ``idle`` of a
    core over ``window`` seconds); return the seconds it took. A server still busy with a
    5,000-row run's events answered 503 to the next flow run's creation."""
    import time

    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = c.tree_cpu(server.proc)
        time.sleep(window)
        if c.tree_cpu(server.proc) - before < idle * window:
            break
    return time.monotonic() - started


def _run(sb: Any, server: Any, rows: list[dict[str, Any]], conc: int, **extra: Any) -> dict:
    _settle(server)
    cfg = {
        "sb": sb.for_worker(),
        "rows": rows,
        "concurrency": conc,
        "mode": "batch",
        "warm_rows": rows[:4],
        **extra,
    }
    cpu0 = c.tree_cpu(server.proc)
    result = c.worker(cfg, env={**server.env(), **LIFTED}, timeout=3600)
    # the server works off the run's events after the flow ends: count that too
    result["settled_after"] = _settle(server)
    result["server_cpu"] = c.tree_cpu(server.proc) - cpu0
    sb.reset()
    return result


def _trace_diff(small: dict, large: dict, extra_rows: int) -> list[list[Any]]:
    """Allocation sites by growth between two traced runs, in bytes per extra row."""

    def sites(result: dict) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for stat in result["traced"]["top"]:
            out[" <- ".join(stat["where"][:6])] += stat["size"]
        return out

    a, b = sites(small), sites(large)
    grown = sorted(((b[k] - a.get(k, 0), k) for k in b), reverse=True)
    return [
        [f"{d / extra_rows:.0f}", f"{b[k] / KiB:.0f}", f"`{k}`"] for d, k in grown[:15] if d > 0
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1k/5k/20k URL rows, 2k file rows")
    ap.add_argument("--url-rows", type=int, nargs="+", default=None)
    ap.add_argument("--file-rows", type=int, default=None)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--trace", type=int, default=0, help="tracemalloc frames (0: off)")
    args = ap.parse_args()
    url_sizes = args.url_rows or ([1000, 5000, 20000] if args.full else [200, 600])
    n_file = args.file_rows if args.file_rows is not None else (2000 if args.full else 50)
    conc = args.concurrency
    load0 = c.loadavg()
    served, small = c.served_clip()
    config = {"rate_limit_count": 1_000_000, "rate_limit_window": 1.0, "transcoding_delay": 0.01}
    samples: dict[tuple[str, int], list[dict]] = defaultdict(list)
    traced: dict[int, dict] = {}
    failures: list[str] = []
    with c.SandboxProc(**config) as sb, c.PrefectServer() as server, c.FileServer(served) as fs:
        channel = sb.for_worker()["channel_id"]
        manifests = [("url", n, c.url_rows(fs.url, [channel], n)) for n in url_sizes]
        if n_file:
            file_rows = [{"source": str(small), "channel_id": channel} for _ in range(n_file)]
            manifests.append(("file", n_file, file_rows))
        for run in range(args.runs):
            for kind, n, rows in manifests:
                with c.section(f"run {run} {n} {kind} rows"):
                    try:
                        samples[(kind, n)].append(_run(sb, server, rows, conc))
                    except Exception as exc:  # reported, and the other sizes still are
                        failures.append(f"run {run}, {n} {kind} rows: {str(exc)[-300:]!r}")
                        with contextlib.suppress(Exception):
                            sb.reset()
        if args.trace:
            for n in (url_sizes[0], url_sizes[-1]):
                rows = c.url_rows(fs.url, [channel], n)
                with c.section(f"tracemalloc {n} url rows"):
                    traced[n] = _run(sb, server, rows, conc, tracemalloc=args.trace, trace_top=60)

    table_rows = []
    for (kind, n), got in samples.items():
        table_rows.append(
            [
                f"{n} {kind} rows",
                c.median([n / r["wall"] for r in got]),
                c.median([r["wall"] / n * 1000 for r in got]),
                c.median([r["peak_rss"] / c.MiB for r in got]),
                c.median([(r["peak_rss"] - r["rss_before"]) / c.MiB for r in got]),
                c.median([r["cpu"] / n * 1000 for r in got]),
                c.median([r["server_cpu"] / n * 1000 for r in got]),
                str(got[-1]["counts"]),
                c.median([r["settled_after"] for r in got]),
            ]
        )
    body = c.table(
        [
            "manifest",
            "rows/s",
            "ms/row",
            "peak RSS (MiB)",
            "growth in the run (MiB)",
            "flow CPU ms/row",
            "Prefect server CPU ms/row",
            "statuses",
            "server busy after the run (s)",
        ],
        table_rows,
    )
    measured = [n for n in url_sizes if samples.get(("url", n))]
    notes = [f"Failed (not in the table): {failure}" for failure in failures]
    notes.append(
        "After each run the script waits until the Prefect server has worked off the run's "
        "events (under 0.1 core over 2 s) before the next starts: 'server busy after the run' "
        "is how long that took (its last 2 s window included), and the Prefect server CPU "
        "includes it."
    )
    if len(measured) >= 2:
        lo, hi = measured[0], measured[-1]
        growth = {
            n: c.median([r["peak_rss"] - r["rss_before"] for r in samples[("url", n)]])
            for n in (lo, hi)
        }
        per_row = (growth[hi] - growth[lo]) / (hi - lo) / KiB
        wall = {n: c.median([r["wall"] / n for r in samples[("url", n)]]) for n in (lo, hi)}
        notes += [
            f"Memory per row, {lo} -> {hi} URL rows (slope of the growth): {per_row:.2f} "
            "KiB/row (goal <= 8).",
            f"Per-row wall at {hi} rows vs {lo}: {wall[hi] / wall[lo]:.2f}x (goal <= 1.1x).",
        ]
    lo, hi = url_sizes[0], url_sizes[-1]
    if traced:
        body += (
            f"\n\nHeld when every row is done (tracemalloc, {args.trace} frames), sites that grew"
            f" most from {lo} to {hi} URL rows:\n\n"
            + c.table(
                ["bytes/row", f"KiB at {hi}", "allocation site (innermost first)"],
                _trace_diff(traced[lo], traced[hi], hi - lo),
            )
        )
        notes.append(
            "Traced in all: "
            + ", ".join(
                f"{n} rows: {t['traced']['current'] / c.MiB:.1f} MiB when every row is done, "
                f"peak {t['traced']['end_peak'] / c.MiB:.1f} MiB (the run's end included)"
                for n, t in traced.items()
            )
        )
    c.report(
        f"9. Scale (concurrency {conc}, {args.runs} run(s) per size)",
        body,
        load_before=load0,
        notes=notes,
    )


if __name__ == "__main__":
    main()
