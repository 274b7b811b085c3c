"""The ``prefect-firework`` command line: ad-hoc uploads, imports and manifests through the
flows, the batch ledger, and the local sandbox, demo and webhook receiver.

Heavy modules (Prefect, pandas, the sandbox) are imported inside each command so that
``prefect-firework --help`` answers instantly.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from prefect_firework._version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from prefect_firework.batch._ledger import Ledger

app = typer.Typer(
    name="prefect-firework",
    help=(
        "Firework Video API from the command line, through the Prefect flows: upload files, "
        "import URLs, run a manifest, inspect and settle the batch ledger; and run a local "
        "Firework sandbox, the demo and the webhook receiver."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)

#: result statuses that make a command exit 1
BAD_STATUSES = ("failed", "invalid")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"prefect-firework {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        metavar="",
        help="Print the version and exit.",
    ),
) -> None:
    """Firework Video API from the command line, through the Prefect flows."""


# ---------------------------------------------------------------------- helpers


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _describe(exc: BaseException) -> str:
    from prefect_firework._redact import redact

    text = redact(str(exc)).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _custom_fields(pairs: Sequence[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--custom-field")
        fields[key] = value
    return fields


def _metadata(
    channel: str,
    caption: str,
    *,
    description: str | None,
    hashtags: Sequence[str],
    product_ids: Sequence[str],
    business_store_id: str | None,
    access: str | None,
    custom_fields: Sequence[str],
) -> dict[str, Any]:
    """The metadata options as the flows' ``metadata`` dict, checked before any flow runs."""
    from pydantic import ValidationError

    from prefect_firework.models import VideoMetadata

    metadata: dict[str, Any] = {}
    if description is not None:
        metadata["description"] = description
    if hashtags:
        metadata["hashtags"] = list(hashtags)
    if product_ids:
        metadata["product_ids"] = list(product_ids)
    if business_store_id is not None:
        metadata["business_store_id"] = business_store_id
    if access is not None:
        metadata["access"] = access
    if custom_fields:
        metadata["custom_fields"] = _custom_fields(custom_fields)
    try:
        VideoMetadata(channel_id=channel, caption=caption, **metadata)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'metadata'}: {e['msg']}" for e in exc.errors()
        )
        raise typer.BadParameter(problems) from None
    return metadata


def _ledger(storage: str | None) -> Ledger:
    from prefect_firework.batch._ledger import Ledger

    return Ledger(storage)


@dataclass
class _Row:
    """One line of the results table of ``upload`` and ``import``."""

    item: str
    video_id: str | None
    status: str
    error: str | None = None


def _cells(*values: object) -> list[Any]:
    """Table cells as plain text: a URL's ``[REDACTED]`` or an error's brackets are not markup."""
    from rich.text import Text

    return [Text(str(value)) for value in values]


