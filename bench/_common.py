"""Shared plumbing for the benchmarks: processes (sandbox, Prefect server, workers), media,
statistics, machine facts and the ``bench/RESULTS.md`` appender.

Every process started here binds 127.0.0.1 on an ephemeral port, runs in its own session and
is stopped by its own pid (its process group) in a ``finally``; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "_work"
RESULTS = BENCH / "RESULTS.md"
PY = sys.executable
WORKER = str(BENCH / "_worker.py")
MiB = 1024 * 1024
GiB = 1024 * MiB

# -- machine -----------------------------------------------------------------------------------


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def busy_tests() -> int:
    """How many pytest processes (other engineers' test runs) are alive right now."""
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"pytest" in cmd and int(pid) != os.getpid():
            count += 1
    return count


def machine() -> str:
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    versions = []
    for dist in ("prefect", "httpx", "boto3", "s3transfer", "moto"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} ?")
    curl = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()
    return (
        f"{os.cpu_count()} cores, {mem / GiB:.1f} GiB RAM, {platform.machine()}; "
        f"python {platform.python_version()}, {', '.join(versions)}, "
        f"curl {curl[1] if len(curl) > 1 else '?'}; prefect-firework at {revision()}"
    )


def revision() -> str:
    """The commit measured (``+dirty`` when prefect_firework/ or bench/ had local changes)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    return commit + (
        "+dirty"
        if git("status", "--porcelain", "--", "prefect_firework", "bench", ":!bench/RESULTS.md")
        else ""
    )


# -- statistics --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{min(values):.2f}-{max(values):.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if v != v else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# -- results -----------------------------------------------------------------------------------


def command_line() -> str:
    script = os.path.relpath(sys.argv[0], ROOT)
    return " ".join([".venv/bin/python", script, *map(shlex.quote, sys.argv[1:])])


def report(title: str, body: str, *, load_before: str, notes: Sequence[str] = ()) -> str:
    """Print a section and append it to ``bench/RESULTS.md``; return it."""
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"## {title}",
        "",
        f"- command: `{command_line()}`",
        f"- date: {now}; machine: {machine()}",
        f"- 1-min load average: {load_before} before, {loadavg()} after; "
        f"pytest processes running: {busy_tests()}",
        "",
        body,
        "",
    ]
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines).rstrip() + "\n\n"
    print(text, flush=True)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in `bench/`.\n\n")
    with RESULTS.open("a") as fh:
        fh.write(text)
    return text


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """Stop a process we started (and its process group: it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)  # its group too: e.g. Prefect's ephemeral server
    if proc.poll() is not None:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PYTHONWARNINGS="ignore",
        PYTHONUNBUFFERED="1",
    )
    env.pop("PREFECT_API_URL", None)
    env.update(extra)
    return env


def tree_cpu(proc: subprocess.Popen[Any] | None) -> float:
    """User+sys CPU seconds a server process and its children have used so far."""
    import psutil

    if proc is None:
        return 0.0
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(proc.pid)
        for one in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                times = one.cpu_times()
                total += times.user + times.system
    return total


_SANDBOX = """
import json, sys
from prefect_firework.sandbox.config import SandboxConfig
from prefect_firework.sandbox.serve import serve_forever
serve_forever(port=0, s3_port=0, config=SandboxConfig(**json.loads(sys.argv[1])))
"""


