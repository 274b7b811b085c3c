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


if __name__ == "__main__":  # pragma: no cover
    app()
