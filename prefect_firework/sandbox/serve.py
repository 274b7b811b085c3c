"""``prefect-firework sandbox``: run a sandbox in the foreground until Ctrl-C (or SIGTERM).

Prints ``name: value`` lines - URLs, credentials, channel and store ids - that a user can
paste into ``curl`` or a client, and that scripts can parse.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from prefect_firework.sandbox.config import SandboxConfig

__all__ = ["banner", "serve_forever"]


def banner(sb: Any) -> str:
    """The text printed at start: everything needed to talk to ``sb``."""
    lines = [
        "Firework sandbox is running (Ctrl-C to stop)",
        f"base_url: {sb.base_url}",
        f"token_url: {sb.token_url}",
        f"s3_url: {sb.s3_url}",
        f"moto_url: {sb.moto_url}",
        f"bucket: {sb.bucket}",
        f"client_id: {sb.client_id}",
        f"client_secret: {sb.client_secret}",
        f"read_only_client_id: {sb.read_only_client_id}",
        f"read_only_client_secret: {sb.read_only_client_secret}",
        f"channel_id: {sb.channel_id}",
        f"channel_ids: {', '.join(sb.channel_ids)}",
        f"business_store_ids: {', '.join(sb.business_store_ids)}",
        "products: " + ", ".join(f"{p.external_id}={p.id}@{p.store_id}" for p in sb.products),
        f"inspect: {sb.base_url}/_sandbox/info",
        "try: curl -s -X POST "
        f"-d grant_type=client_credentials -d client_id={sb.client_id} "
        f"-d client_secret={sb.client_secret} {sb.token_url}",
    ]
    return "\n".join(lines)


def serve_forever(
    port: int = 8765,
    s3_port: int = 8766,
    host: str = "127.0.0.1",
    allow_remote: bool = False,
    config: SandboxConfig | None = None,
) -> None:
    """Start a sandbox, print how to reach it, and block until SIGINT or SIGTERM."""
    from prefect_firework.sandbox._sandbox import Sandbox

    cfg = (config or SandboxConfig()).replace(
        host=host, port=port, s3_port=s3_port, allow_remote=allow_remote
    )
    sandbox = Sandbox(cfg)
    try:
        sandbox.start()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"error: cannot start the sandbox: {exc}", file=sys.stderr)
        raise SystemExit(1) from None

    done = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: done.set())
    try:
        print(banner(sandbox), flush=True)
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sandbox.stop()
        print("Firework sandbox stopped", flush=True)