def _print_rows(heading: str, rows: Sequence[_Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{heading} results")
    table.add_column(heading, overflow="fold")
    table.add_column("video id", overflow="fold")
    table.add_column("status")
    errors = any(row.error for row in rows)
    if errors:
        table.add_column("error", overflow="fold")
    for row in rows:
        cells = [row.item, row.video_id or "-", row.status, *([row.error or ""] if errors else [])]
        table.add_row(*_cells(*cells))
    Console().print(table)


def _rows_of(items: Sequence[str], frame: pd.DataFrame, shown: Any) -> list[_Row]:
    """The batch results (one per manifest row, by ``row``) beside the items they came from."""
    rows = []
    for record in frame.astype(object).where(frame.notna(), None).to_dict(orient="records"):
        position = record["row"]
        rows.append(
            _Row(
                shown(items[position]),
                record["video_id"],
                str(record["status"]),
                record["error"],
            )
        )
    return rows


def _run_batch(flow: Any, manifest: Any, **options: Any) -> pd.DataFrame:
    """A batch flow's results table; a run in which no row succeeded ends Failed with
    ``RowErrorsFound``, whose table is shown all the same. Any other failure exits 1."""
    import pandas as pd

    from prefect_firework.errors import RowErrorsFound

    try:
        return flow(manifest, **options)
    except RowErrorsFound as exc:
        if isinstance(exc.results, pd.DataFrame):
            return exc.results
        raise _fail(f"{flow.name} failed: {_describe(exc)}") from None
    except Exception as exc:
        raise _fail(f"{flow.name} failed: {_describe(exc)}") from None


def _exit_for(statuses: Iterable[str]) -> None:
    if any(status in BAD_STATUSES for status in statuses):
        raise typer.Exit(1)


def _allow_a_slow_prefect_start() -> None:
    # a first ephemeral Prefect API on a fresh PREFECT_HOME migrates a database: on a busy
    # machine that can take longer than Prefect's 20 s default
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


# the metadata options shared by ``upload`` and ``import`` (fresh OptionInfo each time)


def _opt_channel() -> Any:
    return typer.Option(..., "--channel", help="Encoded id of the channel to create in.")


def _opt_caption() -> Any:
    return typer.Option(..., "--caption", help="The video's caption (required).")


def _opt_description() -> Any:
    return typer.Option(None, "--description", help="The video's description.")


def _opt_hashtag() -> Any:
    return typer.Option([], "--hashtag", help="A hashtag (repeatable).")


def _opt_product() -> Any:
    return typer.Option([], "--product-id", help="A product id to tag (repeatable).")


def _opt_store() -> Any:
    return typer.Option(
        None, "--business-store-id", help="Store of the products (default: the first one)."
    )


def _opt_access() -> Any:
    return typer.Option(None, "--access", help="public or private (default: public).")


def _opt_custom() -> Any:
    return typer.Option([], "--custom-field", help="A custom field key=value (repeatable).")


def _opt_credentials() -> Any:
    return typer.Option(
        None,
        "--credentials",
        help="Name of a saved FireworkCredentials block (default: the FIREWORK_* settings).",
    )


def _opt_ledger() -> Any:
    return typer.Option(
        None,
        "--ledger",
        help="Batch ledger storage: a directory or a block slug (default: Prefect's result "
        "storage).",
    )


# ---------------------------------------------------------------------- upload / import


@app.command()
def upload(
    sources: list[str] = typer.Argument(..., help="Local paths or any URI smart-open reads."),
    channel: str = _opt_channel(),
    caption: str = _opt_caption(),
    description: str | None = _opt_description(),
    hashtags: list[str] = _opt_hashtag(),
    product_ids: list[str] = _opt_product(),
    business_store_id: str | None = _opt_store(),
    access: str | None = _opt_access(),
    custom_fields: list[str] = _opt_custom(),
    credentials: str | None = _opt_credentials(),
    ledger: str | None = _opt_ledger(),
) -> None:
    """Upload video files to Firework and print a results table; exit 1 if any failed.

    One SOURCE runs the upload_video flow: each run creates a video. Several run the
    upload_videos flow on a manifest built from the arguments (one row per source, the same
    metadata on each): rows the ledger records as done are skipped, so rerunning the same
    command creates no video twice.
    """
    from prefect_firework._redact import redact_source

    metadata = _metadata(
        channel,
        caption,
        description=description,
        hashtags=hashtags,
        product_ids=product_ids,
        business_store_id=business_store_id,
        access=access,
        custom_fields=custom_fields,
    )
    _allow_a_slow_prefect_start()
    if len(sources) == 1:
        from prefect_firework.flows import upload_video

        try:
            video = upload_video(
                sources[0],
                channel,
                caption,
                metadata=metadata,
                credentials=credentials,
                ledger=_ledger(ledger) if ledger else None,
            )
            rows = [_Row(redact_source(sources[0]), video.id, "created")]
        except Exception as exc:
            rows = [_Row(redact_source(sources[0]), None, "failed", _describe(exc))]
    else:
        import pandas as pd

        from prefect_firework.flows import upload_videos

        frame = pd.DataFrame.from_records(
            [{"source": s, "channel_id": channel, "caption": caption, **metadata} for s in sources]
        )
        results = _run_batch(upload_videos, frame, credentials=credentials, ledger=_ledger(ledger))
        rows = _rows_of(sources, results, redact_source)
    _print_rows("source", rows)
    _exit_for(row.status for row in rows)


@app.command("import")
def import_(
    urls: list[str] = typer.Argument(..., help="Public http(s) URLs Firework downloads from."),
    channel: str = _opt_channel(),
    caption: str = _opt_caption(),
    asynchronous: bool = typer.Option(
        False,
        "--async",
        metavar="",
        help="Import in the background and poll until the video exists (large files); "
        "default: within the request.",
    ),
    description: str | None = _opt_description(),
    hashtags: list[str] = _opt_hashtag(),
    product_ids: list[str] = _opt_product(),
    business_store_id: str | None = _opt_store(),
    access: str | None = _opt_access(),
    custom_fields: list[str] = _opt_custom(),
    credentials: str | None = _opt_credentials(),
    ledger: str | None = _opt_ledger(),
) -> None:
    """Create videos from URLs and print a results table; exit 1 if any failed.

    One URL runs the import_video flow: each run creates a video. Several run the
    import_videos flow on a manifest built from the arguments: rows the ledger records as done
    are skipped, so rerunning the same command creates no video twice.
    """

    metadata = _metadata(
        channel,
        caption,
        description=description,
        hashtags=hashtags,
        product_ids=product_ids,
        business_store_id=business_store_id,
        access=access,
        custom_fields=custom_fields,
    )
    _allow_a_slow_prefect_start()
    if len(urls) == 1:
        rows = [_import_one(urls[0], channel, caption, metadata, asynchronous, credentials)]
    else:
        rows = _import_many(urls, channel, caption, metadata, asynchronous, credentials, ledger)
    _print_rows("url", rows)
    _exit_for(row.status for row in rows)


def _import_one(
    url: str,
    channel: str,
    caption: str,
    metadata: dict[str, Any],
    asynchronous: bool,
    credentials: str | None,
) -> _Row:
    """One URL through the import_video flow (each run creates a video)."""
    from prefect_firework._redact import redact_url
    from prefect_firework.flows import import_video
    from prefect_firework.settings import FireworkSettings

    settings = FireworkSettings()
    try:
        video = import_video(
            url,
            channel,
            caption,
            metadata=metadata,
            mode="async" if asynchronous else "sync",
            wait=True,
            poll_interval=settings.poll_interval,
            timeout=settings.import_timeout,
            credentials=credentials,
        )
    except Exception as exc:
        return _Row(redact_url(url), None, "failed", _describe(exc))
    return _Row(redact_url(url), video.id, "imported" if asynchronous else "created")


def _import_many(
    urls: list[str],
    channel: str,
    caption: str,
    metadata: dict[str, Any],
    asynchronous: bool,
    credentials: str | None,
    ledger: str | None,
) -> list[_Row]:
    """Several URLs through import_videos on a manifest of the arguments (idempotent)."""
    import pandas as pd

    from prefect_firework._redact import redact_url
    from prefect_firework.flows import import_videos

    frame = pd.DataFrame.from_records(
        [{"url": u, "channel_id": channel, "caption": caption, **metadata} for u in urls]
    )
    results = _run_batch(
        import_videos,
        frame,
        credentials=credentials,
        asynchronous=asynchronous,
        ledger=_ledger(ledger),
    )
    return _rows_of(urls, results, redact_url)


@app.command()
def batch(
    manifest: str = typer.Argument(
        ..., help="CSV / Parquet / JSON Lines manifest (optionally compressed), any storage."
    ),
    output: str | None = typer.Option(
        None, "--output", help="Also write the results table here (CSV, Parquet, JSON Lines)."
    ),
    credentials: str | None = _opt_credentials(),
    max_concurrency: int | None = typer.Option(
        None, "--max-concurrency", min=1, help="Task runs (parts, creates) in flight at once."
    ),
    ledger: str | None = _opt_ledger(),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        metavar="",
        help="Validate and preflight every row and print the plan; send nothing to Firework.",
    ),
) -> None:
    """Run the upload_videos flow on a manifest; print the results and the counts.

    Exit 1 if a row failed or was invalid (with --dry-run: refused or invalid). Rows the
    ledger records as done are skipped, so a rerun after a failure creates only what is
    missing.
    """
    from prefect_firework.batch._manifest import manifest_format
    from prefect_firework.errors import ManifestError

    try:
        manifest_format(manifest)  # an unknown extension fails before Prefect starts
    except ManifestError as exc:
        raise typer.BadParameter(str(exc), param_hint="MANIFEST") from None
    local = (
        manifest.removeprefix("file://")
        if "://" not in manifest or manifest.startswith("file://")
        else None
    )
    if local is not None and not os.path.isfile(os.path.expanduser(local)):
        raise typer.BadParameter(f"no such file: {manifest}", param_hint="MANIFEST")
    _allow_a_slow_prefect_start()
    from prefect_firework.flows import upload_videos

    options: dict[str, Any] = {"credentials": credentials, "output": output}
    if max_concurrency is not None:
        options["max_concurrency"] = max_concurrency
    if dry_run:
        from prefect_firework.batch._dryrun import plan_summary
        from prefect_firework.settings import FireworkSettings

        plan = upload_videos(manifest, ledger=_ledger(ledger), dry_run=True, **options)
        settings = FireworkSettings()
        summary = plan_summary(plan, settings.rate_limit_creates, settings.rate_limit_window)
        _print_table("upload_videos plan (dry run)", plan, _PLAN_COLUMNS, summary)
        _exit_for("failed" if s == "refused" else s for s in plan["status"].astype(str))
        return
    from prefect_firework.batch._run import counts_message

    frame = _run_batch(upload_videos, manifest, ledger=_ledger(ledger), **options)
    _print_table("upload_videos results", frame, _RESULT_COLUMNS, counts_message(frame))
    _exit_for(frame["status"].astype(str))


#: (column, heading) of the tables ``batch`` prints
_RESULT_COLUMNS = (
    ("row", "row"),
    ("source", "source"),
    ("status", "status"),
    ("video_id", "video id"),
    ("key", "key"),
    ("error", "error"),
)
_PLAN_COLUMNS = (
    ("row", "row"),
    ("source", "source"),
    ("status", "status"),
    ("strategy", "strategy"),
    ("parts", "parts"),
    ("bytes", "bytes"),
    ("channel_id", "channel"),
    ("error", "error"),
)


def _print_table(
    title: str, frame: pd.DataFrame, columns: Sequence[tuple[str, str]], footer: str
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for _, heading in columns:
        table.add_column(heading, overflow="fold")
    for record in frame.astype(object).where(frame.notna(), None).to_dict(orient="records"):
        shown = [record.get(name) for name, _ in columns]
        table.add_row(
            *_cells(
                *(
                    ("" if name == "error" else "-") if value is None else value
                    for (name, _), value in zip(columns, shown, strict=True)
                )
            )
        )
    console = Console()
    console.print(table)
    console.print(footer, markup=False)


# ---------------------------------------------------------------------- sandbox / demo / hooks


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _busy_port(host: str, ports: Sequence[tuple[int, str]]) -> tuple[int, str] | None:
    """The first (port, option) already bound on ``host`` (port 0 is never busy)."""
    for port, option in ports:
        if not port:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return port, option
                return None  # another problem: the sandbox reports it itself
    return None


def _split_ids(values: Sequence[str]) -> tuple[str, ...]:
    """``--channel-id a --channel-id b,c`` -> ``("a", "b", "c")``; the banner's "a, b" pastes."""
    return tuple(part.strip() for value in values for part in value.split(","))


@app.command()
def sandbox(
    port: int = typer.Option(8765, help="API port (0 picks a free one)."),
    s3_port: int = typer.Option(8766, "--s3-port", help="S3 port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", metavar="", help="Required to bind anything but loopback."
    ),
    rate_limit_count: int | None = typer.Option(
        None, "--rate-limit-count", min=1, help="Creates per channel per window (spec: 20)."
    ),
    rate_limit_window: float | None = typer.Option(
        None, "--rate-limit-window", min=0.001, help="Create window, seconds (spec: 300)."
    ),
    transcoding_delay: float | None = typer.Option(
        None,
        "--transcoding-delay",
        min=0,
        help="Seconds from a create until transcoding finishes (default 0.5).",
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Derive every client id/secret, channel, store and product id from N: the same N "
        "gives the same ones on every start (default: new ones each start).",
    ),
    client_id: str | None = typer.Option(
        None, "--client-id", help="The client id to hand out (wins over --seed)."
    ),
    client_secret: str | None = typer.Option(
        None, "--client-secret", help="The client secret to hand out (wins over --seed)."
    ),
    channel_id: list[str] = typer.Option(
        [],
        "--channel-id",
        help="A channel id to hand out, in order; the first is the default channel "
        "(repeatable or comma-separated; wins over --seed).",
    ),
) -> None:
    """Run the local Firework API and S3 until Ctrl-C."""
    from prefect_firework.sandbox import SandboxConfig
    from prefect_firework.sandbox.serve import serve_forever

    if allow_remote or _is_loopback(host):
        busy = _busy_port(host, [(port, "--port"), (s3_port, "--s3-port")])
        if busy is not None:
            number, option = busy
            raise _fail(
                f"port {number} on {host} is already in use (another sandbox?); pass "
                f"{option} 0 to pick a free one, or {option} N for another port"
            )
    knobs: dict[str, Any] = {
        "rate_limit_count": rate_limit_count,
        "rate_limit_window": rate_limit_window,
        "transcoding_delay": transcoding_delay,
        "seed": seed,
        "client_id": client_id,
        "client_secret": client_secret,
        "channel_ids": _split_ids(channel_id) or None,
    }
    try:
        config = SandboxConfig(**{k: v for k, v in knobs.items() if v is not None})
    except ValueError as exc:
        raise _fail(str(exc), code=2) from None
    serve_forever(port=port, s3_port=s3_port, host=host, allow_remote=allow_remote, config=config)


@app.command()
def demo() -> None:
    """Start the sandbox, upload a few real videos through the flows, print a table."""
    from prefect_firework.demo import run_demo

    raise typer.Exit(run_demo())


@app.command()
def webhooks(
    port: int = typer.Option(8780, help="Port to receive Firework webhooks on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    secret_block: str | None = typer.Option(
        None, "--secret-block", help="Name of a saved FireworkWebhookSecret block."
    ),
) -> None:
    """Receive signed Firework webhooks and emit them as Prefect events."""
    from prefect_firework.webhooks.serve import serve_forever as serve_webhooks

    serve_webhooks(port=port, host=host, secret_block=secret_block)


# ---------------------------------------------------------------------- ledger

ledger_app = typer.Typer(
    help="Inspect and settle the batch flows' idempotency ledger.", no_args_is_help=True
)
app.add_typer(ledger_app, name="ledger")

_LEDGER_STATUSES = ("creating", "created", "importing", "imported", "not_created")


def _opt_storage() -> Any:
    return typer.Option(
        None, "--storage", help="Ledger storage: a directory or a block slug (default: Prefect's)."
    )


@ledger_app.command("list")
def ledger_list(
    storage: str | None = _opt_storage(),
    status: str | None = typer.Option(
        None, "--status", help=f"Only entries in this status: {', '.join(_LEDGER_STATUSES)}."
    ),
) -> None:
    """List the ledger's entries (key, status, video id, updated), oldest first.

    Needs local storage (a directory, or Prefect's default), a RemoteFileSystem or an S3Bucket
    block: other blocks offer no listing.
    """
    from rich.console import Console
    from rich.table import Table

    from prefect_firework.errors import LedgerError

    if status is not None and status not in _LEDGER_STATUSES:
        raise typer.BadParameter(
            f"{status!r} is not one of {', '.join(_LEDGER_STATUSES)}", param_hint="--status"
        )
    try:
        ledger = _ledger(storage)
        entries = [e for e in ledger.entries() if status is None or e.status == status]
    except LedgerError as exc:
        raise _fail(str(exc)) from None
    entries.sort(key=lambda e: (e.updated_at, e.key))
    console = Console()
    if not entries:
        which = f" {status}" if status else ""
        console.print(f"no{which} entries in the ledger at {ledger.location()}", markup=False)
        return
    from rich.markup import escape

    table = Table(title=escape(f"ledger {ledger.location()}"))
    for column in ("key", "status", "video id", "updated"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            *_cells(
                entry.key,
                entry.status,
                entry.video_id or "-",
                entry.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            )
        )
    console.print(table)
    console.print(f"{len(entries)} entries")


@ledger_app.command("show")
def ledger_show(
    key: str = typer.Argument(..., help="The row key (the results table's `key`)."),
    storage: str | None = _opt_storage(),
) -> None:
    """Print everything the ledger records for one key; exit 1 if it has no entry."""
    from prefect_firework.errors import LedgerError

    try:
        ledger = _ledger(storage)
        entry = ledger.get(key)
    except LedgerError as exc:
        raise _fail(str(exc)) from None
    if entry is None:
        raise _fail(f"the ledger at {ledger.location()} has no entry for key {key!r}")
    for name, value in entry.model_dump(mode="json").items():
        typer.echo(f"{name}: {'-' if value is None else value}")


@ledger_app.command("resolve")
def ledger_resolve(
    key: str = typer.Argument(..., help="The row key (the results table's `key`)."),
    video_id: str | None = typer.Option(
        None, "--video-id", help="The video the earlier create made; omit if it made none."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        metavar="",
        help="Also overwrite an entry that is not `creating`, or record an unknown key.",
    ),
    storage: str | None = _opt_storage(),
) -> None:
    """Settle a row a crash left `creating`, after looking for its video in Firework.

    With --video-id the row is recorded created (the next run skips it); without, not_created
    (the next run creates it). Any other entry, or an unknown key, is refused unless --force:
    overwriting a created entry would let the next run create a second video.
    """
    from prefect_firework.errors import LedgerError

    try:
        previous, entry = _ledger(storage)._settle(key, video_id, timeout=600, force=force)
    except LedgerError as exc:
        raise _fail(str(exc)) from None
    before = previous.status if previous is not None else "(no entry)"
    shown = f" (video {entry.video_id})" if entry.video_id else ""
    typer.echo(f"{entry.key}: {before} -> {entry.status}{shown}")


if __name__ == "__main__":  # pragma: no cover
    app()
