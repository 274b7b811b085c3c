"""Manifest rows -> typed rows (``UploadRow``, ``UpdateRow``) or ``InvalidRow``, never an exception.

Every row is judged on its own, so one bad row never stops the batch; all problems of a row are
reported together (the first one also fills ``column`` and ``rule``). The API's own rules live in
:mod:`prefect_firework.models` and are applied by building the models; this module only shapes
cells (:mod:`.cells`) and translates pydantic's errors into "row N, column 'c': message".
"""

from __future__ import annotations

import difflib
import posixpath
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from prefect_firework._redact import redact_source
from prefect_firework.batch._cells import (
    CellError,
    is_missing,
    native,
    to_bool,
    to_id,
    to_id_list,
    to_object,
    to_source,
    to_text,
    to_text_list,
    to_timestamp,
)
from prefect_firework.limits import SUPPORTED_MIME_TYPES
from prefect_firework.models import VideoMetadata, VideoUpdate, validate_import_url

__all__ = [
    "METADATA_COLUMNS",
    "UPDATE_COLUMNS",
    "UPLOAD_COLUMNS",
    "InvalidRow",
    "UpdateRow",
    "UploadRow",
    "parse_update_rows",
    "parse_upload_rows",
    "parse_video_ids",
]

#: optional metadata columns shared by upload and update manifests (create and update)
METADATA_COLUMNS: tuple[str, ...] = (
    "description",
    "access",
    "archived_at",
    "audio_disabled",
    "hashtags",
    "business_store_id",
    "product_ids",
    "custom_fields",
    "display_social_attributions",
    "external_media",
    "poster_url",
    "video_hidden",
)
UPLOAD_COLUMNS: tuple[str, ...] = (
    "key",
    "source",
    "url",
    "async",
    "channel_id",
    "caption",
    *METADATA_COLUMNS,
)
UPDATE_COLUMNS: tuple[str, ...] = ("key", "video_id", "caption", *METADATA_COLUMNS)

#: values of ``poster_url`` that mean "remove the custom poster" in an update manifest
POSTER_REMOVE_TEXT = "null"

_COERCE: dict[str, Callable[[Any], Any]] = {
    "channel_id": to_id,
    "caption": to_text,
    "description": to_text,
    "access": to_text,
    "archived_at": to_timestamp,
    "audio_disabled": to_bool,
    "hashtags": to_text_list,
    "business_store_id": to_id,
    "product_ids": to_id_list,
    "custom_fields": to_object,
    "display_social_attributions": to_bool,
    "external_media": to_object,
    "poster_url": to_text,
    "video_hidden": to_bool,
}

_TYPE_RULES: dict[str, str] = {
    "missing": "required",
    "string_type": "type",
    "string_too_short": "not_empty",
    "string_too_long": "max_length",
    "literal_error": "choice",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "list_type": "list",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "extra_forbidden": "unknown_field",
}
_MESSAGE_REWRITES: tuple[tuple[str, str], ...] = (
    ("Field required", "is required"),
    ("Input should be", "must be"),
    ("String should have at least 1 character", "must not be empty"),
    ("Extra inputs are not permitted", "is not a known field"),
)


class UploadRow(BaseModel):
    """A valid row of an upload manifest: a file to upload (``kind="file"``) or a URL to import.

    ``row`` is the row's 0-based position in the manifest (not the DataFrame's index label).
    ``metadata`` has only the fields the row gave, so ``metadata.to_api()`` sends only those.
    """

    model_config = ConfigDict(extra="forbid")

    row: int
    key: str | None
    kind: Literal["file", "url"]
    source: str | None
    url: str | None
    asynchronous: bool
    metadata: VideoMetadata


class UpdateRow(BaseModel):
    """A valid row of an update manifest: PATCH ``video_id`` with ``update.to_api()``."""

    model_config = ConfigDict(extra="forbid")

    row: int
    key: str | None
    video_id: str
    update: VideoUpdate


class InvalidRow(BaseModel):
    """A row refused before any request: ``error`` names the row, the column and the rule.

    ``column`` and ``rule`` describe the first problem; ``error`` lists all of them, e.g.
    ``row 7, column 'custom_fields': key 'Bad Key' must match ^[a-z0-9_]{1,255}$ (...)``.
    ``column`` is ``None`` only when no single column is at fault (``nothing_to_update``).
    """

    model_config = ConfigDict(extra="forbid")

    row: int
    key: str | None
    column: str | None
    rule: str
    error: str
    #: what a person recognises the row by (its source or URL, its caption), shown as given
    source: str | None = None
    caption: str | None = None


