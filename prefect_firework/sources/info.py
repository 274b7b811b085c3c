"""What the sources layer reports about a source: :class:`SourceStat` and :class:`SourceInfo`.

Both are frozen, picklable dataclasses so they can cross task and process boundaries. The full
URI may hold a presigned query string, so it is left out of ``repr``; use ``display``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .uri import redact

__all__ = ["SourceInfo", "SourceStat"]


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
