"""Reading manifests and writing results, from and to any storage smart-open reaches.

The format follows the extension (``.csv``, ``.parquet``, ``.jsonl``/``.ndjson``, CSV and JSON
Lines optionally compressed: ``.gz``, ``.bz2``, ``.xz``, ``.zst``, ``.lz4``). A manifest is read
whole: manifests are thousands of rows, not gigabytes, and reading once lets a bad file fail
before any row runs.

Readers are chosen to keep what the user wrote:

- CSV is read as text (``dtype=object``, only the empty cell is "missing"), so ``00123`` keeps
  its zeros and the cell text ``null`` survives to mean "remove the poster";
- JSON Lines is read line by line with :func:`json.loads`, because ``pandas.read_json`` cannot
  tell an explicit ``null`` from a missing key, and for ``poster_url`` the two differ.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import urllib.parse
from typing import Any, Literal

import pandas as pd
import smart_open
import smart_open.compression

from prefect_firework.errors import ManifestError

__all__ = ["ManifestError", "ManifestFormat", "manifest_format", "read_manifest", "write_results"]

ManifestFormat = Literal["csv", "parquet", "jsonl"]

_FORMATS: dict[str, ManifestFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_NAMELESS = re.compile(r"Unnamed: \d+")
#: in JSON Lines, an explicit ``null`` in these columns is a value; it becomes this text
JSON_NULL_AS_TEXT: dict[str, str] = {"poster_url": "null"}


def _display(location: str) -> str:
    """``location`` without credentials or query string, for messages."""
    if "://" not in location:
        return location
    parts = urllib.parse.urlsplit(location)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def manifest_format(location: str | os.PathLike[str]) -> tuple[ManifestFormat, str | None]:
    """(format, compression extension or None) from the file name; ``ManifestError`` if unknown."""
    text = os.fspath(location)
    path = urllib.parse.urlsplit(text).path if "://" in text else text.replace("\\", "/")
    name = posixpath.basename(path).lower()
    compression = next(
        (ext for ext in smart_open.compression.get_supported_extensions() if name.endswith(ext)),
        None,
    )
    stem = name[: -len(compression)] if compression else name
    extension = posixpath.splitext(stem)[1]
    fmt = _FORMATS.get(extension)
    if fmt is None or (fmt == "parquet" and compression):
        shown = extension + (compression or "") or "(none)"
        raise ManifestError(
            f"unknown manifest extension {shown!r} in {_display(text)!r}; use .csv, .parquet, "
            ".jsonl or .ndjson (CSV and JSON Lines may add .gz, .bz2, .xz, .zst)"
        )
    return fmt, compression


def _read_bytes(location: str, transport_params: dict[str, Any] | None) -> bytes:
    try:
        with smart_open.open(location, "rb", transport_params=transport_params) as handle:
            return handle.read()
    except Exception as exc:
        raise ManifestError(
            f"cannot read manifest {_display(location)!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _decode(data: bytes, location: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"manifest {_display(location)!r} is not UTF-8 text (encoding error: byte "
            f"0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8 (Excel: "
            "'CSV UTF-8')"
        ) from None


def _read_csv(text: str, location: str) -> pd.DataFrame:
    if not text.strip():
        return pd.DataFrame()
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ManifestError(f"manifest {_display(location)!r} is not valid CSV: {exc}") from None
    # spreadsheets export trailing separators as nameless, empty columns: noise, not data
    # (a nameless column that holds something stays, and is refused as an unknown column)
    noise = [
        column
        for column in frame.columns
        if _NAMELESS.fullmatch(str(column)) and frame[column].isna().all()
    ]
    return frame.drop(columns=noise)


#: deepest nesting a JSON Lines record may have (a row's deepest field is 3 levels down)
MAX_JSON_DEPTH = 32


def _depth(value: Any, limit: int = MAX_JSON_DEPTH + 1) -> int:
    """Nesting depth of a parsed JSON value, counted without recursion, up to ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth >= limit:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _read_jsonl(text: str, location: str) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ManifestError(
                f"manifest {_display(location)!r}, line {number}: not valid JSON ({exc})"
            ) from None
        except RecursionError:
            too_deep = True
        else:
            too_deep = _depth(record) > MAX_JSON_DEPTH
        if too_deep:
            raise ManifestError(
                f"manifest {_display(location)!r}, line {number}: JSON nested deeper than "
                f"{MAX_JSON_DEPTH} levels (no manifest field is)"
            )
        if not isinstance(record, dict):
            raise ManifestError(
                f"manifest {_display(location)!r}, line {number}: each line must be a JSON "
                f"object, got {type(record).__name__}"
            )
        records.append(record)
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    data: dict[str, pd.Series] = {}
    for column in columns:
        null_text = JSON_NULL_AS_TEXT.get(column)
        values: list[Any] = []
        for record in records:
            if column not in record:
                values.append(None)
            elif record[column] is None and null_text is not None:
                values.append(null_text)
            else:
                values.append(record[column])
        data[column] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


def _read_parquet(data: bytes, location: str) -> pd.DataFrame:
    if not data:
        return pd.DataFrame()
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise ManifestError(
            f"manifest {_display(location)!r} is not a readable Parquet file: {exc}"
        ) from None


def read_manifest(
    manifest: pd.DataFrame | str | os.PathLike[str],
    *,
    transport_params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The manifest as a DataFrame: a DataFrame is copied, a path or URI is read by extension.

    ``transport_params`` go to ``smart_open.open`` (e.g. ``{"client_kwargs": {"S3.Client":
    {"endpoint_url": ...}}}`` or ``{"client": boto3_client}`` for S3). An empty file gives an
    empty DataFrame. Raises :class:`ManifestError` for an unknown extension, a file that cannot
    be read, a CSV/JSON Lines file that is not UTF-8, or one that does not parse.
    """
    if isinstance(manifest, pd.DataFrame):
        return manifest.copy()
    if not isinstance(manifest, str | os.PathLike):
        raise TypeError(
            f"manifest must be a DataFrame, a path or a URI, got {type(manifest).__name__}"
        )
    location = os.fspath(manifest)
    fmt, _ = manifest_format(location)
    data = _read_bytes(location, transport_params)
    if fmt == "parquet":
        return _read_parquet(data, location)
    text = _decode(data, location)
    if fmt == "csv":
        return _read_csv(text, location)
    return _read_jsonl(text, location)


def write_results(
    frame: pd.DataFrame,
    output: str | os.PathLike[str],
    *,
    transport_params: dict[str, Any] | None = None,
) -> None:
    """Write ``frame`` (no index) as CSV, Parquet or JSON Lines by ``output``'s extension.

    Missing values are written as empty CSV cells and JSON ``null``. The table is serialized in
    memory first, so a serialization error never leaves a half-written file behind.
    """
    location = os.fspath(output)
    fmt, _ = manifest_format(location)
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        payload: bytes = buffer.getvalue()
    elif fmt == "csv":
        payload = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    else:
        text = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
        payload = (text if text.endswith("\n") or not text else text + "\n").encode("utf-8")
    with smart_open.open(location, "wb", transport_params=transport_params) as handle:
        handle.write(payload)
