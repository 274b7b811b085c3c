"""The results table: one :class:`RowResult` per manifest row, the contract of every batch flow.

Its columns and dtypes are fixed so that a results file written tonight concatenates with last
night's, and a Parquet file keeps the same schema whether a batch had failures or not (an
all-empty ``error`` column is still a string column, not ``float64`` of NaN).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from prefect_firework.batch._cells import is_missing, native

__all__ = [
    "RESULT_COLUMNS",
    "RESULT_DTYPES",
    "RESULT_STATUSES",
    "ResultStatus",
    "RowResult",
    "results_frame",
]


class ResultStatus(str, enum.Enum):
    """What became of a row. ``IMPORTING`` is transient: an async import that this run polls
    before it ends (a finished table says ``imported`` or ``failed`` instead)."""

    CREATED = "created"
    IMPORTED = "imported"
    UPDATED = "updated"
    SKIPPED = "skipped"
    INVALID = "invalid"
    FAILED = "failed"
    IMPORTING = "importing"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(slots=True)
class RowResult:
    """One row's result; its fields are the results table's columns, in order."""

    row: int | None
    _: dataclasses.KW_ONLY
    #: what identifies the row to a person: its source path/URI or URL (no credentials, no
    #: query string) and its caption
    source: str | None = None
    caption: str | None = None
    key: str | None = None
    status: ResultStatus | None = None
    video_id: str | None = None
    import_id: str | None = None
    strategy: str | None = None
    bytes: int | None = None
    seconds: float | None = None
    #: when the ledger recorded the row's video: in this run, or (a skipped row) the earlier
    #: run that made it
    recorded_at: datetime | None = None
    error: str | None = None

    def set(self, status: ResultStatus, **fields: Any) -> RowResult:
        """Set the status and any other fields (an unknown field is a ``TypeError``)."""
        self.status = status
        for name, value in fields.items():
            if name not in _FIELDS:
                raise TypeError(f"RowResult has no field {name!r}")
            setattr(self, name, value)
        return self

    def fail(self, error: str) -> RowResult:
        """Mark the row failed; the error names the row (``row 7: ...``) if it does not yet."""
        if self.row is not None and not error.startswith(f"row {self.row}"):
            error = f"row {self.row}: {error}"
        return self.set(ResultStatus.FAILED, error=error)

    def add_note(self, note: str) -> None:
        """Append to ``error`` (a created row may carry a note, e.g. an abandoned upload)."""
        self.error = f"{self.error}; {note}" if self.error else note


_FIELDS = frozenset(f.name for f in dataclasses.fields(RowResult))

RESULT_COLUMNS: list[str] = [f.name for f in dataclasses.fields(RowResult)]
RESULT_DTYPES: dict[str, str] = {
    "row": "Int64",
    "source": "string",
    "caption": "string",
    "key": "string",
    "status": "string",
    "video_id": "string",
    "import_id": "string",
    "strategy": "string",
    "bytes": "Int64",
    "seconds": "Float64",
    "recorded_at": "datetime64[ns, UTC]",
    "error": "string",
}
#: the statuses a finished results table holds
RESULT_STATUSES: tuple[str, ...] = tuple(
    s.value for s in ResultStatus if s is not ResultStatus.IMPORTING
)


def _fields_of(result: RowResult | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(result, RowResult):
        return {name: getattr(result, name) for name in RESULT_COLUMNS}
    unknown = set(result) - _FIELDS
    if unknown:
        raise TypeError(f"results have no column {sorted(unknown)[0]!r}: {RESULT_COLUMNS}")
    return result


def results_frame(results: Iterable[RowResult | Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame of exactly :data:`RESULT_COLUMNS` with nullable dtypes, sorted by ``row``.

    A mapping naming a column that does not exist is a ``TypeError`` (it would be lost);
    absent fields become ``<NA>``. Sorting is stable, so results of equal ``row`` keep order.
    """
    columns: dict[str, list[Any]] = {column: [] for column in RESULT_COLUMNS}
    for result in results:
        fields = _fields_of(result)
        for column, values in columns.items():
            value = native(fields.get(column))
            if is_missing(value):
                value = None
            elif RESULT_DTYPES[column] == "string":
                value = str(value)
            values.append(value)
    frame = pd.DataFrame(
        {
            column: pd.Series(values, dtype=object).astype(RESULT_DTYPES[column])
            for column, values in columns.items()
        },
        columns=RESULT_COLUMNS,
    )
    return frame.sort_values("row", kind="stable", na_position="last").reset_index(drop=True)
