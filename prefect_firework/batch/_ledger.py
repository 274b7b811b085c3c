"""The idempotency ledger: which rows are finished, kept where Prefect keeps results.

``key -> LedgerEntry``, one small JSON document per key in a Prefect storage block, with a
per-key lock so "check, create, record" runs once per key across threads, processes and (with a
distributed lock manager) machines. Layout, statuses and locks: docs/ARCHITECTURE.md ("The
ledger").
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prefect_firework import _defaults
from prefect_firework._redact import scrub
from prefect_firework.batch._locks import FileLockManager, LockInfo, make_holder
from prefect_firework.errors import LedgerError, LedgerLockTimeout

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem
    from prefect.locking.protocol import LockManager

__all__ = [
    "DEFAULT_NAMESPACE",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerLockManager",
    "LedgerLockTimeout",
    "LedgerStatus",
    "LockInfo",
    "key_digest",
    "make_holder",
    "scrub",
]

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "prefect-firework-ledger"
#: ``not_created``: the create certainly made no video (a rerun creates it); ledgers written
#: before the name was its own said ``failed``, which is read as ``not_created``
LedgerStatus = Literal["creating", "created", "importing", "imported", "not_created"]
_NAMESPACE = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_MAX_ERROR = 2000
_ENTRY_FILE = re.compile(r"[0-9a-f]{64}\.json")


# ---------------------------------------------------------------------- entries


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class LedgerEntry(BaseModel):
    """What the ledger knows about one key. ``updated_at`` is timezone-aware (UTC if naive).

    Status flow of a row: ``creating`` (the create is about to be sent: a crash from here on
    means "look the video up before creating again"), ``created`` / ``importing`` (an async
    import was accepted, ``import_id`` set) -> ``imported``, or ``not_created`` (certainly no
    video: a rerun creates it).
    """

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    status: LedgerStatus
    video_id: str | None = None
    import_id: str | None = None
    s3_key: str | None = None
    upload_id: str | None = None
    #: how the row's video was made (``single``, ``multipart``, ``url-sync``, ``url-async``),
    #: so a rerun that skips the row still reports it
    strategy: str | None = None
    error: str | None = None
    updated_at: datetime = Field(default_factory=_utcnow)

    @field_validator("status", mode="before")
    @classmethod
    def _old_name(cls, value: Any) -> Any:
        return "not_created" if value == "failed" else value

    @field_validator("error")
    @classmethod
    def _scrub_error(cls, value: str | None) -> str | None:
        return None if value is None else scrub(value, limit=_MAX_ERROR)

    @field_validator("updated_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


#: the ledger's default lock manager (file locks with leases); the old name stays an alias
LedgerLockManager = FileLockManager

#: seconds a key's lock lives without a refresh; a holder alive refreshes it every third
DEFAULT_LOCK_LEASE = _defaults.LOCK_LEASE


def key_digest(key: str) -> str:
    """The file-name-safe name of ``key``: 64 hex characters (SHA-256 of its UTF-8)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------- storage


def _resolve(value: Any) -> Any:
    """Call results of block methods: a coroutine in an async context, a value otherwise."""
    if inspect.isawaitable(value):
        from prefect.utilities.asyncutils import run_coro_as_sync

        return run_coro_as_sync(value)  # type: ignore[call-overload]  # a block's coroutine
    return value


def _is_not_found(exc: BaseException) -> bool:
    """Whether a block's read error means "no such object" (and nothing worse)."""
    if isinstance(exc, FileNotFoundError):
        return True
    if type(exc).__name__ in {"NoSuchKey", "NotFound", "ResourceNotFoundError", "BlobNotFound"}:
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        if code in {"NoSuchKey", "404", "NotFound"}:
            return True
    return isinstance(exc, ValueError) and "does not exist" in str(exc)


def _local_root(storage: Any) -> Path | None:
    from prefect.filesystems import LocalFileSystem

    if isinstance(storage, LocalFileSystem):
        return Path(storage.basepath or ".").expanduser().resolve()
    return None


