"""The results table of a batch flow, also of a run that ended Failed because no row succeeded.

A batch run in which every row failed or was refused raises ``RowErrorsFound`` (a schedule must
not stay green while doing nothing); its ``results`` is the table. Tests that study such rows
read the table through :func:`results_of`, and so still see every row's status and error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from prefect_firework.errors import RowErrorsFound

_SUCCEEDED = ("created", "imported", "updated", "skipped")


def results_of(flow: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> pd.DataFrame:
    """``flow(*args, **kwargs)``'s table; a ``RowErrorsFound`` for "no row succeeded" gives
    its table too (checked: no row of it succeeded). Any other error propagates."""
    try:
        return flow(*args, **kwargs)
    except RowErrorsFound as exc:
        if kwargs.get("fail_on_row_errors"):
            raise
        assert exc.results is not None and not exc.results["status"].isin(_SUCCEEDED).any()
        return exc.results
