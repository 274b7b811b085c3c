"""Firework webhook signatures: ``FW-Webhooks-Signature: t=<unix ms>,v1=<base64 HMAC>``.

The HMAC-SHA256 covers ``"{t}.{raw body}"`` with the endpoint secret, so the timestamp cannot be
changed without breaking the signature; that is what makes the staleness check meaningful.
Verification order: header shape (400), signature (401), then age (400). Digests are compared
with ``hmac.compare_digest`` so the time taken says nothing about how much of a guess matched.

The format comes from secondary copies of Firework's docs, so the header name, the scheme
(``v1``) and the tolerance are parameters, not constants baked into the receiver.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_HEADER",
    "DEFAULT_SCHEME",
    "DEFAULT_TOLERANCE",
    "BadSignature",
    "MalformedSignature",
    "SignatureHeader",
    "SignatureRefused",
    "StaleSignature",
    "compute_signature",
    "parse_signature_header",
    "sign",
    "verify_signature",
]

DEFAULT_HEADER = "FW-Webhooks-Signature"
DEFAULT_SCHEME = "v1"
#: seconds a delivery stays acceptable after (or before, for clock skew) its timestamp
DEFAULT_TOLERANCE = 300.0
#: header values longer than this are refused before any parsing (a header is ~70 bytes)
_MAX_HEADER = 4096
#: timestamps below this are read as seconds, not milliseconds (1e11 ms is 1973)
_SECONDS_BELOW = 100_000_000_000


class SignatureRefused(ValueError):
    """A delivery whose signature header does not let it in; ``status`` is the HTTP answer."""

    status: int = 400


class MalformedSignature(SignatureRefused):
    """No header, or one that does not parse as ``t=...,v1=...``."""

    status = 400


class BadSignature(SignatureRefused):
    """The header parses but no signature in it matches the body with any known secret."""

    status = 401


class StaleSignature(SignatureRefused):
    """A correctly signed delivery whose timestamp is outside the tolerance window."""

    status = 400


@dataclass(frozen=True)
class SignatureHeader:
    """A parsed header: the timestamp exactly as sent (it is part of the signed text) and the
    decoded signatures of the wanted scheme (several while a secret is being rotated)."""

    timestamp: str
    signatures: tuple[bytes, ...]

    @property
    def timestamp_seconds(self) -> float:
        """The timestamp in seconds; ``t`` is Unix milliseconds, but seconds are accepted."""
        value = int(self.timestamp)
        return value / 1000.0 if value >= _SECONDS_BELOW else float(value)


def _b64(value: str) -> bytes:
    """Decode standard or URL-safe base64, padding optional; ``ValueError`` if it is not."""
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


def parse_signature_header(header: str | None, *, scheme: str = DEFAULT_SCHEME) -> SignatureHeader:
    """Parse ``t=<ms>,v1=<b64>[,v1=<b64>...]``; raise ``MalformedSignature`` if it cannot.

    Pairs of other schemes are ignored (a sender may add ``v2`` one day). A ``v1`` value that
    is not base64 cannot match anything, so it makes the header malformed rather than wrong.
    """
    if not header:
        raise MalformedSignature("missing signature header")
    if len(header) > _MAX_HEADER:
        raise MalformedSignature("signature header too long")
    timestamp: str | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise MalformedSignature("signature header items must be key=value")
        key, value = key.strip(), value.strip()
        if key == "t":
            if timestamp is not None:
                raise MalformedSignature("signature header has more than one timestamp")
            timestamp = value
        elif key == scheme:
            try:
                signatures.append(_b64(value))
            except ValueError:
                raise MalformedSignature(f"{scheme} signature is not base64") from None
    if timestamp is None or not timestamp.isdigit() or len(timestamp) > 16:
        raise MalformedSignature("signature header needs a numeric t=<unix ms>")
    if not signatures:
        raise MalformedSignature(f"signature header has no {scheme} signature")
    return SignatureHeader(timestamp=timestamp, signatures=tuple(signatures))


def compute_signature(secret: str | bytes, timestamp: str, body: bytes) -> bytes:
    """The raw HMAC-SHA256 of ``"{timestamp}.{body}"`` keyed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).digest()


def sign(secret: str | bytes, body: bytes, *, timestamp_ms: int | None = None) -> str:
    """A header value for ``body``, as Firework sends it (for tests and local senders)."""
    t = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    digest = base64.b64encode(compute_signature(secret, t, body)).decode("ascii")
    return f"t={t},{DEFAULT_SCHEME}={digest}"


def verify_signature(
    header: str | None,
    body: bytes,
    secrets: Iterable[str | bytes],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    scheme: str = DEFAULT_SCHEME,
    clock: Callable[[], float] = time.time,
) -> SignatureHeader:
    """Check ``header`` against the raw ``body``; return it parsed, or raise ``SignatureRefused``.

    Every secret is tried against every signature, all with ``compare_digest`` and without an
    early exit, so neither the number of secrets nor the position of a match shows in timing.
    The age check comes after the signature check: only a genuine delivery learns it is stale.
    """
    parsed = parse_signature_header(header, scheme=scheme)
    matched = False
    for secret in secrets:
        expected = compute_signature(secret, parsed.timestamp, body)
        for candidate in parsed.signatures:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise BadSignature("signature does not match")
    if abs(clock() - parsed.timestamp_seconds) > tolerance:
        raise StaleSignature(f"timestamp outside the {tolerance:g} s tolerance")
    return parsed
