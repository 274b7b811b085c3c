"""5. Pacing: ``upload_videos`` creates under a 20-per-10-s per-channel limit.

    .venv/bin/python bench/pacing.py            # 30 creates, 10 per 5 s, 1 run (make bench)
    .venv/bin/python bench/pacing.py --full     # 60 creates, 20 per 10 s, 3 runs

The sandbox enforces ``limit`` creates per ``window`` seconds per channel and the flow is told
the same budget (``FIREWORK_RATE_LIMIT_CREATES`` / ``FIREWORK_RATE_LIMIT_WINDOW``). Rows are
sync URL imports of a small MP4 served on loopback, on one channel, then spread over three.

Makespan = first create request received by the sandbox .. last create answered (the sandbox's
log). Theoretical minimum = (ceil(creates per channel / limit) - 1) x window + the time a plain
loop (no Prefect, same concurrency) takes for the last batch (``limit`` creates per channel on
every channel), measured in the same round.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def _slack(values: list[float]) -> str:
    if not values:
        return "- (no waits)"
    return f"{c.median(values) * 1000:.0f} / {max(values) * 1000:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="60 creates, 20 per 10 s, 3 runs")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--creates", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--window", type=float, default=None)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    runs = args.runs or (3 if args.full else 1)
    creates = args.creates or (60 if args.full else 30)
    limit = args.limit or (20 if args.full else 10)
    window = args.window or (10.0 if args.full else 5.0)
    conc = args.concurrency
    load0 = c.loadavg()
    served, _clip = c.served_clip()
    config = {"rate_limit_count": limit, "rate_limit_window": window, "transcoding_delay": 0.01}
    env_limits = {
        "FIREWORK_RATE_LIMIT_CREATES": str(limit),
        "FIREWORK_RATE_LIMIT_WINDOW": str(window),
    }
    out: dict[int, list[dict]] = defaultdict(list)
    with c.SandboxProc(**config) as sb, c.PrefectServer() as server, c.FileServer(served) as fs:
        info = sb.for_worker()
        for run in range(runs):
            for channels in (1, 3):
                ids = info["channel_ids"][:channels]
                rows = c.url_rows(fs.url, ids, creates)
                per_channel = math.ceil(creates / channels)
                batch = [r for i, r in enumerate(rows) if i // channels < min(limit, per_channel)]
                with c.section(f"run {run} plain last batch, {channels} channel(s)"):
                    plain = c.worker(
                        {"mode": "plain", "sb": info, "rows": batch, "concurrency": conc}
                    )
                sb.reset()
                with c.section(f"run {run} flow, {channels} channel(s)"):
                    flow = c.worker(
                        {"mode": "batch", "sb": info, "rows": rows, "concurrency": conc},
                        env={**server.env(), **env_limits},
                    )
                log = [r for r in sb.requests() if r["endpoint"] == "create_video"]
                sb.reset()
                first = min(r["time"] for r in log)
                last = max(r["time"] + r["duration"] for r in log)
                minimum = (math.ceil(per_channel / limit) - 1) * window + plain["wall"]
                # pacing precision (one channel): how long after its window allowed it the
                # server received each create beyond the first `limit` (server stamps)
                times = sorted(r["time"] for r in log)
                slack = [times[i] - times[i - limit] - window for i in range(limit, len(times))]
                out[channels].append(
                    {
                        "makespan": last - first,
                        "minimum": minimum,
                        "plain_batch": plain["wall"],
                        "flow_wall": flow["wall"],
                        "r429": sum(1 for r in log if r["status"] == 429),
                        "ok": sum(1 for r in log if r["status"] in (200, 201)),
                        "counts": flow["counts"],
                        "slack": slack if channels == 1 else [],
                    }
                )

    rows_out = []
    for channels, got in sorted(out.items()):
        rows_out.append(
            [
                f"{creates} creates on {channels} channel(s)",
                c.median([g["makespan"] for g in got]),
                c.median([g["minimum"] for g in got]),
                f"{c.median([g['makespan'] / g['minimum'] for g in got]):.3f}",
                c.spread([g["makespan"] / g["minimum"] for g in got]),
                c.median([g["makespan"] - g["minimum"] for g in got]),
                c.median([g["flow_wall"] for g in got]),
                _slack([x for g in got for x in g["slack"]]),
                sum(g["r429"] for g in got),
                f"{len(got)}",
                str(got[-1]["counts"]),
            ]
        )
    body = c.table(
        [
            "scenario",
            "makespan (s)",
            "theoretical minimum (s)",
            "ratio",
            "range",
            "excess (s)",
            "flow wall (s)",
            "create sent after its window allowed it (ms, median / max)",
            "429s (all runs)",
            "runs",
            "statuses (last run)",
        ],
        rows_out,
    )
    c.report(
        f"5. Pacing: {creates} creates, sandbox limit {limit} per {window:g} s per channel "
        f"(concurrency {conc}, median of {runs} run(s))",
        body,
        load_before=load0,
        notes=[
            "Goal: makespan <= 1.02x the minimum with zero 429s. The minimum's last-batch term "
            "is a plain loop's time for the same creates, so with several channels (no waiting "
            "at all) the ratio measures the flow's per-create orchestration cost, not pacing.",
        ],
    )


if __name__ == "__main__":
    main()
