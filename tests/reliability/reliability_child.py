"""A zygote for the crash trials: imports Prefect and the flows once, then forks one child per
run, so a run starts in milliseconds instead of seconds and can be SIGKILLed at any moment.

Protocol (one JSON object per line): the test writes ``{"manifest", "ledger", "output", "log",
"env", ...}`` on stdin; the zygote forks, answers ``{"pid": N}`` at once and ``{"exit": code}``
when the child ends (``-9`` after a SIGKILL). The child sends its own output to ``log``.
An empty line or EOF ends the zygote.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback

import pandas as pd  # noqa: F401  (imported before the fork, like everything below)
from prefect.settings import temporary_settings

from prefect_firework.batch._ledger import Ledger
from prefect_firework.flows import RowErrorsFound, upload_videos


def run(args: dict) -> int:
    os.environ.update(args.get("env", {}))
    # no heartbeat thread: joining it adds up to a second to every flow run; a run where no
    # row succeeded raises RowErrorsFound, and its results file is written all the same
    with (
        temporary_settings(updates={"flows.heartbeat_frequency": None}),
        contextlib.suppress(RowErrorsFound),
    ):
        upload_videos(
            args["manifest"],
            ledger=Ledger(args["ledger"]),
            output=args["output"],
            multipart_threshold=args.get("multipart_threshold"),
            max_uploads_in_flight=args.get("max_uploads_in_flight", 8),
            recreate_uncertain=args.get("recreate_uncertain", False),
        )
    return 0


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            return
        args = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: run one flow, never return into the loop
            code = 1
            try:
                fd = os.open(args["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                code = run(args)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
