"""``make demo`` / ``prefect-firework demo``: the first thing a new user runs.

Starts the embedded sandbox (a local Firework API + S3), makes three real MP4s, and runs the
real flows against it over HTTP: a small file (one presigned POST), a ~120 MB file (parallel
multipart parts) and an async URL import polled to completion. Prints a table at the end and
how to point the same flows at the real API.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from prefect_firework.blocks import FireworkCredentials
    from prefect_firework.sandbox import Sandbox

__all__ = ["run_demo"]

SMALL_BYTES = 3 * 1024 * 1024
LARGE_BYTES = 120 * 1000 * 1000


@dataclass
class DemoRow:
    source: str
    strategy: str
    parts: int
    mib_per_s: float | None
    video_id: str
    status: str
    #: the whole flow call, preflight to created video
    seconds: float | None = None


def _quiet_prefect() -> None:
    """Silence telemetry and start-up chatter in our own process; real errors still show."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # a first start on a fresh PREFECT_HOME migrates a database: on a busy 2-core machine
    # that can take longer than Prefect's 20 s default
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # third-party libraries' own log lines stay out of the demo (Prefect's and ours still
    # show): Prefect's temporary API, which inherits this environment, can log a database
    # pool traceback when it is stopped at exit while a connection is being reset
    os.environ.setdefault("PREFECT_LOGGING_ROOT_LEVEL", "CRITICAL")
    logging.getLogger("prefect_firework").setLevel(logging.INFO)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "botocore", "moto"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _warm_up_prefect() -> None:
    """Start Prefect's API before timing uploads, so MiB/s measures bytes, not start-up."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.hello()


def run_demo(workdir: str | os.PathLike[str] | None = None) -> int:
    """Run the demo end to end; return the process exit code (0 on success)."""
    _quiet_prefect()
    from rich.console import Console

    from prefect_firework.blocks import FireworkCredentials
    from prefect_firework.sandbox import Sandbox, SandboxConfig

    console = Console()
    with tempfile.TemporaryDirectory(prefix="firework-demo-") as tmp:
        console.print("[bold]1/4[/] Making demo videos (real H.264 MP4s)...")
        media = _make_media(Path(workdir or tmp))

        console.print("[bold]2/4[/] Starting the Firework sandbox (API + S3 on 127.0.0.1)...")
        with Sandbox(config=SandboxConfig(transcoding_delay=1.0)) as sb:
            console.print(f"      API {sb.base_url}   S3 {sb.s3_url}")
            credentials = FireworkCredentials(
                client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
            )
            files_url = sb.serve_files(media.served)

            console.print("      Starting Prefect (temporary API unless PREFECT_API_URL is set)")
            _warm_up_prefect()
            console.print("[bold]3/4[/] Uploading files through the upload_video flow...")
            rows = _upload_files(media, sb, credentials)
            console.print("[bold]4/4[/] Importing a video from a URL (async, polled)...")
            url = f"{files_url.rstrip('/')}/{media.remote.name}"
            rows.append(_import_url(url, sb.channel_id, credentials))
            stored = {v["id"] if isinstance(v, dict) else v.id for v in sb.videos()}

    _print_results(console, rows, stored)
    return 0 if all(row.video_id in stored for row in rows) else 1


@dataclass
class _DemoMedia:
    small: Path
    large: Path
    served: Path
    remote: Path


def _make_media(media: Path) -> _DemoMedia:
    from prefect_firework.sandbox.media import make_mp4

    served = media / "served"
    return _DemoMedia(
        small=make_mp4(media / "product-teaser.mp4", 6, size=SMALL_BYTES, seed=1),
        large=make_mp4(media / "product-launch.mp4", 12, size=LARGE_BYTES, seed=2),
        served=served,
        remote=make_mp4(served / "unboxing.mp4", 8, size=2 * SMALL_BYTES, seed=3),
    )


def _upload_files(
    media: _DemoMedia, sb: Sandbox, credentials: FireworkCredentials
) -> list[DemoRow]:
    """The small file (one presigned POST) and the large one (multipart), timed each: MiB/s
    is the bytes over the time the sandbox's S3 took to receive them, the client's speed;
    the whole call also pays the flow run's fixed cost, shown apart."""
    from prefect_firework.batch import plan_parts
    from prefect_firework.batch._steps import choose_strategy
    from prefect_firework.flows import upload_video

    rows = []
    for path, caption in ((media.small, "Product teaser"), (media.large, "Product launch")):
        size = path.stat().st_size
        strategy = choose_strategy(size, "auto")
        parts = len(plan_parts(size)) if strategy == "multipart" else 1
        seen = len(sb.requests)
        started = time.perf_counter()
        video = upload_video(
            str(path),
            sb.channel_id,
            caption,
            metadata={"hashtags": ["demo"], "custom_fields": {"source": "demo"}},
            credentials=credentials,
        )
        elapsed = time.perf_counter() - started
        sent = [r for r in sb.requests[seen:] if r.endpoint in ("s3_post", "s3_part")]
        window = max(r.time + r.duration for r in sent) - min(r.time for r in sent)
        mib_per_s = size / 2**20 / window if window > 0 else None
        rows.append(DemoRow(path.name, strategy, parts, mib_per_s, video.id, "created", elapsed))
    return rows


def _import_url(url: str, channel_id: str, credentials: FireworkCredentials) -> DemoRow:
    from prefect_firework.flows import import_video

    imported = import_video(
        url,
        channel_id,
        "Unboxing",
        mode="async",
        poll_interval=0.5,
        timeout=120,
        credentials=credentials,
    )
    return DemoRow(url, "url-async", 0, None, imported.id, "imported")


def _print_results(console: Console, rows: list[DemoRow], stored: set[str]) -> None:
    from rich.table import Table

    table = Table(title="Firework sandbox: demo results")
    for column in ("source", "strategy", "parts", "MiB/s", "video id", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.source,
            row.strategy,
            str(row.parts) if row.parts else "-",
            f"{row.mib_per_s:.1f}" if row.mib_per_s else "-",
            row.video_id,
            row.status if row.video_id in stored else f"{row.status} (not in sandbox!)",
        )
    console.print(table)
    calls = ", ".join(f"{row.source} {row.seconds:.1f} s" for row in rows if row.seconds)
    console.print(
        "MiB/s: the file's bytes over the time the sandbox's S3 took to receive them (first "
        "part request to last answer). Each whole upload_video call, preflight to created "
        f"video, also pays the flow run's fixed cost: {calls}."
    )
    console.print(
        "\nTo run the same flows against the real Firework API, either save credentials once:\n"
        '  FireworkCredentials(client_id="...", client_secret="...").save("firework")\n'
        '  upload_video("s3://bucket/video.mp4", "<channel id>", "Caption", '
        'credentials="firework")\n'
        "or export FIREWORK_CLIENT_ID and FIREWORK_CLIENT_SECRET (optionally "
        "FIREWORK_CREDENTIALS_BLOCK=firework) and omit credentials=."
    )
