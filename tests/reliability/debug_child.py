"""A run at DEBUG with smart-open's and botocore's loggers sent to the Prefect API, as a user
debugging an S3 source would set it up; what it signed is written to ``signatures``.

Usage: ``python debug_child.py ARGS_JSON`` with ``manifest``, ``ledger``, ``transport_params``,
``credentials`` (client_id, client_secret, base_url) and ``signatures`` (a file path).
"""

from __future__ import annotations

import json
import logging
import re
import sys


def main() -> None:
    args = json.loads(sys.argv[1])
    for name in ("smart_open", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    import boto3  # noqa: F401  (botocore's loggers exist before the run, as in a user's script)
    from prefect.settings import temporary_settings

    from prefect_firework.blocks import FireworkCredentials
    from prefect_firework.flows.batch import upload_videos
    from prefect_firework.ledger import Ledger
    from prefect_firework.sources.s3 import shared_client

    signatures: list[str] = []

    def record(request, **_):  # every SigV4 signature botocore puts on the wire
        header = request.headers.get("Authorization", b"")
        text = header.decode() if isinstance(header, bytes) else str(header)
        signatures.extend(re.findall(r"Signature=([0-9a-f]{64})", text))

    init = args["transport_params"]["client_kwargs"]["S3.Client"]
    shared_client(init).meta.events.register("before-send.s3", record)
    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        frame = upload_videos(
            args["manifest"],
            credentials=FireworkCredentials(**args["credentials"]),
            ledger=Ledger(args["ledger"]),
            transport_params=args["transport_params"],
            multipart_threshold=args["multipart_threshold"],
        )
    with open(args["signatures"], "w") as handle:
        json.dump(signatures, handle)
    print(json.dumps(frame["status"].tolist()))


if __name__ == "__main__":
    main()
