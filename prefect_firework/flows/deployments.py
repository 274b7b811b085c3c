"""Flows made to be deployed: the batch flows behind parameters a schedule can carry.

A deployment's parameters are JSON, fixed when it is created, and Prefect does not template
dates into them. A nightly job, though, reads *tonight's* manifest. So these thin flows take
the manifest URI as a template, ``s3://media/manifests/{date}.parquet``, fill in ``{date}``
from the run's scheduled start (in ``timezone``, minus ``days_ago``; or from an explicit
``date``), resolve the credentials block once, and call the batch flow as a subflow (which
keeps its own run, artifacts and results table; the artifacts are published on the
deployment's run too, the one ``prefect deployment run`` prints). Results are written next to
the manifest (``2026-11-27.parquet`` -> ``2026-11-27.results.parquet``) unless ``output``
says otherwise.

They return a small JSON summary rather than the DataFrame: it is what the UI shows and what
``run_deployment`` hands back; the full table is in the output file and the subflow's artifact.

``deployments/prefect.yaml`` and ``deployments/serve.py`` deploy them as
``upload-manifest/nightly-manifest-upload`` (cron), ``import-manifest/url-imports``
(interval) and ``update-manifest/video-updates`` (on demand). Entry points are module paths
(``prefect_firework.flows.deployments.upload_manifest``), so a worker imports them from the
installed package and needs no copy of any source tree.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import posixpath
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from prefect import flow, get_run_logger
from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from prefect_firework.batch._ledger import Ledger
from prefect_firework.batch._manifest import manifest_format, read_manifest
from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.flows._batch import import_videos, upload_videos
from prefect_firework.flows._videos import update_videos
from prefect_firework.runners import cluster_task_runner

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.states import State

__all__ = [
    "TEMPLATE_FIELDS",
    "import_manifest",
    "render_template",
    "results_next_to",
    "run_date",
    "update_manifest",
    "upload_manifest",
]

#: the placeholders a manifest or output template may hold
TEMPLATE_FIELDS = frozenset({"date"})


def _iso_day(date: str) -> dt.date:
    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"date must be an ISO date (YYYY-MM-DD), got {date!r}") from None


def run_date(
    date: dt.date | str | None = None, *, days_ago: int = 0, timezone: str = "UTC"
) -> dt.date:
    """The day a run is about: ``date`` (a ``datetime.date`` or ISO ``YYYY-MM-DD``) if given,
    else the day of the run's *scheduled* start in ``timezone`` minus ``days_ago``.

    The scheduled start, not the wall clock: a run that waited in a queue past midnight, or a
    late retry, still processes the day it was scheduled for. Outside a flow run Prefect
    reports "now" as the scheduled start.
    """
    if isinstance(date, dt.datetime):
        return date.date()
    if isinstance(date, dt.date):
        return date
    if date:
        return _iso_day(str(date))
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {timezone!r} (use an IANA name)") from None
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    moment = dt.datetime.fromisoformat(str(scheduled)) if isinstance(scheduled, str) else scheduled
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(zone).date() - dt.timedelta(days=days_ago)


def render_template(template: str, day: dt.date) -> str:
    """Fill ``{date}`` (``2026-11-27``; ``{date:%Y/%m/%d}`` for another layout) into
    ``template``. Any other placeholder is an error, so a typo fails before anything runs;
    write ``{{`` and ``}}`` for literal braces."""
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        if root not in TEMPLATE_FIELDS:
            raise ValueError(
                f"unknown placeholder {{{field}}} in {template!r}; only {{date}} is filled in"
            )
    return template.format(date=day)


def results_next_to(manifest: str) -> str:
    """Where a manifest's results go by default: beside it, ``<stem>.results<ext>`` in the
    manifest's own format (``s3://b/m/2026-11-27.parquet`` -> ``.../2026-11-27.results.parquet``).
    """
    location = os.fspath(manifest)
    if location.split("://", 1)[0].lower() in ("http", "https"):
        raise ValueError(
            f"cannot write results next to an HTTP manifest ({location!r}); pass output="
        )
    _, compression = manifest_format(location)
    if "://" in location:
        folder, sep, name = location.rpartition("/")
    else:
        folder, name = os.path.split(location)
        sep = os.sep if folder else ""
    stem = name[: -len(compression)] if compression else name
    base, extension = posixpath.splitext(stem)
    return f"{folder}{sep}{base}.results{extension}{compression or ''}"


# ------------------------------------------------------------------- the Run form's fields
#
# Prefect builds a deployment's parameter schema from the flow's signature, and the UI builds
# the Run form from the schema: ``format: date`` is a date picker, a ``$ref`` to a block's
# definition a block selector, each ``anyOf`` a row of tabs, a ``null`` member among them a
# "None" tab (``Property is type "None"``). The form starts every field at its schema default,
# ``null`` included, and validates what it submits, where ``null`` passes only if the schema
# lists it. So ``str | None = None`` puts a "None" tab on every optional field, and hiding the
# ``None`` alone (``SkipJsonSchema``) leaves ``default: null``, which the form then refuses.
# These annotations keep the Python types and the ``None`` defaults and give the form an empty
# default instead, ``""`` or ``{}``, which validation turns back into ``None``. ``date`` keeps
# its ``null`` (no empty value is a date), as a tab that says what it means.


def _blank_is_none(value: Any) -> Any:
    """The form's empty field, ``""`` or ``{}``: the parameter's Python default, ``None``."""
    return None if isinstance(value, (str, dict)) and not value else value


def _as_day(value: Any) -> Any:
    """``date`` as the form or a caller gives it: an ISO string (``""``: none), or a date."""
    if isinstance(value, str):
        return _iso_day(value) if value else None
    return value


#: optional text: a text box, empty by default
FormText = Annotated[
    str | SkipJsonSchema[None],
    BeforeValidator(_blank_is_none),
    Field(json_schema_extra={"default": ""}),
]
#: an optional JSON object (smart-open's transport parameters): a JSON editor holding ``{}``
FormJSON = Annotated[
    dict[str, Any] | SkipJsonSchema[None],
    BeforeValidator(_blank_is_none),
    Field(json_schema_extra={"default": {}}),
]
#: a FireworkCredentials block (the block selector) or a saved block's name (a text box)
FormCredentials = Annotated[
    FireworkCredentials | str | SkipJsonSchema[None],
    BeforeValidator(_blank_is_none),
    Field(json_schema_extra={"default": ""}),
]
#: a date picker, or ``None``: the day of the run's scheduled start
FormDate = Annotated[
    dt.date | Annotated[None, WithJsonSchema({"type": "null", "title": "scheduled day"})],
    BeforeValidator(_as_day),
]


def _with_runner(batch_flow: Flow[..., Any], cluster_address: str | None) -> Flow[..., Any]:
    if not cluster_address:
        return batch_flow
    return batch_flow.with_options(task_runner=cluster_task_runner(cluster_address))


@dataclass(frozen=True)
class _Dated:
    """A deployment flow's templates and how its day is picked: five parameters that only
    mean something together, handed to ``_run_batch`` as one value."""

    manifest: str
    output: str | None
    date: dt.date | str | None
    days_ago: int = 0
    timezone: str = "UTC"

    def locations(self) -> tuple[dt.date, str, str]:
        """The run's day, the manifest's URI and where its results go."""
        day = run_date(self.date, days_ago=self.days_ago, timezone=self.timezone)
        uri = render_template(self.manifest, day)
        out = render_template(self.output, day) if self.output else results_next_to(uri)
        return day, uri, out


def _credentials(credentials: FireworkCredentials | str | None) -> FireworkCredentials:
    """Load the block once for the whole run (every task would otherwise load it from the
    API again), and fail before the manifest is read if it does not exist."""
    return resolve_credentials(_blank_is_none(credentials))


def _summary(frame: pd.DataFrame, day: dt.date, uri: str, out: str | None) -> dict[str, Any]:
    statuses = {str(k): int(v) for k, v in frame["status"].value_counts().sort_index().items()}
    get_run_logger().info("%s: %d rows %s; results in %s", uri, len(frame), statuses, out)
    return {
        "date": day.isoformat(),
        "manifest": uri,
        "output": out,
        "rows": len(frame),
        "statuses": statuses,
    }


class _Absent(enum.Enum):
    """A keyword ``_run_batch`` leaves out of the batch flow's call: ``update_videos`` takes
    no ``ledger``, and ``None`` already means "the default ledger storage"."""

    KEYWORD = enum.auto()


def _run_batch(
    batch_flow: Flow[..., pd.DataFrame],
    dated: _Dated,
    *,
    credentials: FireworkCredentials | str | None,
    transport_params: dict[str, Any] | None,
    cluster_address: str | None = None,
    ledger: str | _Absent | None = _Absent.KEYWORD,
    url: str | None = None,
    **batch_kwargs: Any,
) -> dict[str, Any]:
    """The body the deployment flows share, so that how a dated manifest becomes a batch run
    (its locations, the credentials loaded once, the cluster, the summary) is written once.
    The flows keep their explicit signatures because Prefect builds each deployment's
    parameter schema from them; ``batch_kwargs`` are the batch flow's own options, passed on
    as they are.

    The steps run in the order the flows always ran them, so the same mistake fails first:
    the dates and templates, the cluster, the ``url`` rows, the credentials block, the
    ledger. ``ledger`` is a block slug or directory (``None``: the default storage); left
    out, the batch flow is called without one. ``url`` keeps only the manifest's rows of
    that URL (``import_manifest``'s re-run of one failed import); their results go to
    ``output`` only if it is given, so the full day's table stays as it was.
    """
    out: str | None
    day, uri, out = dated.locations()
    run = _with_runner(batch_flow, cluster_address)
    source: str | pd.DataFrame = uri
    if url:
        rows = read_manifest(uri, transport_params=transport_params)
        source = rows[rows.get("url", pd.Series(dtype=object)) == url].reset_index(drop=True)
        out = render_template(dated.output, day) if dated.output else None
    call: dict[str, Any] = {"credentials": _credentials(credentials)}
    if not isinstance(ledger, _Absent):
        call["ledger"] = Ledger(ledger) if ledger else None
    state: State[pd.DataFrame] = run(  # type: ignore[assignment]  # return_state=True
        source,
        output=out,
        transport_params=transport_params,
        return_state=True,
        **call,
        **batch_kwargs,
    )
    _republish_artifacts(state.state_details.flow_run_id)
    frame = state.result()  # a failed batch raises here, as the subflow call did
    return _summary(frame, day, uri, out)


def _republish_artifacts(batch_run_id: UUID | None) -> None:
    """The batch subflow's artifacts (progress, results table, summary) published on this
    run too, where ``prefect deployment run`` and the deployment's page point. Best effort:
    an API that does not answer costs the copies, never the run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if batch_run_id is None or context is None or context.flow_run is None:
        return
    try:
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[batch_run_id])
                )
            )
            for artifact in sorted(found, key=lambda a: a.created or dt.datetime.min):
                client.create_artifact(
                    ArtifactCreate(
                        type=artifact.type,
                        key=artifact.key,
                        description=artifact.description,
                        data=artifact.data,
                        flow_run_id=context.flow_run.id,
                    )
                )
    except Exception as exc:  # artifacts are best effort
        get_run_logger().warning(
            "Could not publish the batch's artifacts on this run (%s); they are on the "
            "batch's own run %s",
            type(exc).__name__,
            batch_run_id,
        )


