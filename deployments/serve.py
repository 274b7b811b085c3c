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
from typing import TYPE_CHECKING, Any, NamedTuple

from prefect import serve
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron, Interval

from prefect_firework.flows.deployments import import_manifest, update_manifest, upload_manifest

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

#: prefect.yaml's defaults: a saved FireworkCredentials block and a bucket prefix to edit
CREDENTIALS = "firework"
BUCKET = "s3://bucket"


class _Deployment(NamedTuple):
    """One entry of prefect.yaml's ``deployments:``, so that adding or changing a deployment
    is one row of ``_deployments`` to hold against the YAML rather than another copy of the
    ``to_deployment`` call. A NamedTuple, not a dataclass: a dataclass with string annotations
    looks its module up in ``sys.modules``, which a script loaded from its path (the tests'
    ``spec_from_file_location``) is not in."""

    flow: Flow[..., Any]
    name: str
    description: str
    tags: tuple[str, ...]
    #: the ``manifest`` template, under the bucket
    manifest: str
    #: the parameters after ``manifest`` and ``credentials``, in prefect.yaml's order (those left
    #: out take the flow's default: ``None`` is no value for them in the deployment's schema)
    options: dict[str, Any]
    schedules: tuple[Schedule, ...] = ()
    concurrency_limit: int | None = None

    def parameters(self, credentials: str, bucket: str) -> dict[str, Any]:
        """prefect.yaml's parameters: every deployment reads its manifest under ``bucket``
        with the ``credentials`` block and writes the results next to it (no ``output``); its
        own options follow."""
        return {"manifest": f"{bucket}/{self.manifest}", "credentials": credentials, **self.options}


def _deployments() -> tuple[_Deployment, ...]:
    """prefect.yaml's three deployments. Made per call rather than once at import, as the
    calls were before: an ``Interval`` is anchored at the moment it is made."""
    return (
        _Deployment(
            upload_manifest,
            "nightly-manifest-upload",
            description="Every night at 02:00 UTC, upload yesterday's manifest of videos and "
            "write the results table next to it.",
            tags=("firework", "upload", "nightly"),
            schedules=(Cron("0 2 * * *", timezone="UTC"),),
            concurrency_limit=1,
            manifest="manifests/{date}.parquet",
            options={
                "days_ago": 1,
                "timezone": "UTC",
                "max_concurrency": 8,
                "max_uploads_in_flight": 8,
                "shared_rate_limit": False,
                "fail_on_row_errors": False,
            },
        ),
        _Deployment(
            import_manifest,
            "url-imports",
            description="Every 15 minutes, import the URL rows of today's import manifest.",
            tags=("firework", "import"),
            schedules=(Interval(900, timezone="UTC"),),
            concurrency_limit=1,
            manifest="imports/{date}.csv",
            options={
                "days_ago": 0,
                "timezone": "UTC",
                "asynchronous": True,
                "max_concurrency": 8,
                "shared_rate_limit": False,
                "fail_on_row_errors": False,
            },
        ),
        _Deployment(
            update_manifest,
            "video-updates",
            description="On demand: PATCH the videos listed in an update manifest.",
            tags=("firework", "update"),
            manifest="updates/{date}.csv",
            options={"max_concurrency": 8, "fail_on_row_errors": False},
        ),
    )


def build_deployments(
    credentials: str = CREDENTIALS, bucket: str = BUCKET
) -> list[RunnerDeployment]:
    """The three deployments of prefect.yaml, with manifests under ``bucket`` (any prefix
    smart-open reads: ``s3://media``, ``gs://media``, ``/data``...)."""
    bucket = bucket.rstrip("/")
    return [
        spec.flow.to_deployment(
            spec.name,
            description=spec.description,
            tags=list(spec.tags),
            schedules=list(spec.schedules),
            concurrency_limit=spec.concurrency_limit,
            entrypoint_type=EntrypointType.MODULE_PATH,  # the same entry points as prefect.yaml
            parameters=spec.parameters(credentials, bucket),
        )
        for spec in _deployments()
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", default=CREDENTIALS, help="FireworkCredentials block")
    parser.add_argument("--bucket", default=BUCKET, help="prefix of the manifests folders")
    parser.add_argument("--limit", type=int, default=4, help="flow runs at once")
    args = parser.parse_args(argv)
    serve(*build_deployments(args.credentials, args.bucket), limit=args.limit)


if __name__ == "__main__":
    main()
