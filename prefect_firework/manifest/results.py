"""The results table: one row per manifest row, the contract of every batch flow.

Its columns and dtypes are fixed so that a results file written tonight concatenates with last
night's, and a Parquet file keeps the same schema whether a batch had failures or not (an
all-empty ``error`` column is still a string column, not ``float64`` of NaN).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from prefect_firework.manifest.cells import is_missing, native

__all__ = ["RESULT_COLUMNS", "RESULT_DTYPES", "RESULT_STATUSES", "results_frame"]

RESULT_COLUMNS: list[str] = [
    "row",
    "key",
    "status",
    "video_id",
    "import_id",
    "strategy",
    "bytes",
    "seconds",
    "error",
]
RESULT_DTYPES: dict[str, str] = {
    "row": "Int64",
    "key": "string",
    "status": "string",
    "video_id": "string",
    "import_id": "string",
    "strategy": "string",
    "bytes": "Int64",
    "seconds": "Float64",
    "error": "string",
}
#: the statuses the batch flows report (issue 5); not enforced here, listed for readers
RESULT_STATUSES: tuple[str, ...] = ("created", "imported", "skipped", "invalid", "failed")


def results_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame of exactly :data:`RESULT_COLUMNS` with nullable dtypes, sorted by ``row``.

    Keys of a record outside the columns are ignored (a record may carry more for logging);
    absent keys become ``<NA>``. Sorting is stable, so records of equal ``row`` keep their order.
    """
    columns: dict[str, list[Any]] = {column: [] for column in RESULT_COLUMNS}
    for record in records:
        for column, values in columns.items():
            value = native(record.get(column))
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