@flow(name="upload-manifest")
def upload_manifest(
    manifest: str,
    credentials: FormCredentials = None,
    output: FormText = None,
    date: FormDate = None,
    days_ago: int = 0,
    timezone: str = "UTC",
    max_concurrency: int = 8,
    max_uploads_in_flight: int = 8,
    shared_rate_limit: bool = False,
    ledger: FormText = None,
    transport_params: FormJSON = None,
    cluster_address: FormText = None,
    fail_on_row_errors: bool = False,
) -> dict[str, Any]:
    """Upload every video of a dated manifest with ``upload_videos``; results beside it.

    Args:
        manifest: URI or path of the manifest (.csv, .parquet, .jsonl) on any storage
            smart-open reads; ``{date}`` is replaced by the run's date, e.g.
            ``s3://media/manifests/{date}.parquet`` (``{date:%Y/%m/%d}`` for another layout).
        credentials: A saved FireworkCredentials block, or its name. Empty: the worker's
            FIREWORK_CREDENTIALS_BLOCK or FIREWORK_CLIENT_ID / FIREWORK_CLIENT_SECRET.
        output: Where to write the results table (same formats; ``{date}`` allowed).
            Default: next to the manifest, ``<manifest stem>.results.<ext>``.
        date: The day to process (YYYY-MM-DD). Default: the day of the run's scheduled
            start in ``timezone``, minus ``days_ago``.
        days_ago: Process the manifest of this many days before the scheduled day (1 for a
            job at 02:00 that handles yesterday's file).
        timezone: IANA time zone in which the scheduled start becomes a date.
        max_concurrency: Task runs in flight at once (parts, uploads, creates).
        max_uploads_in_flight: Rows uploading at once, ahead of the paced creates.
        shared_rate_limit: Share each channel's 20-creates-per-5-minutes budget with other
            processes through Prefect global concurrency limits ``firework-create-<channel>``
            (create them first; see the README). Needed when several runs or machines create
            videos on the same channel at once.
        ledger: Where the idempotency ledger lives: a block slug such as
            ``s3-bucket/firework-ledger``, or a local directory. Default: Prefect's result
            storage on the machine that runs the flow.
        transport_params: smart-open transport parameters for the manifest, the sources and
            the output, as plain JSON, e.g. ``{"client_kwargs": {"S3.Client":
            {"endpoint_url": "http://minio:9000"}}}``.
        cluster_address: Run the upload tasks on an existing cluster: a Dask scheduler
            (``tcp://dask-scheduler:8786``, extra ``dask``) or a Ray head
            (``ray://ray-head:10001``, extra ``ray``), installed on every machine. Default:
            threads in the flow's process. See ``prefect_firework.runners`` for what the
            cluster's machines need.
        fail_on_row_errors: End the run Failed when any row is failed or invalid (e.g. to
            trigger a notification); by default it fails only when no row succeeded.

    Returns:
        The run's summary: ``date`` (YYYY-MM-DD), ``manifest`` (the URI read), ``output``
        (where the results went), ``rows`` and ``statuses`` (rows per status).
    """
    return _run_batch(
        upload_videos,
        _Dated(manifest, output, date, days_ago, timezone),
        credentials=credentials,
        max_concurrency=max_concurrency,
        max_uploads_in_flight=max_uploads_in_flight,
        shared_rate_limit=shared_rate_limit,
        ledger=ledger,
        transport_params=transport_params,
        cluster_address=cluster_address,
        fail_on_row_errors=fail_on_row_errors,
    )