def _identity(cells: dict[str, Any]) -> dict[str, str | None]:
    """The row's ``source`` (or ``url``) and ``caption`` cells as text, for its result."""
    found: dict[str, str | None] = {}
    for field, names in (("source", ("source", "url")), ("caption", ("caption",))):
        value = next((cells[n] for n in names if n in cells), None)
        found[field] = None if value is None else redact_source(str(value))
    return found



@dataclass(frozen=True)
class _Problem:
    column: str | None
    rule: str
    message: str


def _invalid(row: int, key: str | None, problems: list[_Problem]) -> InvalidRow:
    first = problems[0]
    parts = []
    for index, problem in enumerate(problems):
        heads = [f"row {row}"] if index == 0 else []
        if problem.column is not None:
            heads.append(f"column {problem.column!r}")
        parts.append(f"{', '.join(heads) or 'row'}: {problem.message}")
    return InvalidRow(
        row=row, key=key, column=first.column, rule=first.rule, error="; ".join(parts)
    )


# --------------------------------------------------------------------------- columns


def _column_problems(frame: pd.DataFrame, known: tuple[str, ...], kind: str) -> list[_Problem]:
    """Problems with the header itself; each makes every row invalid (nothing is guessed)."""
    problems: list[_Problem] = []
    names = [str(name) for name in frame.columns]
    seen: set[str] = set()
    for raw, name in zip(frame.columns, names, strict=True):
        if not isinstance(raw, str):
            problems.append(
                _Problem(name, "unknown_column", f"column names must be text, got {raw!r}")
            )
        elif name in seen:
            problems.append(
                _Problem(name, "duplicate_column", f"column {name!r} appears more than once")
            )
        elif name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                _Problem(
                    name,
                    "unknown_column",
                    f"unknown column {name!r} in an {kind} manifest{hint}; "
                    f"known columns: {', '.join(known)}",
                )
            )
        seen.add(name)
    return problems


def _present_cells(columns: list[str], values: Iterable[Any]) -> dict[str, Any]:
    """The cells of a row that were given: missing values and blank text are left out."""
    cells: dict[str, Any] = {}
    for column, raw in zip(columns, values, strict=True):
        value = native(raw)
        if is_missing(value) or (isinstance(value, str) and not value.strip()):
            continue
        cells[column] = value
    return cells


def _rows(frame: pd.DataFrame) -> Iterable[tuple[int, dict[str, Any], dict[str, Any]]]:
    """(position, given cells, raw cells) for every row of ``frame``."""
    columns = [str(name) for name in frame.columns]
    for position, values in enumerate(frame.to_numpy(dtype=object)):
        raw = {column: native(value) for column, value in zip(columns, values, strict=True)}
        yield position, _present_cells(columns, values), raw


def _row_key(cells: dict[str, Any], problems: list[_Problem]) -> str | None:
    if "key" not in cells:
        return None
    try:
        return to_id(cells["key"])
    except CellError as exc:
        problems.append(_Problem("key", exc.rule, f"key {exc.message}"))
        return None


def _header_only_key(cells: dict[str, Any]) -> str | None:
    try:
        return to_id(cells["key"]) if "key" in cells else None
    except CellError:
        return None


# --------------------------------------------------------------------------- pydantic errors


