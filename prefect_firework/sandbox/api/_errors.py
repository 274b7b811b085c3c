"""``ApiError``: how every handler says no. The API turns it into ``{"error": message}``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_firework.sandbox.faults import FaultRule

__all__ = ["ApiError", "api_fault_body"]


class ApiError(Exception):
    """An error response of the Firework API: a status, a message and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def api_fault_body(rule: FaultRule) -> tuple[str, bytes]:
    """Body of an injected fault on an API endpoint (``{"error": ...}`` unless given)."""
    if rule.body is None:
        return "application/json", json.dumps(
            {"error": f"Injected fault: HTTP {rule.status}"}
        ).encode()
    if isinstance(rule.body, bytes):
        return "application/octet-stream", rule.body
    if isinstance(rule.body, str):
        return "text/plain; charset=utf-8", rule.body.encode()
    return "application/json", json.dumps(rule.body).encode()
