"""The Flow class of our flows: run parameters stored in the Prefect API stay small and clean.

Prefect records every flow run's parameters in its API. A DataFrame manifest would be stored
whole (thousands of rows, and any presigned source URL in them), ``transport_params`` may hold
cloud credentials, and a manifest URI may itself be presigned. So a DataFrame is recorded as a
one-line summary, ``transport_params`` as its keys only, and URLs without their secrets. The
flow itself still receives the real values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from prefect import Flow

from prefect_firework._redact import REDACTED, redact_url

__all__ = ["FireworkFlow", "firework_flow", "summarize_parameter"]

P = ParamSpec("P")
R = TypeVar("R")


def summarize_parameter(name: str, value: Any) -> Any:
    """What the Prefect API may keep of one parameter value."""
    # pandas only if the caller already has it: a DataFrame cannot exist before pandas is
    # imported, and importing it here cost ``upload_video`` 0.2-0.4 s of cold start
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        return f"<DataFrame: {len(value)} rows; columns {', '.join(map(str, value.columns))}>"
    if pd is not None and isinstance(value, pd.Series):
        return f"<Series: {len(value)} values>"
    if name == "transport_params" and isinstance(value, Mapping) and value:
        return {str(key): REDACTED for key in value}
    if isinstance(value, str) and "://" in value:
        return redact_url(value) if "?" in value or "@" in value else value
    return value


class FireworkFlow(Flow[P, R]):
    """A Prefect ``Flow`` that stores summarized parameters (see the module docstring)."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        summarized = {name: summarize_parameter(name, v) for name, v in parameters.items()}
        return super().serialize_parameters(summarized)

    def with_options(self, **kwargs: Any) -> FireworkFlow[P, R]:
        new = super().with_options(**kwargs)
        new.__class__ = type(self)  # Prefect rebuilds a plain Flow; keep ours
        return new  # type: ignore[return-value]  # a FireworkFlow since the line above


def firework_flow(**options: Any) -> Callable[[Callable[P, R]], FireworkFlow[P, R]]:
    """``@flow(...)`` for our flows: the same options, a ``FireworkFlow``."""

    def decorate(fn: Callable[P, R]) -> FireworkFlow[P, R]:
        return FireworkFlow(fn=fn, **options)

    return decorate
