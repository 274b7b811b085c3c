"""Encoded ids: short random base62 strings, like the Firework API's (e.g. ``"X6Xqd6W"``).

They are random rather than sequential so a client cannot lean on their shape or order.
"""

from __future__ import annotations

import secrets
import string

__all__ = ["new_id", "new_secret"]

_ALPHABET = string.ascii_letters + string.digits


def new_id(length: int = 7) -> str:
    """A fresh random base62 id of ``length`` characters."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_secret(nbytes: int = 24) -> str:
    """A URL-safe secret (client secrets, access tokens, signing keys)."""
    return secrets.token_urlsafe(nbytes)
