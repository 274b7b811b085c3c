"""Runs ``upload_videos`` in a process of its own, for tests that need one: a run whose
logging is configured from the environment (third-party loggers at DEBUG), or a run whose
Prefect server goes away and comes back.

Usage: ``python batch_child.py ARGS_JSON`` with ``manifest``, ``ledger``, ``credentials``
(client_id, client_secret, base_url) and optionally ``transport_params``, ``output``,
``multipart_threshold``, ``debug_loggers`` (set to DEBUG before the run) and ``signatures``
(a file that receives every SigV4 signature botocore sent). Prints the statuses as JSON.
"""

from __future__ import annotations

import json
import logging
import re
import sys


def _record_signatures(init: dict, signatures: list[str]) -> None:
    from prefect_firework.sources.s3 import shared_client

    def record(request, **_):
        header = request.headers.get("Authorization", b"")
        text = header.decode() if isinstance(header, bytes) else str(header)
        signatures.extend(re.findall(r"Signature=([0-9a-f]{64})", text))

    shared_client(init).meta.events.register("before-send.s3", record)


def main() -> None:
    args = json.loads(sys.argv[1])
    for name in args.get("debug_loggers", []):
        logging.getLogger(name).setLevel(logging.DEBUG)
    import boto3  # noqa: F401  (botocore's loggers exist before the run, as in a user's script)
    from prefect.settings import temporary_settings

    from prefect_firework.batch._ledger import Ledger
    from prefect_firework.blocks import FireworkCredentials
    from prefect_firework.flows import RowErrorsFound, upload_videos

    signatures: list[str] = []
    if args.get("signatures"):
        _record_signatures(args["transport_params"]["client_kwargs"]["S3.Client"], signatures)
    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        try:
            frame = upload_videos(
                args["manifest"],
                credentials=FireworkCredentials(**args["credentials"]),
                ledger=Ledger(args["ledger"]),
                transport_params=args.get("transport_params"),
                multipart_threshold=args.get("multipart_threshold"),
                output=args.get("output"),
            )
        except RowErrorsFound as exc:  # no row succeeded: the run failed, its table is here
            frame = exc.results
    if args.get("signatures"):
        with open(args["signatures"], "w") as handle:
            json.dump(signatures, handle)
    print(json.dumps(frame["status"].tolist()))


if __name__ == "__main__":
    main()