def _translate(error: Mapping[str, Any], columns: Iterable[str]) -> _Problem:
    """One pydantic error -> (column from its ``loc``, short rule, message without jargon)."""
    loc = tuple(error.get("loc") or ())
    kind = str(error.get("type", "invalid"))
    message = str(error.get("msg", "is invalid"))
    if kind == "value_error" and error.get("ctx", {}).get("error") is not None:
        message = str(error["ctx"]["error"])
    message = message.removeprefix("Value error, ")
    if loc:
        column: str | None = str(loc[0])
    else:  # a model-level rule: the column is the field its message starts with
        column = next((name for name in columns if message.startswith(name)), None)
    if column and message.startswith(column + " "):
        message = message[len(column) + 1 :]
    elif column and message.startswith(column + "["):  # custom_fields['k'] is 1025 characters
        subscript, _, rest = message[len(column) + 1 :].partition("]")
        message = f"value of key {subscript}{rest}"
    for old, new in _MESSAGE_REWRITES:
        if message.startswith(old):
            message = new + message[len(old) :]
    if len(loc) > 1:
        where = []
        for part in loc[1:]:
            if isinstance(part, int):
                where.append(f"item {part}")
            elif column == "custom_fields":
                where.append(f"key {part!r}")
            else:
                where.append(f"field {part!r}")
        message = f"{' '.join(where)} {message}"
    # the models name their own rules (PydanticCustomError types); pydantic's get short names
    rule = "invalid" if kind == "value_error" else _TYPE_RULES.get(kind, kind)
    return _Problem(column, rule, message)


def _model_problems(
    exc: ValidationError, columns: Iterable[str], already: set[str | None]
) -> list[_Problem]:
    """Translate, skipping "required" for a column already refused (its cell was left out)."""
    columns = tuple(columns)
    out = []
    for error in exc.errors():
        problem = _translate(error, columns)
        if problem.rule == "required" and problem.column in already:
            continue
        out.append(problem)
    return out


