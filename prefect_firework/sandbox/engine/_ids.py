"""Encoded ids: short base62 strings, like the Firework API's (e.g. ``"X6Xqd6W"``).

Ids the sandbox creates while it runs (videos, imports, uploads, tokens) are random rather
than sequential so a client cannot lean on their shape or order. The seeded world's ids and
secrets come from an ``IdSource``: random too, unless ``SandboxConfig.seed`` is set, when each
is derived from the seed and a label naming what it is (``"channel/main"``), so two sandboxes
of one seed agree and adding a seeded thing later moves no other id.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string

__all__ = ["ENCODED_ID_MAX", "IdSource", "is_encoded_id", "new_id", "new_secret"]

_ALPHABET = string.ascii_letters + string.digits

#: longest id accepted where one is pinned (``SandboxConfig.channel_ids``)
ENCODED_ID_MAX = 32
_ENCODED_ID = re.compile(rf"[A-Za-z0-9]{{1,{ENCODED_ID_MAX}}}")


def new_id(length: int = 7) -> str:
    """A fresh random base62 id of ``length`` characters."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_secret(nbytes: int = 24) -> str:
    """A URL-safe secret (client secrets, access tokens, signing keys)."""
    return secrets.token_urlsafe(nbytes)


def is_encoded_id(value: object) -> bool:
    """Whether ``value`` is an id of the sandbox's shape: 1..32 base62 characters.

    The sandbox's ids also end up in object keys (``uploads/<channel>/...``), so a pinned id
    must be as plain as the ones it makes itself.
    """
    return isinstance(value, str) and _ENCODED_ID.fullmatch(value) is not None


class IdSource:
    """Ids and secrets for the seeded world: random, or derived from ``seed``.

    Each derived value hashes the seed with its label, never a shared stream: the order in
    which the seeds are made does not matter. A label may be used once per source, so two
    seeded things cannot be handed the same value by a typo.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._labels: set[str] = set()

    def _claim(self, label: str) -> None:
        if label in self._labels:
            raise ValueError(f"seed label {label!r} used twice")
        self._labels.add(label)

    def _digest(self, kind: str, label: str, size: int) -> bytes:
        material = f"prefect-firework-sandbox\0{self.seed}\0{kind}\0{label}".encode()
        return hashlib.shake_256(material).digest(size)

    def id(self, label: str, length: int = 7) -> str:
        """A base62 id of ``length`` characters for the thing ``label`` names."""
        self._claim(label)
        if self.seed is None:
            return new_id(length)
        number = int.from_bytes(self._digest("id", label, length + 16), "big")
        chars = []
        for _ in range(length):
            number, digit = divmod(number, len(_ALPHABET))
            chars.append(_ALPHABET[digit])
        return "".join(chars)

    def secret(self, label: str, nbytes: int = 24) -> str:
        """A URL-safe secret of ``nbytes`` bytes, shaped like ``secrets.token_urlsafe``."""
        self._claim(label)
        if self.seed is None:
            return new_secret(nbytes)
        raw = self._digest("secret", label, nbytes)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
