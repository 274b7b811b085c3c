"""AWS Signature Version 4, the two ways S3 uses it for browser-style uploads: POST policies
(an HMAC chain over the base64 policy) and presigned URLs (query-string authentication over a
canonical request, ``X-Amz-SignedHeaders=host``, ``UNSIGNED-PAYLOAD``). The sandbox signs with
its own random secret, so a URL or policy it did not issue fails as on AWS.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ALGORITHM",
    "SigningIdentity",
    "amz_date",
    "canonical_query",
    "parse_amz_date",
    "presigned_signature",
    "uri_encode",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def amz_date(ts: float) -> str:
    """``20250129T120000Z`` for a POSIX timestamp."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def parse_amz_date(value: str) -> float | None:
    """POSIX timestamp of an ``X-Amz-Date`` value, or None when it is malformed."""
    try:
        return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except (ValueError, TypeError):
        return None


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """RFC 3986 encoding as SigV4 wants it: only ``A-Za-z0-9-_.~`` stay literal."""
    return urllib.parse.quote(value, safe="/~" if keep_slash else "~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted, encoded ``k=v&...`` as SigV4's canonical request needs it."""
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in params.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class SigningIdentity:
    """The sandbox's own AWS-style key pair and scope."""

    access_key: str
    secret_key: str
    region: str
    service: str = "s3"

    def scope(self, date8: str) -> str:
        return f"{date8}/{self.region}/{self.service}/aws4_request"

    def credential(self, date8: str) -> str:
        """The ``X-Amz-Credential`` value for a signing day ``YYYYMMDD``."""
        return f"{self.access_key}/{self.scope(date8)}"

    def owns_credential(self, credential: str) -> str | None:
        """The signing day of ``credential`` if it names this identity's key and scope."""
        parts = credential.split("/")
        if len(parts) != 5 or parts[0] != self.access_key:
            return None
        date8, region, service, terminator = parts[1:]
        if region != self.region or service != self.service or terminator != "aws4_request":
            return None
        if len(date8) != 8 or not date8.isdigit():
            return None
        return date8

    def _signing_key(self, date8: str) -> bytes:
        k_date = _hmac(f"AWS4{self.secret_key}".encode(), date8)
        k_region = _hmac(k_date, self.region)
        k_service = _hmac(k_region, self.service)
        return _hmac(k_service, "aws4_request")

    def sign(self, date8: str, string_to_sign: str) -> str:
        """Hex HMAC-SHA256 of ``string_to_sign`` with the derived key of ``date8``."""
        return hmac.new(
            self._signing_key(date8), string_to_sign.encode(), hashlib.sha256
        ).hexdigest()

    def sign_policy(self, policy_b64: str, date8: str) -> str:
        """The ``X-Amz-Signature`` of a POST policy: the policy itself is the string to sign."""
        return self.sign(date8, policy_b64)


def presigned_signature(
    identity: SigningIdentity,
    *,
    method: str,
    host: str,
    raw_path: str,
    params: Mapping[str, str],
    stamp: str,
) -> str:
    """Signature of a presigned request; ``params`` exclude ``X-Amz-Signature``."""
    canonical_request = "\n".join(
        [
            method,
            raw_path,
            canonical_query(params),
            f"host:{host}\n",
            "host",
            UNSIGNED_PAYLOAD,
        ]
    )
    date8 = stamp[:8]
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            stamp,
            identity.scope(date8),
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    return identity.sign(date8, string_to_sign)
