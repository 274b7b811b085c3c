"""``stat_source``: size and change validators of any source, from one metadata request."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .errors import SourceError
from .info import SourceStat, SourceVersion
from .uri import parse_source

__all__ = ["stat_source", "verify_unchanged"]


def stat_source(
    source: str | os.PathLike[str], *, transport_params: Mapping[str, Any] | None = None
) -> SourceStat:
    """Return the size (and ETag / mtime when the backend has them) of ``source``.

    Local files: ``os.stat``. S3: ``HeadObject``. HTTP(S): ``HEAD``, falling back to a
    ``Range: bytes=0-0`` GET's ``Content-Range``. GCS: the object's metadata. Azure: the blob's
    properties. Other smart-open schemes: seek to the end.
    Raises :class:`~prefect_firework.sources.errors.SourceError` (rule ``"unreadable"``) when
    the source is missing, forbidden or unreachable.
    """
    parsed = parse_source(source)
    tp = transport_params or {}
    if parsed.kind == "local":
        from .local import stat_local

        return stat_local(parsed)
    if parsed.kind == "s3":
        from .s3 import stat_s3

        return stat_s3(parsed, tp)
    if parsed.kind == "http":
        from .http import stat_http

        return stat_http(parsed, tp)
    if parsed.kind == "gcs":
        from .gcs import stat_gcs

        return stat_gcs(parsed, tp)
    if parsed.kind == "azure":
        from .azure import stat_azure

        return stat_azure(parsed, tp)
    from .other import stat_other

    return stat_other(parsed, tp)


def verify_unchanged(
    source: str | os.PathLike[str],
    expect: SourceVersion,
    *,
    transport_params: Mapping[str, Any] | None = None,
) -> None:
    """Raise ``SourceError`` (rule ``"changed"``) unless ``source`` is still ``expect``.

    One metadata request; what a multipart upload checks before it asks for the parts to be
    assembled, so a source rewritten mid-upload never becomes a video of mixed bytes.
    """
    current = stat_source(source, transport_params=transport_params)
    problem = expect.differs(current.version)
    if problem:
        raise SourceError(
            current.display, "changed", f"the source changed during the upload: {problem}"
        )
