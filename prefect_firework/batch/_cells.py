"""Turning one manifest cell into the Python value a model expects, or a precise refusal.

Cells arrive from a notebook's DataFrame (numpy scalars, NaN, ids pandas made ``int64``), CSV
(all text, lists as JSON) or Parquet (numpy arrays, structs with null-filled keys); these helpers
accept exactly those shapes and raise :class:`CellError` with a short rule name otherwise. The
API's rules stay in :mod:`prefect_firework.models`. docs/MANIFESTS.md has the user's view.
"""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CellError",
    "describe",
    "is_missing",
    "native",
    "to_bool",
    "to_id",
    "to_id_list",
    "to_object",
    "to_source",
    "to_text",
    "to_text_list",
    "to_timestamp",
]

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class CellError(ValueError):
    """A cell that cannot become the value its column needs.

    ``rule`` is a short, stable name (``"type"``, ``"boolean"``, ``"list"``, ``"json"``, ...)
    that ends up in :class:`~prefect_firework.batch.InvalidRow.rule`.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def native(value: Any) -> Any:
    """numpy scalars -> Python scalars; numpy arrays -> lists; everything else unchanged."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def is_missing(value: Any) -> bool:
    """True for the spellings of "no value" pandas produces: None, NaN, NaT, pd.NA.

    Containers are never missing (``[]`` and ``{}`` carry meaning: untag all, clear all), and
    ``pd.isna`` is not called on them because it answers element-wise.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


def describe(value: Any, limit: int = 40) -> str:
    """A short, safe rendering of a bad value for an error message (type and truncated repr)."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def to_text(value: Any) -> str:
    """Free text (caption, description, access, poster_url, url, ...): a ``str`` and only that.

    A number here almost always means pandas guessed a type (a caption "2024" read as an int):
    refusing it makes the user fix the column instead of sending ``"2024.0"``.
    """
    value = native(value)
    if isinstance(value, str):
        return value
    raise CellError("type", f"must be text, got {describe(value)}")


def to_id(value: Any) -> str:
    """An identifier (channel, business store, product, video, key): text, or a whole number.

    pandas turns id columns such as ``123`` into ``int64`` (or ``123.0`` once a ``NaN`` is in the
    column); those come back as ``"123"``. Leading zeros lost by pandas cannot be recovered:
    keep such ids as strings (CSV manifests are read as text, so they keep them).
    """
    value = native(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise CellError("type", f"must be an id (text), got {describe(value)}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    raise CellError("type", f"must be an id (text), got {describe(value)}")


def to_bool(value: Any) -> bool:
    """A boolean: ``True``/``False``, 1/0, or the text true/false/yes/no/1/0 (any case)."""
    value = native(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CellError(
        "boolean", f"must be a boolean (true/false, yes/no, 1/0), got {describe(value)}"
    )


def to_timestamp(value: Any) -> Any:
    """``archived_at``: text, or a ``datetime``/``pd.Timestamp`` (the model checks ISO 8601)."""
    value = native(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, str | datetime | date):
        return value
    raise CellError("type", f"must be an ISO 8601 timestamp, got {describe(value)}")


def _decode_json(value: str, what: str, example: str) -> Any:
    """JSON text, or the Python literal ``DataFrame.to_csv`` writes for a list/dict cell."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        pass
    text = value.strip()
    if text[:1] in ("[", "{") and len(text) <= 100_000:
        try:
            return ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    raise CellError("json", f"must be a JSON {what} such as {example}, got {describe(value)}")


def _to_list(value: Any, item: Callable[[Any], str]) -> list[str]:
    value = native(value)
    if isinstance(value, str):
        value = _decode_json(value, "list", '["a", "b"]')
        if not isinstance(value, list):
            raise CellError(
                "list", f'must be a JSON list such as ["a", "b"], got a JSON {_json_kind(value)}'
            )
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise CellError("list", f"must be a list, got {describe(value)}")
    out: list[str] = []
    for index, element in enumerate(value):
        try:
            out.append(item(element))
        except CellError as exc:
            raise CellError(exc.rule, f"item {index} {exc.message}") from None
    return out


def to_text_list(value: Any) -> list[str]:
    """``hashtags``: a list of text (Python list, numpy array, or a JSON list string)."""
    return _to_list(value, to_text)


def to_id_list(value: Any) -> list[str]:
    """``product_ids``: a list of ids; whole numbers become text (see :func:`to_id`)."""
    return _to_list(value, to_id)


def to_object(value: Any) -> dict[str, Any]:
    """``custom_fields``, ``external_media``: a dict, or a JSON object string.

    Keys whose value is ``None`` are dropped: Parquet stores a column of dicts as a struct with
    the union of all keys and fills the absent ones with null, so a round trip through Parquet
    would otherwise invent keys. (A value that is *meant* to be null is not valid in either
    object anyway.)
    """
    value = native(value)
    if isinstance(value, str):
        value = _decode_json(value, "object", '{"key": "value"}')
        if not isinstance(value, dict):
            raise CellError(
                "object",
                f'must be a JSON object such as {{"key": "value"}}, got a JSON {_json_kind(value)}',
            )
        return value
    if isinstance(value, list) and all(
        isinstance(pair, tuple) and len(pair) == 2 for pair in value
    ):
        value = dict(value)  # a pyarrow map column comes back as a list of (key, value) tuples
    if not isinstance(value, dict):
        raise CellError("object", f"must be an object (dict), got {describe(value)}")
    return {key: native(item) for key, item in value.items() if not is_missing(native(item))}


def to_source(value: Any) -> str:
    """``source``: a path or URI as text (``pathlib.Path`` objects are accepted too)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return to_text(value)


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__