@flow(name="import-manifest")
def import_manifest(
    manifest: str,
    credentials: FormCredentials = None,
    output: FormText = None,
    date: FormDate = None,
    days_ago: int = 0,
    timezone: str = "UTC",
    asynchronous: bool = True,
    max_concurrency: int = 8,
    shared_rate_limit: bool = False,
    ledger: FormText = None,
    transport_params: FormJSON = None,
    fail_on_row_errors: bool = False,
    url: FormText = None,
) -> dict[str, Any]:
    """Import every ``url`` row of a manifest with ``import_videos``; results beside it.

    Run on an interval over the same day's manifest, it picks up rows appended since the last
    run: rows the ledger records as imported are ``skipped``, imports still running are polled
    again, never started twice.

    Args:
        manifest: URI or path of the manifest of ``url`` rows; ``{date}`` is replaced by
            the run's date, e.g. ``s3://media/imports/{date}.csv``.
        credentials: A saved FireworkCredentials block, or its name. Empty: the worker's
            FIREWORK_CREDENTIALS_BLOCK or FIREWORK_CLIENT_ID / FIREWORK_CLIENT_SECRET.
        output: Where to write the results table (``{date}`` allowed). Default: next to the
            manifest, ``<manifest stem>.results.<ext>``.
        date: The day to process (YYYY-MM-DD). Default: the day of the run's scheduled
            start in ``timezone``, minus ``days_ago``.
        days_ago: Process the manifest of this many days before the scheduled day.
        timezone: IANA time zone in which the scheduled start becomes a date.
        asynchronous: Import in the background (202) and poll, recommended for large files;
            false imports within the request.
        max_concurrency: Task runs in flight at once.
        shared_rate_limit: Share each channel's create budget with other processes through
            Prefect global concurrency limits ``firework-create-<channel>``.
        ledger: Where the idempotency ledger lives: a block slug such as
            ``s3-bucket/firework-ledger``, or a local directory. Default: Prefect's result
            storage on the machine that runs the flow.
        transport_params: smart-open transport parameters for the manifest and the output.
        fail_on_row_errors: End the run Failed when any row is failed or invalid.
        url: Only the manifest's rows of this URL, e.g. ``{{ event.payload.url }}`` from the
            automation that re-runs a failed import; their results are not written to
            ``output`` unless it is given (the full day's table stays as it was).

    Returns:
        The run's summary: ``date`` (YYYY-MM-DD), ``manifest`` (the URI read), ``output``
        (where the results went; None for a ``url`` run without ``output``), ``rows`` and
        ``statuses`` (rows per status).
    """
    return _run_batch(
        import_videos,
        _Dated(manifest, output, date, days_ago, timezone),
        credentials=credentials,
        asynchronous=asynchronous,
        max_concurrency=max_concurrency,
        shared_rate_limit=shared_rate_limit,
        ledger=ledger,
        transport_params=transport_params,
        fail_on_row_errors=fail_on_row_errors,
        url=url,
    )


