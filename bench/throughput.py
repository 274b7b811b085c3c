"""1. Multipart throughput and client CPU, side by side with curl and boto3 s3transfer.

    .venv/bin/python bench/throughput.py            # 128 MiB, concurrency 8, 1 run (make bench)
    .venv/bin/python bench/throughput.py --full     # 1 GiB, concurrency 4 and 8, 5 runs
    .venv/bin/python bench/throughput.py --part-mib auto   # the planner's part size

One local file, 16 MiB parts (``--part-mib N``, or ``auto`` for what ``plan_parts`` picks for
the size and concurrency), concurrency 4 and 8. Clients, each in its own process, in turn
(A B C ... A B C ...), after one discarded warm-up round:

- ``flow``: ``upload_video`` against a running ``prefect server`` (preflight, initiate, parts,
  complete, create: the whole flow), MD5 verification on and off;
- ``client``: ``FireworkClient`` alone, a ThreadPoolExecutor over ``upload_part``, MD5 on/off;
- ``client->moto``: the same client PUTting boto3-presigned part URLs straight to moto;
- ``s3transfer->moto``: boto3 ``upload_file`` with the equivalent ``TransferConfig`` (defaults
  otherwise, CRC32 checksums), to moto: it cannot use the sandbox's presigned-only front;
- ``curl``: ``xargs -P N curl -T`` of the same parts (pre-cut files), to the front and to moto.

Throughput is the part phase (first part request sent to last part response received), which
is the same definition for every client; the total (initiate .. complete) is shown too. CPU is
the client process's own user+sys over the whole window (curl: the curl processes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

VARIANTS = [
    # (label, client, target, verify_md5)
    ("curl -> front", "curl", "front", None),
    ("flow, MD5 on", "flow", "front", True),
    ("client, MD5 on", "client", "front", True),
    ("s3transfer -> moto", "s3transfer", "moto", None),
    ("flow, MD5 off", "flow", "front", False),
    ("client, MD5 off", "client", "front", False),
    ("curl -> moto", "curl", "moto", None),
    ("client -> moto, MD5 on", "client", "moto", True),
    # what reading and MD5-ing the file costs on its own, in the same rounds: the client's
    # CPU with MD5 on should stay within it + 0.5 CPU-s/GiB (issue 18, goal 5)
    ("MD5 alone (read + hash)", "md5", "front", None),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1 GiB file, 5 runs")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--size-mib", type=int, default=None)
    ap.add_argument("--concurrency", type=int, nargs="+", default=None)
    ap.add_argument("--only", nargs="*", help="labels to run (default: all)")
    ap.add_argument(
        "--part-mib",
        nargs="+",
        default=["16"],
        help="part sizes in MiB, or 'auto' for the planner's choice; several run in the same "
        "rounds (A B C at one size, then A B C at the next, each round)",
    )
    args = ap.parse_args()
    size = (args.size_mib or (1024 if args.full else 128)) * c.MiB
    runs = args.runs or (5 if args.full else 1)
    args.concurrency = args.concurrency or ([4, 8] if args.full else [8])
    load0 = c.loadavg()
    source = c.video(size)
    warm = c.video(12 * c.MiB, seed=1)
    variants = [v for v in VARIANTS if not args.only or v[0] in args.only]
    # (option, bytes) per concurrency, in the order given
    plans = {
        conc: [(opt, part_size_for(opt, size, conc)) for opt in args.part_mib]
        for conc in args.concurrency
    }

    samples: dict[tuple[int, str, str], list[dict]] = {}
    with c.SandboxProc() as sb, c.PrefectServer() as server:
        info = sb.for_worker()
        for conc in args.concurrency:
            cut = {part: [str(p) for p in c.split_parts(source, part)] for _, part in plans[conc]}
            for run in range(runs + 1):  # run 0 is the warm-up round, discarded
                for opt, part in plans[conc]:
                    for label, client, target, md5 in variants:
                        cfg = {
                            "mode": "upload",
                            "client": client,
                            "target": target,
                            "sb": info,
                            "source": str(source),
                            "size": size,
                            "part_size": part,
                            "concurrency": conc,
                            "verify_md5": md5 if md5 is not None else True,
                            "warm_source": str(warm),
                            "parts": cut[part],
                            # the client and curl rows to the front skip the complete (it
                            # says nothing of the client); the flow must complete
                            "complete": client == "flow" or target == "moto",
                        }
                        prefect_cpu = c.tree_cpu(server.proc)
                        with c.section(f"c={conc} run {run} {part // c.MiB} MiB {label}"):
                            result = c.worker(cfg, env=server.env() if client == "flow" else None)
                        # what the Prefect server spent on this run's task runs (flow rows)
                        result["prefect_cpu"] = c.tree_cpu(server.proc) - prefect_cpu
                        sb.reset()
                        if run:
                            samples.setdefault((conc, opt, label), []).append(result)

    gib = size / c.GiB
    mib = size / c.MiB
    rows = []
    for conc in args.concurrency:
        for opt, part in plans[conc]:
            curl = {t: samples.get((conc, opt, f"curl -> {t}"), []) for t in ("front", "moto")}
            s3t = samples.get((conc, opt, "s3transfer -> moto"), [])
            md5 = samples.get((conc, opt, "MD5 alone (read + hash)"), [])
            for label, kind, target, _md5 in variants:
                got = samples[(conc, opt, label)]
                if kind == "md5":  # no part phase, no server: its CPU is the row
                    rows.append(
                        [conc, "-", label, "-", "-", "-", c.median([r["cpu"] / gib for r in got])]
                        + ["-"] * 6
                    )
                    continue

                def ratio(base: list[dict], key: str, got: list[dict] = got) -> float:
                    """Reference / ours for times, ours / reference for CPU, round by round."""
                    if key == "cpu":
                        return c.pair_ratio(got, base, key)
                    return c.pair_ratio(base, got, key)

                parts_mibs = [mib / r["parts_wall"] for r in got if r.get("parts_wall")]
                rows.append(
                    [
                        conc,
                        f"{part // c.MiB} MiB x {-(-size // part)}"
                        + (" (planner)" if opt == "auto" else ""),
                        label,
                        c.median(parts_mibs),
                        c.spread(parts_mibs),
                        c.median([mib / r["wall"] for r in got]) if got[0]["completed"] else "-",
                        c.median([r["cpu"] / gib for r in got]),
                        ratio(curl[target], "parts_wall"),
                        ratio(s3t, "parts_wall"),
                        ratio(curl[target], "cpu"),
                        ratio(s3t, "cpu"),
                        c.median([r["prefect_cpu"] / gib for r in got]) if kind == "flow" else "-",
                        # round by round: this client's CPU beyond reading + MD5-ing the file
                        c.median(
                            [(r["cpu"] - m["cpu"]) / gib for r, m in zip(got, md5, strict=False)]
                        )
                        if md5 and kind in ("client", "flow") and _md5
                        else "-",
                    ]
                )
    body = c.table(
        [
            "conc",
            "parts",
            "client",
            "part-phase MiB/s (median)",
            "range",
            "end-to-end MiB/s",
            "CPU-s/GiB",
            "speed vs curl (same server)",
            "speed vs s3transfer",
            "CPU vs curl",
            "CPU vs s3transfer",
            "Prefect server CPU-s/GiB",
            "CPU-s/GiB beyond MD5 alone",
        ],
        rows,
    )
    part_label = "parts of " + " and ".join(
        "the planner's size" if opt == "auto" else f"{opt} MiB" for opt in args.part_mib
    )
    c.report(
        f"1. Multipart throughput and client CPU ({mib:.0f} MiB, {part_label}, "
        f"median of {runs} runs after a warm-up round)",
        body,
        load_before=load0,
        notes=[
            "front = the sandbox's strict S3 front (presigned URLs from the API); moto = moto's "
            "S3 server directly (boto3-presigned URLs, or s3transfer's signed requests).",
            "part-phase = first part request sent .. last part response received, the same "
            "definition for every client; end-to-end = initiate .. complete (flow: the whole "
            "upload_video call), shown only where the run completed the upload (client and "
            "curl rows to the front skip the sandbox's complete to keep the benchmark short).",
            "speed ratios > 1 mean faster than the reference; CPU ratios < 1 mean less CPU. "
            "Each ratio is computed run by run (same round), then the median is taken.",
            "flow = upload_video against a running prefect server (total includes preflight, "
            "Prefect task runs and the video create); client = FireworkClient + "
            "ThreadPoolExecutor; both after a warm-up upload in the same process.",
            f"Prefect server start took {server.start_seconds:.1f} s (not in any number).",
            "Prefect server CPU = what the `prefect server` process tree used while the flow "
            "worker ran (one task run per part plus ~6 others: events, state changes, logs), "
            "including the worker's 12 MiB warm-up flow run (~7 task runs). It shares the 2 "
            "cores with the sandbox and the client, as the client's CPU does.",
        ],
    )


def part_size_for(option: str, size: int, concurrency: int) -> int:
    """``--part-mib``: a size in MiB, or ``auto``: the first part ``plan_parts`` would cut."""
    if option == "auto":
        from prefect_firework.batch._parts import plan_parts

        return plan_parts(size, concurrency=concurrency)[0].length
    return int(option) * c.MiB


if __name__ == "__main__":
    main()