def _coerce_fields(
    cells: dict[str, Any], names: Iterable[str], problems: list[_Problem]
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in names:
        if name not in cells:
            continue
        try:
            fields[name] = _COERCE[name](cells[name])
        except CellError as exc:
            problems.append(_Problem(name, exc.rule, exc.message))
    return fields


# --------------------------------------------------------------------------- upload rows


def _extension(source: str) -> str:
    """Lower-cased extension of a path or URI's path (query strings and fragments ignored).

    Raises ``ValueError`` for a URI that cannot be parsed (``http://[abc/x.mp4``) or whose
    port is out of range.
    """
    if "://" in source:
        parts = urllib.parse.urlsplit(source)
        _ = parts.port  # raises for a port outside 0-65535
        path = parts.path
    else:
        path = source.replace("\\", "/")
    return posixpath.splitext(posixpath.basename(path))[1].lower()


def _upload_url(cells: dict[str, Any], problems: list[_Problem]) -> str | None:
    try:
        return validate_import_url(to_text(cells["url"]).strip())
    except CellError as exc:
        problems.append(_Problem("url", exc.rule, exc.message))
    except PydanticCustomError as exc:
        problems.append(_translate({"type": exc.type, "loc": ("url",), "msg": str(exc)}, ()))
    return None


def _upload_source(cells: dict[str, Any], problems: list[_Problem]) -> str | None:
    """The file to upload, refused before any I/O if its extension is not a video's."""
    try:
        source = to_source(cells["source"]).strip()
    except CellError as exc:
        problems.append(_Problem("source", exc.rule, exc.message))
        return None
    try:
        extension = _extension(source)
    except ValueError as exc:
        problems.append(_Problem("source", "uri_syntax", f"is not a valid path or URI ({exc})"))
        return source
    if extension not in SUPPORTED_MIME_TYPES:
        problems.append(
            _Problem(
                "source",
                "extension",
                f"file extension must be one of {', '.join(SUPPORTED_MIME_TYPES)} "
                f"(any case), got {extension or 'none'!r}",
            )
        )
    return source


def _upload_target(
    cells: dict[str, Any], problems: list[_Problem]
) -> tuple[str | None, str | None]:
    """``(source, url)``: exactly one of them must be given."""
    has_source, has_url = "source" in cells, "url" in cells
    if has_source == has_url:
        state = "both are set" if has_source else "both are empty"
        problems.append(
            _Problem(
                "source",
                "source_or_url",
                f"give exactly one of 'source' (a file to upload) or 'url' (for Firework to "
                f"import); {state}",
            )
        )
        return None, None
    if has_url:
        return None, _upload_url(cells, problems)
    return _upload_source(cells, problems), None


def _upload_async(cells: dict[str, Any], problems: list[_Problem]) -> bool:
    if "async" not in cells:
        return False
    try:
        asynchronous = to_bool(cells["async"])
    except CellError as exc:
        problems.append(_Problem("async", exc.rule, exc.message))
        return False
    if asynchronous and "source" in cells and "url" not in cells:
        problems.append(_Problem("async", "async_needs_url", "async applies only to 'url' rows"))
    return asynchronous


def _upload_metadata(cells: dict[str, Any], problems: list[_Problem]) -> VideoMetadata | None:
    poster = cells.get("poster_url")
    if isinstance(poster, str) and poster.strip().lower() == POSTER_REMOVE_TEXT:
        # a new video has no custom poster to remove: "remove" is the same as "not given"
        cells = {name: value for name, value in cells.items() if name != "poster_url"}
    fields = _coerce_fields(cells, ("channel_id", "caption", *METADATA_COLUMNS), problems)
    try:
        return VideoMetadata(**fields)
    except ValidationError as exc:
        problems.extend(
            _model_problems(exc, UPLOAD_COLUMNS, {problem.column for problem in problems})
        )
        return None


def _parse_upload(position: int, cells: dict[str, Any]) -> UploadRow | InvalidRow:
    problems: list[_Problem] = []
    key = _row_key(cells, problems)
    source, url = _upload_target(cells, problems)
    asynchronous = _upload_async(cells, problems)
    metadata = _upload_metadata(cells, problems)
    if problems or metadata is None:
        return _invalid(position, key, problems or [_Problem(None, "invalid", "is invalid")])
    return UploadRow(
        row=position,
        key=key,
        kind="url" if url is not None else "file",
        source=source,
        url=url,
        asynchronous=asynchronous,
        metadata=metadata,
    )


def parse_upload_rows(frame: pd.DataFrame) -> list[UploadRow | InvalidRow]:
    """Validate every row of an upload manifest; one result per row, in manifest order.

    Never raises for bad data: header problems (unknown/duplicate columns) make every row an
    :class:`InvalidRow`; cell problems make that row one; a repeated explicit ``key`` makes the
    second and later rows invalid. No I/O happens here.
    """
    return _parse_frame(frame, UPLOAD_COLUMNS, "upload", _parse_upload)


# --------------------------------------------------------------------------- update rows


def _parse_update(position: int, cells: dict[str, Any]) -> UpdateRow | InvalidRow:
    problems: list[_Problem] = []
    key = _row_key(cells, problems)

    video_id: str | None = None
    if "video_id" not in cells:
        problems.append(_Problem("video_id", "required", "is required"))
    else:
        try:
            video_id = to_id(cells["video_id"]).strip()
        except CellError as exc:
            problems.append(_Problem("video_id", exc.rule, exc.message))

    fields = _coerce_fields(
        {name: value for name, value in cells.items() if name != "poster_url"},
        ("caption", *METADATA_COLUMNS),
        problems,
    )
    if "poster_url" in cells:
        try:
            poster = to_text(cells["poster_url"])
        except CellError as exc:
            problems.append(_Problem("poster_url", exc.rule, exc.message))
        else:
            fields["poster_url"] = None if poster.strip().lower() == POSTER_REMOVE_TEXT else poster

    update: VideoUpdate | None = None
    try:
        update = VideoUpdate(**fields)
    except ValidationError as exc:
        problems.extend(
            _model_problems(exc, UPDATE_COLUMNS, {problem.column for problem in problems})
        )
    if not problems and update is not None and not update.model_fields_set:
        problems.append(
            _Problem(
                None,
                "nothing_to_update",
                "nothing to update: every update column is empty (an empty cell means "
                "'leave as is')",
            )
        )
    if problems or update is None or video_id is None:
        return _invalid(position, key, problems or [_Problem(None, "invalid", "is invalid")])
    return UpdateRow(row=position, key=key, video_id=video_id, update=update)


def _with_blank_poster(cells: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Update manifests: an explicit ``""`` in ``poster_url`` is a value (remove the poster)."""
    value = raw.get("poster_url")
    if isinstance(value, str) and not value.strip() and "poster_url" not in cells:
        return {**cells, "poster_url": ""}
    return cells


def parse_update_rows(frame: pd.DataFrame) -> list[UpdateRow | InvalidRow]:
    """Validate every row of an update manifest (``video_id`` and the updatable columns).

    An empty cell leaves the field as is; ``poster_url`` ``"null"`` or ``""`` removes the custom
    poster; ``product_ids`` ``[]`` untags all; ``custom_fields`` ``{}`` clears them. A row with
    nothing to update is invalid (``nothing_to_update``).
    """
    return _parse_frame(
        frame,
        UPDATE_COLUMNS,
        "update",
        _parse_update,
        blank_poster=True,
    )


# --------------------------------------------------------------------------- shared driver


def _parse_frame(
    frame: pd.DataFrame,
    known: tuple[str, ...],
    kind: str,
    parse_row: Callable[[int, dict[str, Any]], Any],
    *,
    blank_poster: bool = False,
) -> list[Any]:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    header = _column_problems(frame, known, kind)
    results: list[Any] = []
    first_use: dict[str, int] = {}
    for position, cells, raw in _rows(frame):
        if header:
            invalid = _invalid(position, _header_only_key(cells), header)
            results.append(invalid.model_copy(update=_identity(cells)))
            continue
        if blank_poster:
            cells = _with_blank_poster(cells, raw)
        try:
            parsed = parse_row(position, cells)
        except Exception as exc:  # pragma: no cover - a bug here must not sink the batch
            parsed = _invalid(
                position,
                _header_only_key(cells),
                [_Problem(None, "internal_error", f"could not be parsed: {type(exc).__name__}")],
            )
        key = parsed.key
        if key is not None:
            if key in first_use:
                duplicate = _Problem(
                    "key",
                    "duplicate_key",
                    f"duplicate key {key!r}, first used by row {first_use[key]}",
                )
                if isinstance(parsed, InvalidRow):
                    parsed = InvalidRow(
                        row=position,
                        key=key,
                        column="key",
                        rule="duplicate_key",
                        error=f"row {position}, column 'key': {duplicate.message}; " + parsed.error,
                    )
                else:
                    parsed = _invalid(position, key, [duplicate])
            else:
                first_use[key] = position
        if isinstance(parsed, InvalidRow):
            parsed = parsed.model_copy(update=_identity(cells))
        results.append(parsed)
    return results


# --------------------------------------------------------------------------- ids and keys


def parse_video_ids(video_ids: Iterable[Any] | pd.Series | pd.DataFrame | str) -> list[str]:
    """Video ids from a list, a Series or a DataFrame's ``video_id`` column, for ``get_videos``.

    Missing values (NaN/None, e.g. rows of a results frame that failed) are skipped; ids are
    stripped; duplicates are dropped keeping the first (one result row per video). A single
    string is one id. Raises ``ValueError`` naming every position that is not an id.
    """
    if isinstance(video_ids, pd.DataFrame):
        if "video_id" not in video_ids.columns:
            raise ValueError(
                "the DataFrame has no 'video_id' column; columns: "
                + ", ".join(map(str, video_ids.columns))
            )
        values: list[Any] = list(video_ids["video_id"].to_numpy(dtype=object))
    elif isinstance(video_ids, str):
        values = [video_ids]
    elif isinstance(video_ids, pd.Series):
        values = list(video_ids.to_numpy(dtype=object))
    else:
        values = list(video_ids)
    out: dict[str, None] = {}
    bad: list[str] = []
    for position, raw in enumerate(values):
        value = native(raw)
        if is_missing(value):
            continue
        try:
            text = to_id(value).strip()
        except CellError as exc:
            bad.append(f"position {position}: {exc.message}")
            continue
        if not text:
            bad.append(f"position {position}: must not be empty")
            continue
        out.setdefault(text, None)
    if bad:
        raise ValueError("invalid video ids: " + "; ".join(bad[:20]))
    return list(out)


def url_rows_only(
    rows: list[UploadRow | InvalidRow], asynchronous: bool | None
) -> list[UploadRow | InvalidRow]:
    """``import_videos``'s rows: ``source`` rows refused (rule ``url_rows_only``); with
    ``asynchronous`` set, every URL row imported that way whatever its ``async`` cell."""
    out: list[UploadRow | InvalidRow] = []
    for row in rows:
        if isinstance(row, UploadRow) and row.kind == "file":
            row = InvalidRow(
                row=row.row,
                key=row.key,
                column="source",
                rule="url_rows_only",
                error=f"row {row.row}, column 'source': import_videos takes url rows only; "
                "use upload_videos for files",
            )
        elif isinstance(row, UploadRow) and asynchronous is not None:
            row = row.model_copy(update={"asynchronous": asynchronous})
        out.append(row)
    return out