@flow(name="update-manifest")
def update_manifest(
    manifest: str,
    credentials: FormCredentials = None,
    output: FormText = None,
    date: FormDate = None,
    max_concurrency: int = 8,
    transport_params: FormJSON = None,
    fail_on_row_errors: bool = False,
) -> dict[str, Any]:
    """PATCH the videos of an update manifest (``video_id`` + fields) with ``update_videos``.

    Args:
        manifest: URI or path of the update manifest; ``{date}`` is replaced by ``date``
            (default: today, UTC), e.g. ``s3://media/updates/{date}.csv``.
        credentials: A saved FireworkCredentials block, or its name. Empty: the worker's
            FIREWORK_CREDENTIALS_BLOCK or FIREWORK_CLIENT_ID / FIREWORK_CLIENT_SECRET.
        output: Where to write the results table (``{date}`` allowed). Default: next to the
            manifest, ``<manifest stem>.results.<ext>``.
        date: The day filled into ``{date}`` (YYYY-MM-DD). Default: the day of the run's
            scheduled start, UTC.
        max_concurrency: PATCH requests in flight at once.
        transport_params: smart-open transport parameters for the manifest and the output.
        fail_on_row_errors: End the run Failed when any row is failed or invalid.

    Returns:
        The run's summary: ``date`` (YYYY-MM-DD), ``manifest`` (the URI read), ``output``
        (where the results went), ``rows`` and ``statuses`` (rows per status).
    """
    return _run_batch(
        update_videos,
        _Dated(manifest, output, date),
        credentials=credentials,
        max_concurrency=max_concurrency,
        transport_params=transport_params,
        fail_on_row_errors=fail_on_row_errors,
    )