class SandboxProc:
    """``serve_forever`` of the sandbox in its own process (so its CPU is not the client's)."""

    def __init__(
        self, *, cwd: Path | None = None, env: dict[str, str] | None = None, **config: Any
    ) -> None:
        self.config = config
        self.cwd = cwd  # with env={"PYTHONPATH": ...}: another checkout's sandbox, same venv
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by the GC

    def start(self) -> SandboxProc:
        self.proc = subprocess.Popen(
            [PY, "-c", _SANDBOX, json.dumps(self.config)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=base_env(**self.env),
            cwd=self.cwd,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        fields: dict[str, str] = {}
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                self._log.seek(0)
                raise RuntimeError(f"sandbox did not start:\n{self._log.read()[-3000:]}")
            name, _, value = line.partition(": ")
            fields[name.strip()] = value.strip()
            if name == "inspect":
                break
        else:
            raise RuntimeError("sandbox did not start in 90 s")
        import httpx

        self.http = httpx.Client(base_url=fields["base_url"], timeout=120)
        self.info = self.http.get("/_sandbox/info").json()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        with contextlib.suppress(Exception):
            self.http.close()

    def __enter__(self) -> SandboxProc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_sandbox/requests").json())

    def rss(self) -> int:
        import psutil

        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def for_worker(self) -> dict[str, Any]:
        keys = ("base_url", "s3_url", "moto_url", "bucket", "client_id", "client_secret")
        out = {k: self.info[k] for k in keys}
        out["channel_id"] = self.info["channel_id"]
        out["channel_ids"] = self.info["channel_ids"]
        return out


def _prefect_home_template() -> Path:
    """A PREFECT_HOME with its database migrated and its block types registered, made once
    per Prefect version under ``.cache/``: a server on an empty home spends ~10 s of its
    start on that, eight times in ``make bench``. The runs themselves are not affected.
    """
    template = ROOT / ".cache" / "bench" / f"prefect-home-{metadata.version('prefect')}"
    if (template / "prefect.db").exists():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    # staged beside the template, so that the rename below is atomic (same file system)
    staging = Path(tempfile.mkdtemp(prefix="prefect-home-", dir=template.parent))
    server = PrefectServer(home=staging)
    server.start()
    _stop(server.proc)  # exited: its database files are consistent to copy
    try:
        staging.rename(template)
    except OSError:  # another benchmark made it first
        shutil.rmtree(staging, ignore_errors=True)
    return template


class PrefectServer:
    """``prefect server start`` on a free loopback port with its own PREFECT_HOME: ``home``,
    or a new copy of the migrated template.
    """

    def __init__(self, home: Path | None = None) -> None:
        if home is None:
            home = Path(tempfile.mkdtemp(prefix="bench-prefect-home-"))
            shutil.copytree(_prefect_home_template(), home, dirs_exist_ok=True)
        self.home = home
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the GC

    def start(self) -> PrefectServer:
        import httpx

        prefect = str(Path(PY).parent / "prefect")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=base_env(PREFECT_HOME=str(self.home), PREFECT_SERVER_LOGGING_LEVEL="WARNING"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"prefect server exited:\n{self._log.read()[-3000:]!r}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    self.start_seconds = time.monotonic() - started
                    return self
            time.sleep(0.5)
        raise RuntimeError("prefect server did not answer /api/health in 120 s")

    def env(self) -> dict[str, str]:
        """Environment for a child that runs flows against this server."""
        return {"PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(self.home)}

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker(
    config: dict[str, Any], *, env: dict[str, str] | None = None, timeout: float = 900
) -> dict[str, Any]:
    """Run ``bench/_worker.py`` with ``config`` in a fresh process; return its JSON result."""
    # fresh result storage per worker: no run resumes another's cached multipart upload
    storage = tempfile.mkdtemp(prefix="bench-results-")
    child_env = base_env(PREFECT_LOCAL_STORAGE_PATH=storage, **(env or {}))
    spawned = time.time()
    flags = config.pop("_python_flags", [])
    # the config as a file: a 5,000-row manifest is more than an argument list may hold
    config_path = Path(storage) / "worker-config.json"
    config_path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [PY, *flags, WORKER, f"@{config_path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise RuntimeError(f"worker {config.get('mode')} timed out after {timeout} s") from None
    finally:
        _stop(proc)
        shutil.rmtree(storage, ignore_errors=True)
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            result["spawned"] = spawned
            result["stderr"] = err
            return result
    raise RuntimeError(f"worker {config.get('mode')} failed (rc={proc.returncode}):\n{err[-4000:]}")


# -- media -------------------------------------------------------------------------------------


def video(size: int, *, seed: int = 0) -> Path:
    """A real MP4 of exactly ``size`` bytes under ``bench/_work`` (made once, then reused)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"video-{size}-{seed}.mp4"
    if path.exists() and path.stat().st_size == size:
        return path
    from prefect_firework.sandbox.media import make_mp4

    tmp = path.with_suffix(".tmp.mp4")
    make_mp4(tmp, 8, size=size, seed=seed)
    tmp.replace(path)
    return path


def served_clip() -> tuple[Path, Path]:
    """``(directory, clip)``: a 64 KiB MP4 in a directory for :class:`FileServer` to serve, the
    source of the URL-import rows (and, as a local file, of the small-file rows)."""
    served = WORK / "served"
    served.mkdir(parents=True, exist_ok=True)
    small = video(64 * 1024, seed=3)
    (served / "clip.mp4").write_bytes(small.read_bytes())
    return served, small


def url_rows(base_url: str, channel_ids: Sequence[str], count: int) -> list[dict[str, Any]]:
    """``count`` sync URL-import rows of the served clip, spread round-robin over channels."""
    return [
        {
            "url": f"{base_url}/clip.mp4",
            "channel_id": channel_ids[i % len(channel_ids)],
            "async": False,
        }
        for i in range(count)
    ]


def split_parts(source: Path, part_size: int) -> list[Path]:
    """The source cut into part files (for curl -T), made once per (file, part size)."""
    folder = WORK / f"parts-{source.stem}-{part_size}"
    size = source.stat().st_size
    count = -(-size // part_size)
    paths = [folder / f"part-{n:05d}" for n in range(1, count + 1)]
    if folder.exists() and all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as fh:
        for path in paths:
            path.write_bytes(fh.read(part_size))
    return paths


def put_s3_source(moto_url: str, bucket: str, key: str, path: Path) -> str:
    """Store ``path`` in moto (one PUT, so moto does not assemble parts in memory)."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            read_timeout=600,
        ),
    )
    with contextlib.suppress(Exception):
        s3.create_bucket(Bucket=bucket)
    with contextlib.suppress(Exception):
        head = s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] == path.stat().st_size:
            return f"s3://{bucket}/{key}"
    with path.open("rb") as fh:
        s3.put_object(Bucket=bucket, Key=key, Body=fh, ContentLength=path.stat().st_size)
    return f"s3://{bucket}/{key}"


def s3_transport_params(moto_url: str) -> dict[str, Any]:
    return {
        "client_kwargs": {
            "S3.Client": {
                "endpoint_url": moto_url,
                "region_name": "us-east-1",
                "aws_access_key_id": "bench",
                "aws_secret_access_key": "bench",
            }
        }
    }


@contextlib.contextmanager
def section(name: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    yield
    print(f"[bench] {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


class FileServer:
    """``python -m http.server`` on loopback serving ``directory`` (URL-import sources)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FileServer:
        import httpx

        self.proc = subprocess.Popen(
            [PY, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url, timeout=1)
                return self
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("file server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


def pair_ratio(a: Sequence[dict], b: Sequence[dict], key: str) -> float:
    """Median over rounds of a[i][key] / b[i][key] (pairs measured in the same round)."""
    values = [x[key] / y[key] for x, y in zip(a, b, strict=False) if x.get(key) and y.get(key)]
    return median(values)
