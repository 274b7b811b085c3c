"""Run the receiver: ``WebhookServer`` (a thread, for tests and embedding) and
``serve_forever`` (``prefect-firework webhooks``, in the foreground until Ctrl-C or SIGTERM).

The socket is bound before uvicorn starts (port 0 = any free port), so the URL is known at once
and nothing can take the port in between. On stop, queued Prefect events are flushed: a
delivery already answered 2xx must not lose its event to a shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any

from prefect_firework.webhooks.app import WebhookReceiver

__all__ = ["WebhookServer", "load_secret", "serve_forever"]

logger = logging.getLogger("prefect_firework.webhooks")

SECRET_ENV = "FIREWORK_WEBHOOK_SECRET"
SECRET_BLOCK_ENV = "FIREWORK_WEBHOOK_SECRET_BLOCK"


class WebhookServer:
    """A receiver served by uvicorn on its own thread: ``with WebhookServer(app) as s: s.url``."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(128)
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="firework-webhooks",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> WebhookServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and close the socket. Idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def load_secret(secret_block: str | None = None) -> Any:
    """The secret source: the named ``FireworkWebhookSecret`` block, else the block named by
    ``FIREWORK_WEBHOOK_SECRET_BLOCK``, else the secret in ``FIREWORK_WEBHOOK_SECRET``."""
    from prefect_firework.blocks import FireworkWebhookSecret

    name = secret_block or os.environ.get(SECRET_BLOCK_ENV)
    if name:
        return FireworkWebhookSecret.load(name)
    value = os.environ.get(SECRET_ENV)
    if value:
        return FireworkWebhookSecret(secret=value)
    raise LookupError(
        f"no webhook secret: pass --secret-block NAME, or set {SECRET_BLOCK_ENV} or {SECRET_ENV}"
    )


def _flush_events() -> None:
    from prefect.events.worker import EventsWorker

    try:
        EventsWorker.drain_all(timeout=10)
    except Exception:  # a failed flush must not hide the reason the server stopped
        logger.exception("Could not flush queued Prefect events")


def serve_forever(
    port: int = 8780, host: str = "127.0.0.1", secret_block: str | None = None
) -> None:
    """Serve the receiver on ``host:port`` until SIGINT/SIGTERM, then flush queued events."""
    from prefect.settings import PREFECT_API_URL

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        receiver = WebhookReceiver(load_secret(secret_block))
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if not PREFECT_API_URL.value():
        print(
            "warning: PREFECT_API_URL is not set; events go to a temporary local Prefect server",
            file=sys.stderr,
        )
    try:
        server = WebhookServer(receiver, host=host, port=port).start()
    except (OSError, RuntimeError) as exc:
        print(f"error: cannot start the webhook receiver: {exc}", file=sys.stderr)
        raise SystemExit(1) from None

    done = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        print(f"Firework webhook receiver on {server.url} (Ctrl-C to stop)", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
        _flush_events()
        print("Firework webhook receiver stopped", flush=True)
