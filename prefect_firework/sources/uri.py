"""What kind of source a URI names, and how to show it without leaking secrets.

A source is ``str | os.PathLike``. Anything without ``://`` is a local path (this also keeps
Windows paths such as ``C:\\videos\\a.mp4`` local). ``file://`` URIs become local paths.
``s3://`` (and smart-open's ``s3a``/``s3n`` aliases), ``http(s)://``, ``gs://`` (``gcs://``) and
``azure://`` get dedicated readers; every other scheme (``hdfs://``, ``sftp://``, ...) goes
through smart-open as is.

Source URIs can carry secrets: ``s3://KEY:SECRET@bucket/k`` (a smart-open feature) and
presigned ``https://...?X-Amz-Signature=...`` query strings. :func:`redact` removes both, and
every error message and log line in this package uses the redacted form.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Literal

from prefect_firework._redact import redact_source

__all__ = ["S3_SCHEMES", "ParsedSource", "SourceKind", "parse_source", "redact"]

SourceKind = Literal["local", "s3", "http", "gcs", "azure", "other"]

#: schemes smart-open maps to S3 (smart_open.s3.SCHEMES)
S3_SCHEMES: frozenset[str] = frozenset({"s3", "s3a", "s3n"})
_HTTP_SCHEMES: frozenset[str] = frozenset({"http", "https"})
#: schemes smart-open maps to GCS (smart_open.gcs.SCHEMES)
_GCS_SCHEMES: frozenset[str] = frozenset({"gs", "gcs"})


@dataclass(frozen=True)
class ParsedSource:
    """A source resolved once: how to read it, what to call it in messages, its file name.

    ``uri`` is the full URI needed to read the source (it may hold a presigned query string), so
    it is left out of ``repr``; ``display`` is the redacted form for messages and logs.
    """

    uri: str = field(repr=False)
    kind: SourceKind
    display: str
    filename: str
    local_path: str | None = field(default=None, repr=False)

    @property
    def extension(self) -> str:
        """Lower-cased extension of :attr:`filename` including the dot, or ``""``."""
        return posixpath.splitext(self.filename)[1].lower()


def _scheme(uri: str) -> str | None:
    if "://" not in uri:
        return None
    return uri.split("://", 1)[0].lower()


def redact(source: str | os.PathLike[str]) -> str:
    """``source`` safe to show (see :func:`prefect_firework._redact.redact_source`)."""
    return redact_source(source)


def _file_uri_to_path(uri: str) -> str:
    """``file:///a/b%20c.mp4`` -> ``/a/b c.mp4``; ``file://rel/x`` -> ``rel/x`` (as smart-open)."""
    parts = urllib.parse.urlsplit(uri)
    raw = parts.path if parts.netloc in ("", "localhost") else parts.netloc + parts.path
    return urllib.request.url2pathname(raw)


def parse_source(source: str | os.PathLike[str]) -> ParsedSource:
    """Classify ``source`` and compute its redacted display form and file name."""
    text = os.fspath(source)
    if not isinstance(text, str):
        raise TypeError(f"source must be str or os.PathLike[str], not {type(source).__name__}")
    scheme = _scheme(text)
    if scheme is None or scheme == "file":
        path = _file_uri_to_path(text) if scheme == "file" else text
        path = os.path.abspath(os.path.expanduser(path))
        uri = text if scheme == "file" else path
        display = text if scheme == "file" else path
        return ParsedSource(uri, "local", display, os.path.basename(path), path)

    display = redact(text)
    last = display.split("://", 1)[1].rstrip("/").rsplit("/", 1)
    # "s3://bucket" or "https://host" has no object name; "https://host/" neither.
    filename = last[1] if len(last) == 2 else ""
    if scheme in S3_SCHEMES:
        kind: SourceKind = "s3"  # S3 keys are literal: no percent-decoding
    elif scheme in _HTTP_SCHEMES:
        kind = "http"
        filename = urllib.parse.unquote(filename)
    elif scheme in _GCS_SCHEMES:
        kind = "gcs"
    elif scheme == "azure":
        kind = "azure"
    else:
        kind = "other"
    if display.split("://", 1)[1].endswith("/"):
        filename = ""
    return ParsedSource(text, kind, display, filename)
