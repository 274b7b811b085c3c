"""Video sources: any URI smart-open reads, checked before upload and read by byte range.

* :func:`preflight` checks a source against the API's rules (type, size, duration) and returns
  a :class:`SourceInfo` with its size, MIME type, duration and content fingerprint;
* :func:`open_range` streams exactly one byte range (a part) of a source;
* :func:`stat_source` returns size and ETag/mtime from one metadata request.

Sources are local paths, ``file://``, ``s3://``, ``http(s)://``, ``gs://``, ``azure://``
(dedicated readers, bounded range requests) and every other smart-open scheme (``hdfs://``,
``sftp://``...), with smart-open's ``transport_params``.
Plain library code: no Prefect imports.
"""

from __future__ import annotations

from .errors import PreflightError, SourceError
from .fingerprint import fingerprint
from .info import SourceInfo, SourceStat, SourceVersion
from .mp4 import ContainerError, probe_duration, read_duration
from .preflight import preflight
from .ranges import open_range
from .reader import RangeReader
from .stat import stat_source, verify_unchanged
from .uri import parse_source, redact

__all__ = [
    "ContainerError",
    "PreflightError",
    "RangeReader",
    "SourceError",
    "SourceInfo",
    "SourceStat",
    "SourceVersion",
    "fingerprint",
    "open_range",
    "parse_source",
    "preflight",
    "probe_duration",
    "read_duration",
    "redact",
    "stat_source",
    "verify_unchanged",
]
