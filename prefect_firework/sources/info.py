"""What the sources layer reports about a source: :class:`SourceStat` and :class:`SourceInfo`.

Both are frozen, picklable dataclasses so they can cross task and process boundaries. The full
URI may hold a presigned query string, so it is left out of ``repr``; use ``display``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .uri import redact

__all__ = ["SourceInfo", "SourceStat", "SourceVersion"]


@dataclass(frozen=True)
class SourceVersion:
    """What identifies one version of a source's bytes: size, ETag, mtime (no URI: it is
    passed to tasks, and a URI may be presigned).

    Reads given a version (``open_range(..., expect=...)``) refuse a source that no longer
    matches it, so an upload never mixes bytes of two versions.
    """

    size: int
    etag: str | None = None
    mtime: float | None = None

    def differs(self, other: SourceVersion) -> str | None:
        """Why ``other`` is another version than this one (None: the same, as far as known)."""
        if other.size != self.size:
            return f"its size is now {other.size:,} bytes, not {self.size:,}"
        if self.etag and other.etag and other.etag != self.etag:
            return f"its ETag is now {other.etag}, not {self.etag}"
        if self.mtime is not None and other.mtime is not None and other.mtime != self.mtime:
            return "it was modified (its modification time changed)"
        return None


@dataclass(frozen=True)
class SourceStat:
    """Size and change validators of a source, from one metadata call (stat, HEAD, HeadObject).

    ``etag`` is the server's entity tag with quotes removed (S3, HTTP); ``mtime`` is a POSIX
    timestamp (local mtime, HTTP ``Last-Modified``, S3 ``LastModified``). Either may be None.
    """

    uri: str = field(repr=False)
    size: int
    etag: str | None = None
    mtime: float | None = None

    @property
    def display(self) -> str:
        """The URI without credentials or query string."""
        return redact(self.uri)

    @property
    def version(self) -> SourceVersion:
        return SourceVersion(self.size, self.etag, self.mtime)


@dataclass(frozen=True)
class SourceInfo:
    """A source that passed preflight: everything a flow needs before the first byte moves.

    ``duration`` is in seconds, from the container's ``mvhd`` box. ``fingerprint`` identifies
    the content (see :mod:`prefect_firework.sources.fingerprint`); resume records key on it.
    """

    uri: str = field(repr=False)
    filename: str
    size: int
    mime_type: str
    duration: float
    fingerprint: str
    etag: str | None = None
    mtime: float | None = None

    @property
    def display(self) -> str:
        """The URI without credentials or query string."""
        return redact(self.uri)

    @property
    def version(self) -> SourceVersion:
        """The version preflight saw: uploads refuse any other."""
        return SourceVersion(self.size, self.etag, self.mtime)
