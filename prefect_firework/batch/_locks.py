"""Per-key file locks with leases, implementing Prefect's ``LockManager`` protocol.

The ledger serializes "check, create, record" per row key with these locks. A lock file is
``<directory>/<key>.lock`` holding ``{"holder", "acquired", "expiration"}``, written aside and
hard-linked into place so a contender never reads half a lock. A lock is *stale*, and broken
by the next contender, when its lease has expired (its holder stopped refreshing it: see
:meth:`FileLockManager.refresh`), when its holder process on this host is gone, or when its
content was never written (a crash mid-write) for longer than a grace period.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["FileLockManager", "LockInfo", "holder_is_gone", "make_holder"]

logger = logging.getLogger(__name__)

_HOLDER_PREFIX = "prefect-firework"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _process_stat(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _process_start(pid: int) -> str:
    """An id of the process' start (Linux: start time in ticks); "" when unknown."""
    fields = _process_stat(pid)
    return fields[19].decode() if len(fields) > 19 else ""


def make_holder() -> str:
    """A holder name unique to this call, that says which host and process holds the lock."""
    pid = os.getpid()
    return "|".join(
        [
            _HOLDER_PREFIX,
            socket.gethostname(),
            str(pid),
            _process_start(pid),
            str(threading.get_ident()),
            uuid.uuid4().hex,
        ]
    )


def holder_is_gone(holder: str) -> bool:
    """True only when sure: the holder ran on this host and its process no longer exists."""
    if os.name != "posix":
        return False  # no safe liveness probe (os.kill(pid, 0) terminates on Windows)
    parts = holder.split("|")
    if len(parts) != 6 or parts[0] != _HOLDER_PREFIX or parts[1] != socket.gethostname():
        return False
    try:
        pid = int(parts[2])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    fields = _process_stat(pid)
    if fields and fields[0] == b"Z":
        return True  # killed, not yet reaped by its parent
    started = parts[3]
    return bool(started) and _process_start(pid) not in ("", started)  # pid reused


def describe_holder(holder: str) -> str:
    """``host pid 123`` for our holders, the raw name otherwise."""
    parts = holder.split("|")
    if len(parts) == 6 and parts[0] == _HOLDER_PREFIX:
        return f"host {parts[1]} pid {parts[2]}"
    return repr(holder) if holder else "an unknown holder (an unreadable lock file)"


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock, since when, and until when its lease runs (None: no lease)."""

    holder: str
    acquired: datetime | None
    expiration: datetime | None

    def describe(self) -> str:
        since = f" since {self.acquired:%Y-%m-%d %H:%M:%S} UTC" if self.acquired else ""
        until = (
            f", lease until {self.expiration:%H:%M:%S} UTC"
            if self.expiration
            else ", with no lease"
        )
        return f"{describe_holder(self.holder)}{since}{until}"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class FileLockManager:
    """Prefect's ``LockManager`` protocol on lock files in one directory, with leases.

    ``hold_timeout`` is the lease: the lock expires that many seconds after it was taken or
    last refreshed, and any contender, on any host, may then break it. Holders that live long
    call :meth:`refresh` (the ledger does, from a background thread). ``hold_timeout=None``
    never expires; such a lock is broken only when its holder process on this host is gone.
    Picklable (a directory); one instance may serve many threads.
    """

    poll_interval: float = 0.05
    #: a lock file without valid content older than this was left by a crash mid-write
    empty_lock_grace: float = 30.0

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FileLockManager({str(self.directory)!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.lock"

    # ------------------------------------------------------------------ reading

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def _parse(content: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(content)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def info(self, key: str) -> LockInfo | None:
        """Who holds ``key`` now (None: nobody)."""
        content = self._read(self._path(key))
        if content is None:
            return None
        data = self._parse(content) or {}
        holder = data.get("holder")
        return LockInfo(
            holder=holder if isinstance(holder, str) else "",
            acquired=_parse_time(data.get("acquired")),
            expiration=_parse_time(data.get("expiration")),
        )

    def _stale(self, path: Path, content: bytes) -> bool:
        data = self._parse(content)
        if data is None:
            try:
                return time.time() - path.stat().st_mtime > self.empty_lock_grace
            except FileNotFoundError:
                return False
        expiration = _parse_time(data.get("expiration"))
        if expiration is not None and expiration <= _utcnow():
            return True
        holder = data.get("holder", "")
        return isinstance(holder, str) and holder_is_gone(holder)

    # ------------------------------------------------------------------ writing

    @staticmethod
    def _payload(holder: str, hold_timeout: float | None, acquired: str | None = None) -> bytes:
        now = _utcnow()
        expiration = None if hold_timeout is None else now + timedelta(seconds=hold_timeout)
        return json.dumps(
            {
                "holder": holder,
                "acquired": acquired or now.isoformat(),
                "expiration": None if expiration is None else expiration.isoformat(),
            }
        ).encode()

    def _create(self, path: Path, payload: bytes) -> bool:
        """Create ``path`` holding ``payload`` if it does not exist, atomically."""
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(payload)
        try:
            os.link(temporary, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here (some network/FAT filesystems): O_EXCL + write
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            return True
        finally:
            temporary.unlink(missing_ok=True)

    def _break_if_stale(self, path: Path) -> None:
        content = self._read(path)
        if content is None or not self._stale(path, content):
            return
        with self._guard(path):
            # under the guard nobody else breaks: if the content is still the one judged
            # stale, it is still that stale lock (a refresh or a new holder changes it)
            if self._read(path) == content and self._stale(path, content):
                path.unlink(missing_ok=True)
                logger.warning("Broke the stale ledger lock %s (%s)", path, content[:200])

    def _guard(self, path: Path) -> Any:
        """An exclusive ``flock`` beside the lock (a no-op where there is no flock)."""
        import contextlib

        @contextlib.contextmanager
        def guard() -> Any:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX
                yield
                return
            with open(path.with_suffix(".break"), "a+b") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

        return guard()

    # ------------------------------------------------------------------ the protocol

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while True:
            if self._create(path, self._payload(holder, hold_timeout)):
                return True
            if self.is_lock_holder(key, holder):
                return True
            self._break_if_stale(path)
            if self._create(path, self._payload(holder, hold_timeout)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_interval)

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(
            self.acquire_lock, key, holder, acquire_timeout, hold_timeout
        )

    def refresh(self, key: str, holder: str, hold_timeout: float | None) -> bool:
        """Extend the lease of ``key`` if ``holder`` still holds it; False if it does not."""
        path = self._path(key)
        with self._guard(path):
            info = self.info(key)
            if info is None or info.holder != holder:
                return False
            acquired = info.acquired.isoformat() if info.acquired else None
            temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            try:
                temporary.write_bytes(self._payload(holder, hold_timeout, acquired))
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        path = self._path(key)
        with self._guard(path):
            info = self.info(key)
            if info is None or info.holder != holder:
                raise ValueError(f"no lock for {key!r} is held by {holder!r}")
            path.unlink(missing_ok=True)

    def is_locked(self, key: str) -> bool:
        path = self._path(key)
        content = self._read(path)
        return content is not None and not self._stale(path, content)

    def is_lock_holder(self, key: str, holder: str) -> bool:
        info = self.info(key)
        return info is not None and info.holder == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_interval)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.wait_for_lock, key, timeout)
