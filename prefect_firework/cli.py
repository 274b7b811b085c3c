"""The ``prefect-firework`` command line: ``demo`` and ``sandbox``.

Heavy modules (Prefect, the sandbox) are imported inside each command so that
``prefect-firework --help`` answers instantly.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="prefect-firework",
    help="Upload videos to Firework from Prefect, and run a local Firework sandbox.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def sandbox(
    port: int = typer.Option(8765, help="API port (0 picks a free one)."),
    s3_port: int = typer.Option(8766, "--s3-port", help="S3 port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Required to bind anything but loopback."
    ),
) -> None:
    """Run the local Firework API and S3 until Ctrl-C."""
    from prefect_firework.sandbox.serve import serve_forever

    serve_forever(port=port, s3_port=s3_port, host=host, allow_remote=allow_remote)


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


ledger_app = typer.Typer(help="Inspect and settle the batch flows' idempotency ledger.")
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("resolve")
def ledger_resolve(
    key: str = typer.Argument(..., help="The row key (the results table's `key`)."),
    video_id: str | None = typer.Option(
        None, "--video-id", help="The video the earlier create made; omit if it made none."
    ),
    storage: str | None = typer.Option(
        None, "--storage", help="Ledger storage: a directory or a block slug (default: Prefect's)."
    ),
) -> None:
    """Settle a row a crash left `creating`, after looking for its video in Firework."""
    from prefect_firework.batch._ledger import Ledger

    entry = Ledger(storage).resolve(key, video_id)
    typer.echo(f"{entry.key}: {entry.status}" + (f" ({entry.video_id})" if entry.video_id else ""))


if __name__ == "__main__":  # pragma: no cover
    app()
