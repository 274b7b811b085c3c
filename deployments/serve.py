"""Serve prefect-firework's deployments without a work pool: ``python deployments/serve.py``.

The same three deployments as ``deployments/prefect.yaml`` (same flows, schedules and
parameters), for users who would rather keep one long-running process than run a server-side
work pool and a worker. ``serve()`` registers the deployments with the Prefect API, then polls
for their scheduled and manually triggered runs and executes each in a subprocess of this one,
until Ctrl-C or SIGTERM (which pause the schedules: nothing piles up while nobody serves).

    prefect server start                       # or Prefect Cloud
    python deployments/serve.py --credentials firework --bucket s3://media
    prefect deployment run 'upload-manifest/nightly-manifest-upload' -p date=2026-11-27

Runs happen on this machine: the idempotency ledger's local file locks and the in-process
create pacer are enough as long as one serve process handles a channel. Serving the same
deployments from several machines needs what prefect.yaml's comments describe
(``shared_rate_limit``, a shared ``ledger`` block).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from prefect import serve
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron, Interval

from prefect_firework.flows.deployments import import_manifest, update_manifest, upload_manifest

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

#: prefect.yaml's defaults: a saved FireworkCredentials block and a bucket prefix to edit
CREDENTIALS = "firework"
BUCKET = "s3://bucket"


def build_deployments(
    credentials: str = CREDENTIALS, bucket: str = BUCKET
) -> list[RunnerDeployment]:
    """The three deployments of prefect.yaml, with manifests under ``bucket`` (any prefix
    smart-open reads: ``s3://media``, ``gs://media``, ``/data``...)."""
    bucket = bucket.rstrip("/")
    module = EntrypointType.MODULE_PATH  # the same entry points as prefect.yaml
    nightly = upload_manifest.to_deployment(
        "nightly-manifest-upload",
        description="Every night at 02:00 UTC, upload yesterday's manifest of videos and "
        "write the results table next to it.",
        tags=["firework", "upload", "nightly"],
        schedules=[Cron("0 2 * * *", timezone="UTC")],
        concurrency_limit=1,
        entrypoint_type=module,
        parameters={
            "manifest": f"{bucket}/manifests/{{date}}.parquet",
            "credentials": credentials,
            "output": None,
            "days_ago": 1,
            "timezone": "UTC",
            "max_concurrency": 8,
            "max_uploads_in_flight": 8,
            "shared_rate_limit": False,
            "ledger": None,
            "transport_params": None,
            "cluster_address": None,
            "fail_on_row_errors": False,
        },
    )
    imports = import_manifest.to_deployment(
        "url-imports",
        description="Every 15 minutes, import the URL rows of today's import manifest.",
        tags=["firework", "import"],
        schedules=[Interval(900, timezone="UTC")],
        concurrency_limit=1,
        entrypoint_type=module,
        parameters={
            "manifest": f"{bucket}/imports/{{date}}.csv",
            "credentials": credentials,
            "output": None,
            "days_ago": 0,
            "timezone": "UTC",
            "asynchronous": True,
            "max_concurrency": 8,
            "shared_rate_limit": False,
            "ledger": None,
            "transport_params": None,
            "fail_on_row_errors": False,
        },
    )
    updates = update_manifest.to_deployment(
        "video-updates",
        description="On demand: PATCH the videos listed in an update manifest.",
        tags=["firework", "update"],
        entrypoint_type=module,
        parameters={
            "manifest": f"{bucket}/updates/{{date}}.csv",
            "credentials": credentials,
            "output": None,
            "max_concurrency": 8,
            "transport_params": None,
            "fail_on_row_errors": False,
        },
    )
    return [nightly, imports, updates]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", default=CREDENTIALS, help="FireworkCredentials block")
    parser.add_argument("--bucket", default=BUCKET, help="prefix of the manifests folders")
    parser.add_argument("--limit", type=int, default=4, help="flow runs at once")
    args = parser.parse_args(argv)
    serve(*build_deployments(args.credentials, args.bucket), limit=args.limit)


if __name__ == "__main__":
    main()
