"""One "machine" of the several-machines tests: what each worker process runs.

    python machine.py '<json>'

It runs ``upload_videos`` on its manifest with the recipe of the README's "Bigger than one
machine": credentials by block name, ``shared_rate_limit=True``, the ledger on the S3Bucket
block, locks through prefect-redis' ``RedisLockManager``. It writes its results table as JSON
Lines. The settings (``PREFECT_API_URL``, ``FIREWORK_RATE_LIMIT_*``) come from the environment.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from prefect_redis.locking import RedisLockManager

from prefect_firework.batch._ledger import Ledger
from prefect_firework.flows import upload_videos


def _wait_for_the_others(config: dict) -> None:
    """Say "ready" (imports done), then wait for the test's "go": the machines start their
    runs together, whatever each one's start-up cost."""
    Path(config["ready"]).touch()
    deadline = time.monotonic() + 180
    while not Path(config["go"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go from the test within 180 s")
        time.sleep(0.02)


def main() -> None:
    config = json.loads(sys.argv[1])
    _wait_for_the_others(config)
    ledger = Ledger(
        config["ledger"],  # "s3-bucket/<block name>"
        lock_manager=RedisLockManager(host=config["redis_host"], port=config["redis_port"]),
    )
    frame = upload_videos(
        config["manifest"],
        credentials=config["credentials"],  # a saved FireworkCredentials block's name
        ledger=ledger,
        shared_rate_limit=True,
        max_concurrency=4,
    )
    frame.to_json(config["results"], orient="records", lines=True)


if __name__ == "__main__":
    main()