def _refuse_to_settle(key: str, entry: LedgerEntry | None, where: str) -> None:
    """Raise :class:`LedgerError` unless ``entry`` is a row a crash left ``creating``."""
    if entry is None:
        raise LedgerError(
            f"the ledger has no entry for key {key!r} ({where}): check the key (the results "
            "table's `key`) and the ledger's storage; force=True (CLI: --force) records it anyway"
        )
    if entry.status == "creating":
        return
    held = f" (video {entry.video_id})" if entry.video_id else ""
    if entry.import_id:
        held += f" (import {entry.import_id})"
    raise LedgerError(
        f"ledger key {key!r} is {entry.status}{held}, not creating: only a row a crash left "
        "creating needs settling, and overwriting it could make the next run create a second "
        "video; force=True (CLI: --force) overwrites it"
    )


class Ledger:
    """Finished rows by idempotency key, in a Prefect storage block; per-key locks.

    ``storage``: a ``WritableFileSystem`` block; a ``pathlib.Path`` (a local directory); a string,
    read like Prefect's ``result_storage``: a block slug ``"<block-type>/<block-name>"``
    (e.g. ``"s3-bucket/ledger"``), except that an absolute path, a path starting with ``.`` or
    ``~``, or a ``file://`` URI is a local directory; ``None``: Prefect's default result storage.

    Picklable: it keeps the storage block or directory, the namespace and the lock manager you
    gave; the result store and the locks' in-memory state are rebuilt in each process.
    """

    def __init__(
        self,
        storage: WritableFileSystem | str | os.PathLike[str] | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        lock_manager: LockManager | None = None,
        lock_lease: float = DEFAULT_LOCK_LEASE,
    ) -> None:
        if not lock_lease > 0:
            raise ValueError(f"lock_lease must be positive seconds, got {lock_lease!r}")
        if not _NAMESPACE.fullmatch(namespace) or ".." in namespace.split("/"):
            raise ValueError(
                f"namespace must be path segments of letters, digits, '.', '_' or '-', "
                f"got {namespace!r}"
            )
        self.namespace = namespace
        self._storage: Any = None
        self._root: Path | None = None
        block = self._storage_block(storage)
        self._root = _local_root(block)
        self._storage = None if self._root is not None else block
        self._lock_manager = lock_manager
        self.lock_lease = float(lock_lease)
        self._init_runtime()

    def _init_runtime(self) -> None:
        """State that lives in one process only (rebuilt after unpickling)."""
        self._manager: Any = None
        self._local: threading.local | None = None
        self._state_lock = threading.Lock()
        self._holders: dict[str, str] = {}
        self._refresher: threading.Thread | None = None

    @staticmethod
    def _storage_block(storage: Any) -> Any:
        from prefect.filesystems import LocalFileSystem, WritableFileSystem

        if storage is None:
            from prefect.results import get_default_result_storage

            return _resolve(get_default_result_storage())
        if isinstance(storage, WritableFileSystem):
            return storage
        if isinstance(storage, os.PathLike):
            return LocalFileSystem(basepath=os.fspath(storage))
        if isinstance(storage, str):
            if storage.startswith("file://"):
                return LocalFileSystem(basepath=storage.removeprefix("file://"))
            if os.path.isabs(storage) or storage.startswith((".", "~")):
                return LocalFileSystem(basepath=storage)
            from prefect.results import resolve_result_storage

            return _resolve(resolve_result_storage(storage))
        raise TypeError(
            "storage must be a WritableFileSystem block, a block slug, a path or None, "
            f"got {type(storage).__name__}"
        )

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "_storage": self._storage,
            "_root": self._root,
            "_lock_manager": self._lock_manager,
            "lock_lease": self.lock_lease,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("lock_lease", DEFAULT_LOCK_LEASE)
        self.__dict__.update(state)
        self._init_runtime()

    def __repr__(self) -> str:
        where = str(self._root) if self._root is not None else type(self._storage).__name__
        return f"Ledger({where!r}, namespace={self.namespace!r})"

    # ------------------------------------------------------------------ layout

    @property
    def local_directory(self) -> Path | None:
        """``<storage>/<namespace>`` for local storage, else None."""
        return None if self._root is None else self._root / self.namespace

    @property
    def lock_directory(self) -> Path | None:
        """Where the default lock manager keeps lock files (None with your own manager)."""
        if self._lock_manager is not None:
            return None
        if self._root is not None:
            return self._root / self.namespace / "locks"
        from prefect.settings import get_current_settings

        home = Path(get_current_settings().home).expanduser()
        return home / "prefect-firework" / "locks" / self.namespace

    def location(self, name: str = "") -> str:
        """Where ``name`` (an entry's relative name) lives: a local path or the block's URL."""
        if self._root is not None:
            return str(self._root / self.namespace if not name else self._root / name)
        base = str(
            getattr(self._storage, "basepath", "") or getattr(self._storage, "bucket_name", "")
        )
        where = f"{type(self._storage).__name__}({base})" if base else type(self._storage).__name__
        return f"{where}/{name or self.namespace}"

    def _entry_name(self, key: str) -> str:
        return f"{self.namespace}/entries/{key_digest(key)}.json"

    # ------------------------------------------------------------------ entries

    def get(self, key: str) -> LedgerEntry | None:
        """The entry of ``key``, or None if the ledger has none.

        Raises :class:`LedgerError` if the entry cannot be read or is corrupt: treating that as
        "no entry" would re-create a video that exists.
        """
        name = self._entry_name(key)
        try:
            if self._root is not None:
                content = (self._root / name).read_bytes()
            else:
                content = _resolve(self._storage.read_path(name))
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise LedgerError(
                f"cannot read ledger entry for key {key!r} at {self.location(name)}: {exc}"
            ) from exc
        try:
            entry = LedgerEntry.model_validate_json(content)
        except ValueError as exc:
            raise LedgerError(f"corrupt ledger entry for key {key!r} ({name}): {exc}") from exc
        if entry.key != key:
            raise LedgerError(f"ledger entry {name} holds key {entry.key!r}, not {key!r}")
        return entry

    def put(self, entry: LedgerEntry) -> None:
        """Record ``entry`` (replacing the key's previous one); atomic for a reader."""
        content = entry.model_dump_json().encode("utf-8")
        name = self._entry_name(entry.key)
        try:
            self._write(name, content)
        except Exception as exc:
            raise LedgerError(
                f"cannot write ledger entry for key {entry.key!r} at {self.location(name)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # ------------------------------------------------------------------ spent uploads

    def _upload_name(self, upload_id: str) -> str:
        return f"{self.namespace}/uploads/{key_digest(upload_id)}.json"

    def _write(self, name: str, content: bytes) -> None:
        if self._root is not None:
            self._write_local(self._root / name, content)
        else:
            _resolve(self._storage.write_path(name, content))

    def spend_upload(self, upload_id: str, key: str | None = None, *, spent: bool = True) -> None:
        """Record that a create from ``upload_id``'s object was sent (``spent=False``: that
        it certainly made no video after all), so the upload is never turned into a second
        video: a resumable upload is one that has not yet become a video."""
        content = json.dumps(
            {"upload_id": upload_id, "key": key, "spent": spent, "at": _utcnow().isoformat()}
        ).encode()
        name = self._upload_name(upload_id)
        try:
            self._write(name, content)
        except Exception as exc:
            raise LedgerError(
                f"cannot record upload {upload_id} at {self.location(name)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def upload_spent(self, upload_id: str) -> bool:
        """Whether a create from ``upload_id``'s object was sent (see :meth:`spend_upload`)."""
        name = self._upload_name(upload_id)
        try:
            if self._root is not None:
                content = (self._root / name).read_bytes()
            else:
                content = _resolve(self._storage.read_path(name))
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise LedgerError(
                f"cannot read upload record {upload_id} at {self.location(name)}: {exc}"
            ) from exc
        try:
            return bool(json.loads(content).get("spent", True))
        except (ValueError, AttributeError):
            return True  # unreadable: assume the worst, upload afresh

    def resolve(
        self,
        key: str,
        video_id: str | None,
        *,
        timeout: float | None = 600,
        force: bool = False,
    ) -> LedgerEntry:
        """Settle a row a crash left ``creating``, after looking for its video in Firework.

        The API cannot be searched, so only an operator (or a test, through the sandbox) can
        tell whether that create reached Firework: batch flows tag each video's
        ``custom_fields`` with its row key for exactly this look-up. ``video_id`` given: the
        row is recorded ``created`` and the next run skips it. ``None``: recorded
        ``not_created``, and the next run creates it. The key is held while it is read and
        written, so a batch that is creating that row right now is waited for, not overwritten.

        Only a ``creating`` entry is settled: an unknown key or an entry in any other status
        (``created``: overwriting it would let the next run create a second video) raises
        :class:`LedgerError`, unless ``force=True``.
        """
        return self._settle(key, video_id, timeout=timeout, force=force)[1]

    def _settle(
        self, key: str, video_id: str | None, *, timeout: float | None, force: bool
    ) -> tuple[LedgerEntry | None, LedgerEntry]:
        """:meth:`resolve`, returning (the entry it replaced or None, the entry it wrote)."""
        with self.hold(key, timeout=timeout):
            previous = self.get(key)
            if not force:
                _refuse_to_settle(key, previous, self.location(self._entry_name(key)))
            strategy = previous.strategy if previous is not None else None
            if video_id:
                entry = LedgerEntry(
                    key=key, status="created", video_id=video_id, strategy=strategy
                )
            else:
                error = "resolved: the earlier create made no video"
                entry = LedgerEntry(key=key, status="not_created", error=error)
            self.put(entry)
        return previous, entry

    def entries(self) -> Iterator[LedgerEntry]:
        """Every entry of the ledger, in the order of their file names (not a snapshot).

        Local storage lists ``<storage>/<namespace>/entries``; a ``RemoteFileSystem`` block is
        listed through its fsspec file system, an ``S3Bucket`` block (prefect-aws) through its
        ``list_objects``. Other blocks offer no listing: :class:`LedgerError` says so. An
        entry that is unreadable or corrupt raises :class:`LedgerError`, as :meth:`get` does.
        """
        for file_name in self._entry_file_names():
            name = f"{self.namespace}/entries/{file_name}"
            try:
                if self._root is not None:
                    content = (self._root / name).read_bytes()
                else:
                    content = _resolve(self._storage.read_path(name))
            except Exception as exc:
                if _is_not_found(exc):
                    continue  # replaced or removed since the listing
                raise LedgerError(f"cannot read ledger entry {self.location(name)}: {exc}") from exc
            try:
                entry = LedgerEntry.model_validate_json(content)
            except ValueError as exc:
                raise LedgerError(f"corrupt ledger entry {name}: {exc}") from exc
            if f"{key_digest(entry.key)}.json" != file_name:
                raise LedgerError(f"ledger entry {name} holds key {entry.key!r}, not its own")
            yield entry

    def _entry_file_names(self) -> list[str]:
        """The ``<digest>.json`` names under ``<namespace>/entries``, sorted."""
        folder = f"{self.namespace}/entries"
        if self._root is not None:
            directory = self._root / folder
            names = [p.name for p in directory.glob("*.json")] if directory.is_dir() else []
        else:
            names = [posixpath.basename(path) for path in self._list_remote(folder)]
        return sorted(name for name in names if _ENTRY_FILE.fullmatch(name))

    def _list_remote(self, folder: str) -> list[str]:
        from prefect.filesystems import RemoteFileSystem

        storage = self._storage
        try:
            if isinstance(storage, RemoteFileSystem):
                base = storage.basepath.rstrip("/")
                fs = storage.filesystem
                found = fs.glob(f"{base}/{folder}/*.json")
                return [str(path) for path in found]
            if callable(getattr(storage, "list_objects", None)):  # prefect-aws S3Bucket
                listed = _resolve(storage.list_objects(folder=f"{folder}/"))
                return [str(item["Key"]) for item in listed]
        except Exception as exc:
            raise LedgerError(
                f"cannot list the ledger at {self.location(folder)}: {type(exc).__name__}: {exc}"
            ) from exc
        raise LedgerError(
            f"listing the ledger needs local storage (a directory), a RemoteFileSystem or an "
            f"S3Bucket block; a {type(storage).__name__} block offers no listing (single "
            "entries can still be read by key)"
        )

    @staticmethod
    def _write_local(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    # ------------------------------------------------------------------ locks

    def _lock_manager_in_use(self) -> Any:
        with self._state_lock:
            if self._manager is None:
                manager = self._lock_manager
                if manager is None:
                    directory = self.lock_directory
                    assert directory is not None
                    manager = FileLockManager(directory)
                self._manager = manager
            return self._manager

    def _held(self) -> set[str]:
        if self._local is None:
            with self._state_lock:
                if self._local is None:
                    self._local = threading.local()
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = set()
        return held

    def _acquire(self, digest: str, timeout: float) -> bool:
        holder = make_holder()
        manager = self._lock_manager_in_use()
        if not manager.acquire_lock(
            digest, holder=holder, acquire_timeout=timeout, hold_timeout=self.lock_lease
        ):
            return False
        self._held().add(digest)
        with self._state_lock:
            self._holders[digest] = holder
            self._start_refresher(manager)
        return True

    def _release(self, digest: str) -> None:
        self._held().discard(digest)
        with self._state_lock:
            holder = self._holders.pop(digest, None)
        if holder is not None:
            try:
                self._lock_manager_in_use().release_lock(digest, holder=holder)
            except ValueError:  # the lease ran out and another holder took the key
                logger.warning(
                    "The ledger lock %s had expired before its release (lease %.0f s)",
                    digest,
                    self.lock_lease,
                )

    def _start_refresher(self, manager: Any) -> None:
        """Keep the leases of held keys alive while this process holds them (under the lock)."""
        if not hasattr(manager, "refresh"):
            return  # a caller's lock manager: its hold_timeout is the whole lease
        if self._refresher is not None and self._refresher.is_alive():
            return
        self._refresher = threading.Thread(
            target=self._refresh_leases, args=(manager,), name="ledger-leases", daemon=True
        )
        self._refresher.start()

    def _refresh_leases(self, manager: Any) -> None:
        while True:
            time.sleep(self.lock_lease / 3)
            with self._state_lock:
                held = dict(self._holders)
                if not held:
                    self._refresher = None
                    return
            for digest, holder in held.items():
                try:
                    manager.refresh(digest, holder, self.lock_lease)
                except OSError:
                    logger.warning("Could not refresh the ledger lock %s", digest, exc_info=True)

    def lock_info(self, key: str) -> LockInfo | None:
        """Who holds ``key``'s lock, since when, until when (None: free, or not knowable)."""
        manager = self._lock_manager_in_use()
        info = getattr(manager, "info", None)
        return info(key_digest(key)) if info is not None else None

    def try_acquire(self, key: str) -> bool:
        """Hold ``key`` if nobody else does, without waiting; pair with :meth:`release`.

        For the batch flows' scheduler, which must not stall its thread while another run
        holds a row (two runs blocking on each other's rows would deadlock). False as well
        while this thread holds it: the scheduler runs many rows on one thread, and two rows
        of one manifest may share a key (the same video listed twice).
        """
        digest = key_digest(key)
        if digest in self._held():
            return False
        return self._acquire(digest, 0.0)

    def release(self, key: str) -> None:
        """Release a key taken with :meth:`try_acquire`."""
        self._release(key_digest(key))

    @contextlib.contextmanager
    def hold(self, key: str, *, timeout: float | None = 600) -> Iterator[None]:
        """Hold ``key`` exclusively (threads and processes) for the block: check, act, record.

        What an operator's tool uses to settle a row by hand without racing a batch that is
        running (``prefect-firework ledger resolve`` does). Raises :class:`LedgerLockTimeout`
        after ``timeout`` seconds (None: wait forever). Not re-entrant: holding a key this
        thread already holds raises ``RuntimeError`` instead of deadlocking.
        """
        digest = key_digest(key)
        if digest in self._held():
            raise RuntimeError(f"ledger key {key!r} is already held by this thread")
        deadline = None if timeout is None else time.monotonic() + max(float(timeout), 0.001)
        while not self._acquire(digest, 0.0 if deadline is None else 0.05):
            if deadline is not None and time.monotonic() >= deadline:
                holder = self.lock_info(key)
                who = f" ({holder.describe()})" if holder else ""
                where = (
                    f", lock file {self.lock_directory}/{digest}.lock"
                    if self.lock_directory
                    else ""
                )
                raise LedgerLockTimeout(
                    f"could not hold ledger key {key!r} within {timeout} s: another run holds "
                    f"it{who}{where}"
                )
            if deadline is None:
                time.sleep(0.05)
        try:
            yield
        finally:
            try:
                self._release(digest)
            except Exception:
                logger.warning("Could not release the ledger lock of key %r", key, exc_info=True)
