"""``ApiError``: how every handler says no. The API turns it into ``{"error": message}``."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """An error response of the Firework API: a status, a message and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
