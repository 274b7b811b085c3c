"""3. Cold start: from a new ``python`` process to the first part PUT.

    .venv/bin/python bench/cold.py            # 1 run after a warm-up (make bench)
    .venv/bin/python bench/cold.py --full     # 5 runs

Variants, alternated after a discarded warm-up round: ``upload_video`` with Prefect's
ephemeral API (its PREFECT_HOME already initialised by the warm-up, as on a second run), the
flow against a running ``prefect server``, our client alone, and boto3 s3transfer (to moto).
The file is 12 MiB in 5 MiB parts. Wall = time of the first ``s3_part`` request in the
sandbox's log minus the parent's ``time.time()`` just before spawning (the sandbox stamps with
``time.time()`` on the same machine; the client-side hook's stamp is shown as a check).
s3transfer talks to moto, which keeps no log, so its time is the client-side hook's.
CPU = the process's user+sys at the first PUT (plus the ephemeral API subprocess's).

Then one ``-X importtime`` run per variant splits the import time by package, and one
pyinstrument run of the flow shows where the rest goes (``bench/_work/cold-*.txt``).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

VARIANTS = ["flow, ephemeral API", "flow, running server", "client alone", "s3transfer"]


def _config(variant: str, info: dict, source: Path) -> dict:
    client = {"client alone": "client", "s3transfer": "s3transfer"}.get(variant, "flow")
    return {
        "mode": "cold",
        "client": client,
        "sb": info,
        "source": str(source),
        "concurrency": 4,
        "part_size": 5 * c.MiB,
    }


def _import_split(stderr: str) -> dict[str, float]:
    """Self import time (s) by top-level package, from ``-X importtime`` output."""
    split: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            split[m.group(4).split(".")[0]] += int(m.group(1)) / 1e6
    return dict(split)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="5 runs")
    ap.add_argument("--runs", type=int, default=None)
    args = ap.parse_args()
    runs = args.runs or (5 if args.full else 1)
    load0 = c.loadavg()
    source = c.video(12 * c.MiB, seed=2)
    eph_home = Path(tempfile.mkdtemp(prefix="bench-prefect-ephemeral-"))
    samples: dict[str, list[dict]] = defaultdict(list)
    imports: dict[str, dict[str, float]] = {}
    with c.SandboxProc() as sb, c.PrefectServer() as server:
        info = sb.for_worker()

        def env_for(variant: str) -> dict[str, str] | None:
            if variant == "flow, ephemeral API":
                # Prefect waits 20 s for its ephemeral API by default; a fresh clone's first
                # start (migrations, no .pyc yet) can take longer. The wait is not the measure.
                return {
                    "PREFECT_HOME": str(eph_home),
                    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
                }
            if variant == "flow, running server":
                return server.env()
            return None

        for run in range(runs + 1):
            for variant in VARIANTS:
                with c.section(f"run {run} {variant}"):
                    result = c.worker(_config(variant, info, source), env=env_for(variant))
                log = [r for r in sb.requests() if r["endpoint"] == "s3_part"]
                sb.reset()
                result["log_first"] = min((r["time"] for r in log), default=None)
                if run:
                    samples[variant].append(result)
        for variant in VARIANTS:  # where the import time goes
            cfg = _config(variant, info, source)
            cfg["_python_flags"] = ["-X", "importtime"]
            with c.section(f"importtime {variant}"):
                imports[variant] = _import_split(c.worker(cfg, env=env_for(variant))["stderr"])
            sb.reset()
        profiles = {}
        for variant in ("flow, running server", "client alone"):
            cfg = _config(variant, info, source)
            out = c.WORK / f"cold-{variant.split(',')[0].split()[0]}-profile.txt"
            cfg["profile"] = str(out)
            with c.section(f"pyinstrument {variant}"):
                c.worker(cfg, env=env_for(variant))
            sb.reset()
            profiles[variant] = out
    import shutil

    shutil.rmtree(eph_home, ignore_errors=True)

    rows = []
    for variant in VARIANTS:
        got = samples[variant]

        def first(r: dict) -> float:
            return r["log_first"] or r["first_put_wall"]

        wall = [first(r) - r["spawned"] for r in got]
        rows.append(
            [
                variant,
                c.median(wall),
                c.spread(wall),
                c.median([r["first_put_cpu"] for r in got]),
                c.median([(r["first_put_children_cpu"] or 0.0) for r in got]),
                c.median([r["t_main"] - r["spawned"] for r in got]),
                c.median([r["stamps"]["imported"] - r["t_main"] for r in got]),
                c.median([r["stamps"]["ready"] - r["stamps"]["imported"] for r in got]),
                c.median([first(r) - r["stamps"]["ready"] for r in got]),
                c.median(
                    [
                        (r["log_first"] - r["first_put_wall"]) * 1000
                        for r in got
                        if r["log_first"] and r["first_put_wall"]
                    ]
                ),
            ]
        )
    for row, variant in zip(rows, VARIANTS, strict=True):
        ours = imports.get(variant, {}).get("prefect_firework", 0.0)
        if variant == "s3transfer":
            row.append("-")
        elif variant == "flow, ephemeral API":
            row.append("as with a running server, plus Prefect's API start")
        else:  # our imports + our set-up + everything until the first PUT (an upper bound)
            row.append(f"<= {ours + row[7] + row[8]:.2f}")
    body = c.table(
        [
            "variant",
            "wall to first PUT (s)",
            "range",
            "CPU (s)",
            "+ child processes' CPU (s)",
            "interpreter start (s)",
            "imports (s)",
            "client set-up (s)",
            "set-up to first PUT (s)",
            "clock check: server stamp - client stamp (ms)",
            "ours (s)",
        ],
        rows,
    )
    split_rows = []
    for variant in VARIANTS:
        split = imports.get(variant, {})
        top = sorted(split.items(), key=lambda kv: -kv[1])[:4]
        split_rows.append(
            [
                variant,
                sum(split.values()),
                split.get("prefect_firework", 0.0),
                split.get("prefect", 0.0),
                ", ".join(f"{k} {v:.2f}" for k, v in top),
            ]
        )
    body += "\n\nImport time by package (one `-X importtime` run each; self times, seconds):\n\n"
    body += c.table(
        ["variant", "all imports", "prefect_firework", "prefect", "largest four"], split_rows
    )
    body += "\n\npyinstrument (first lines of the profile, wall time, main thread):\n\n```\n"
    for variant, path in profiles.items():
        text = path.read_text() if path.exists() else "(no profile)"
        body += f"# {variant}\n" + "\n".join(text.splitlines()[:40]) + "\n"
    body += "```"
    c.report(
        f"3. Cold start to the first part PUT (median of {runs} runs after a warm-up round)",
        body,
        load_before=load0,
        notes=[
            "imports = from the first line of the script to the flow/client modules imported; "
            "client set-up = credentials and client objects; set-up to first PUT = Prefect "
            "flow run (ephemeral API start), preflight, initiate, first part task.",
            "Goal: our own code (imports of prefect_firework, our set-up, preflight and "
            "initiate; not Prefect's API start) <= 1 s. 'ours' adds prefect_firework's own "
            "import time (-X importtime, self) to everything after the imports up to the first "
            "PUT, which also holds Prefect's flow and task run set-up: an upper bound.",
            "The ephemeral variant's import split includes the API server subprocess's "
            "imports (it inherits -X importtime and our stderr).",
        ],
    )


if __name__ == "__main__":
    main()
