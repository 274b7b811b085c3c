"""``Sandbox``: start, expose and stop a local Firework API plus a strict S3, on loopback.

    with Sandbox(config=SandboxConfig(min_part_size=64 * 1024)) as sb:
        token = httpx.post(sb.token_url, data={"grant_type": "client_credentials",
                           "client_id": sb.client_id, "client_secret": sb.client_secret})

Three servers run on threads of this process: the API (uvicorn), the S3 front (uvicorn) and
moto (werkzeug), plus a small pool for async imports. ``stop()`` ends all of them and closes
every socket; nothing is left behind.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from prefect_firework.sandbox.config import SandboxConfig
from prefect_firework.sandbox.engine._ids import new_id, new_secret
from prefect_firework.sandbox.engine._state import Clock, Product, RequestRecord, State
from prefect_firework.sandbox.faults import Faults

if TYPE_CHECKING:  # the heavy modules load in start(), not at import
    from prefect_firework.sandbox._inspection import Inspector
    from prefect_firework.sandbox.engine._core import Core
    from prefect_firework.sandbox.engine._server import ServerThread
    from prefect_firework.sandbox.files import FileServer
    from prefect_firework.sandbox.s3._backend import MotoS3

__all__ = ["Sandbox"]


class Sandbox:
    """A running (once started) Firework sandbox; see the module docstring."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        if not self.config.bucket:  # moto's store is per process: a bucket per sandbox
            self.config = self.config.replace(bucket=f"firework-sandbox-{secrets.token_hex(6)}")
        self.faults = Faults()
        self._state = State(Clock())
        self._core: Core | None = None
        self._inspector: Inspector | None = None
        self._servers: list[ServerThread] = []
        self._moto: MotoS3 | None = None
        self._file_servers: list[FileServer] = []
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind, start every server and seed the world; returns ``self``."""
        with self._lock:
            if self._core is not None:
                return self
            try:
                self._start()
            except BaseException:
                self._stop()
                raise
        return self

    def _start(self) -> None:
        from prefect_firework.sandbox._inspection import Inspector
        from prefect_firework.sandbox.api._app import instrumented_api
        from prefect_firework.sandbox.engine._middleware import install_log_filter
        from prefect_firework.sandbox.engine._server import ServerThread
        from prefect_firework.sandbox.s3._front import instrumented_front

        self._state = State(Clock())
        api_sock, s3_sock = self._bind()
        try:
            self._start_moto()
        except BaseException:
            api_sock.close()
            s3_sock.close()
            raise
        core = self._new_core(base_url=self._url(api_sock), s3_url=self._url(s3_sock))
        self._core = core
        self._inspector = Inspector(core)
        install_log_filter()
        api = instrumented_api(core, self._inspector, self.reset)
        front = instrumented_front(core)
        for app, sock, name in ((api, api_sock, "sandbox-api"), (front, s3_sock, "sandbox-s3")):
            server = ServerThread(app, sock, name=name)
            self._servers.append(server)
            server.start()

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        """The API's and the S3 front's listening sockets (both or neither)."""
        from prefect_firework.sandbox.engine._server import bind_socket

        cfg = self.config
        api_sock = bind_socket(cfg.host, cfg.port, allow_remote=cfg.allow_remote)
        try:
            s3_sock = bind_socket(cfg.host, cfg.s3_port, allow_remote=cfg.allow_remote)
        except BaseException:
            api_sock.close()
            raise
        return api_sock, s3_sock

    def _url(self, sock: socket.socket) -> str:
        from prefect_firework.sandbox.engine._server import url_host

        return f"http://{url_host(self.config.host)}:{sock.getsockname()[1]}"

    def _start_moto(self) -> None:
        from prefect_firework.sandbox.s3._backend import MotoS3

        cfg = self.config
        self._moto = MotoS3(
            host=cfg.host if cfg.allow_remote else "127.0.0.1",
            bucket=cfg.bucket,
            region=cfg.region,
        )
        self._moto.start()

    def _new_core(self, *, base_url: str, s3_url: str) -> Core:
        """The world the servers share: state, seeds, signing identity, moto, part store,
        download client, import workers and (with ``webhook_url``) the webhook sender."""
        import httpx

        from prefect_firework.sandbox.engine._core import Core
        from prefect_firework.sandbox.engine._seeds import seed
        from prefect_firework.sandbox.s3._partstore import PartStore
        from prefect_firework.sandbox.s3._sigv4 import SigningIdentity

        cfg = self.config
        assert self._moto is not None
        core = Core(
            config=cfg,
            state=self._state,
            faults=self.faults,
            s3=self._moto,
            identity=SigningIdentity(
                access_key=f"AKIASANDBOX{new_id(9).upper()}",
                secret_key=new_secret(30),
                region=cfg.region,
            ),
            seeds=seed(self._state, cfg),
            base_url=base_url,
            s3_url=s3_url,
            http=httpx.Client(follow_redirects=True, timeout=cfg.import_download_timeout),
            executor=ThreadPoolExecutor(
                max_workers=cfg.import_workers, thread_name_prefix="sandbox-import"
            ),
            parts=PartStore(),
        )
        if cfg.webhook_url:
            from prefect_firework.sandbox.engine._webhooks import WebhookSender

            core.webhooks = WebhookSender(
                cfg.webhook_url,
                cfg.webhook_secret,
                retry_delays=cfg.webhook_retry_delays,
                timeout=cfg.webhook_timeout,
                events=cfg.webhook_events,
            ).start()
        return core

    def stop(self) -> None:
        """Stop every server and thread and close every socket. Idempotent."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        core, self._core = self._core, None
        if core is not None:
            core.stopping.set()
        for server in self._servers:
            server.stop()
        self._servers.clear()
        for files in self._file_servers:
            files.stop()
        self._file_servers.clear()
        if core is not None:
            core.executor.shutdown(wait=True, cancel_futures=True)
            if core.webhooks is not None:
                core.webhooks.stop()
            core.http.close()
            core.parts.close()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._core is not None

    def _need(self) -> Core:
        if self._core is None:
            raise RuntimeError("the sandbox is not running; call start() or use it in a `with`")
        return self._core

    def _inspect(self) -> Inspector:
        self._need()
        assert self._inspector is not None
        return self._inspector

    # -- addresses and seeded world ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """API root, e.g. ``http://127.0.0.1:54321``; endpoints live under ``/api/v1``."""
        return self._need().base_url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def s3_url(self) -> str:
        """The strict S3 front that upload signatures and part URLs point at."""
        return self._need().s3_url

    @property
    def moto_url(self) -> str:
        """moto itself, for tests that create buckets and objects (any key and secret work)."""
        self._need()
        assert self._moto is not None
        return self._moto.url

    @property
    def bucket(self) -> str:
        return self.config.bucket

    @property
    def client_id(self) -> str:
        return self._need().seeds.client.client_id

    @property
    def client_secret(self) -> str:
        return self._need().seeds.client.client_secret

    @property
    def read_only_client_id(self) -> str:
        return self._need().seeds.read_only_client.client_id

    @property
    def read_only_client_secret(self) -> str:
        return self._need().seeds.read_only_client.client_secret

    @property
    def other_business_client_id(self) -> str:
        return self._need().seeds.other_business_client.client_id

    @property
    def other_business_client_secret(self) -> str:
        return self._need().seeds.other_business_client.client_secret

    @property
    def no_membership_client_id(self) -> str:
        """A client of the main business without a membership in it: its tokens are valid,
        its channel-scoped calls answer 404 "Membership not found"."""
        return self._need().seeds.no_membership_client.client_id

    @property
    def no_membership_client_secret(self) -> str:
        return self._need().seeds.no_membership_client.client_secret

    @property
    def other_business_channel_id(self) -> str:
        return self._need().seeds.other_business_channel_id

    @property
    def other_business_store_id(self) -> str:
        return self._need().seeds.other_business_store_id

    @property
    def channel_id(self) -> str:
        """The default channel (the first of ``channel_ids``)."""
        return self.channel_ids[0]

    @property
    def channel_ids(self) -> list[str]:
        return list(self._need().seeds.channel_ids)

    @property
    def business_store_ids(self) -> list[str]:
        """The main business's stores; the first is used when ``business_store_id`` is absent."""
        return list(self._need().seeds.business_store_ids)

    @property
    def products(self) -> list[Product]:
        """Seeded products (``id``, ``store_id``, ``external_id``, ``units`` with ``external_id``,
        ``gtin``, ``sku``, ``mpn``) of the main business, across its stores."""
        return list(self._need().seeds.products)

    # -- faults, clock -----------------------------------------------------------------------------

    def expire_tokens(self) -> int:
        """Make every token issued so far answer 401; returns how many."""
        from prefect_firework.sandbox.api._auth import expire_all

        return expire_all(self._state)

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox's clock forward: tokens, signatures and rate windows age at once."""
        self._state.clock.advance(seconds)

    # -- inspection --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far: method, path (no query), endpoint, status, time, fault."""
        return list(self._inspect().requests())

    def videos(self) -> list[dict[str, Any]]:
        return list(self._inspect().videos())

    def video(self, video_id: str) -> dict[str, Any]:
        """One video with API fields and internals; ``KeyError`` if unknown."""
        return dict(self._inspect().video(video_id))

    def objects(self) -> list[dict[str, Any]]:
        """Objects in the bucket: ``key``, ``size``, ``md5``, ``etag``, ``last_modified``."""
        return list(self._inspect().objects())

    def imports(self) -> list[dict[str, Any]]:
        return list(self._inspect().imports())

    def multipart_uploads(self) -> list[dict[str, Any]]:
        """Multipart uploads (open / completed / aborted) with the parts the front accepted."""
        return list(self._inspect().multipart_uploads())

    def product_listings(self, video_id: str) -> list[dict[str, Any]]:
        """A video's listings: ``product_id``, ``order`` (1-based) and ``hidden`` (PDP flag)."""
        return list(self._inspect().product_listings(video_id))

    def reset(self) -> None:
        """Forget videos, imports, uploads, objects, requests, faults, rate windows and file
        servers; keep the seeded world, the credentials and issued tokens."""
        self._inspect().reset()
        sender = self._need().webhooks
        if sender is not None:
            sender.clear()
        for files in self._file_servers:
            files.stop()
        self._file_servers.clear()

    # -- webhooks ----------------------------------------------------------------------------------

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Webhooks sent (``config.webhook_url``): ``id``, ``event_type``, ``state`` (pending,
        delivered, failed, dropped), ``attempts`` (``at``, ``status``, ``error``) and ``body``."""
        sender = self._need().webhooks
        return sender.deliveries() if sender is not None else []

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until no webhook is queued, due for a retry or in flight; False on timeout."""
        sender = self._need().webhooks
        return True if sender is None else sender.wait_idle(timeout)

    # -- static files for URL imports ------------------------------------------------------------

    def serve_files(self, directory: str | os.PathLike[str], **behaviour: Any) -> str:
        """Serve ``directory`` over HTTP on loopback and return its base URL.

        ``behaviour`` (``content_type``, ``content_length``, ``ignore_range``, ``status``) is
        applied to every file present now; use ``sb.file_server(url).set_behavior(name, ...)``
        for one file. The server stops with the sandbox (or at ``reset()``).
        """
        from prefect_firework.sandbox.files import FileServer

        self._need()
        server = FileServer(directory).start()
        self._file_servers.append(server)
        if behaviour:
            for name in _files_below(Path(directory)):
                server.set_behavior(name, **behaviour)
        return str(server.url)

    def file_server(self, url: str) -> FileServer:
        """The ``FileServer`` behind a URL returned by ``serve_files``."""
        for server in self._file_servers:
            if url.startswith(server.url):
                return server
        raise KeyError(url)


def _files_below(root: Path) -> Iterable[str]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root).as_posix()
