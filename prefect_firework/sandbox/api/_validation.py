"""Validation of request bodies: JSON, video metadata and URLs.

A malformed request is a 400: unparsable JSON, a wrong JSON type, a missing parameter, an
import URL breaking the URL rules, or any URL that ``urllib.parse`` or httpx cannot parse. A
request that parses but whose video fails validation is a 422: the caption, ``access``,
``archived_at``, custom fields, social attribution without ``external_media``, a poster URL
that is not an http(s) ``.jpg``/``.png``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from datetime import datetime, timezone
from typing import Any

import httpx

from prefect_firework.sandbox.api._errors import ApiError, BadRequest, UnprocessableEntity
from prefect_firework.sandbox.config import SandboxConfig

__all__ = [
    "ACCESS_VALUES",
    "MAX_JSON_DEPTH",
    "check_import_url",
    "parse_json",
    "parse_metadata",
    "parse_url",
    "require_social_media",
]

ACCESS_VALUES = ("public", "private")
#: a custom field key, ``^[a-z0-9_]{1,255}$``, applied with ``fullmatch`` (``$`` also matches
#: before a trailing newline, so ``re.match`` would take ``"abc\n"``)
_CUSTOM_KEY = re.compile(r"[a-z0-9_]{1,255}")
_POSTER_EXTENSIONS = (".jpg", ".png")
#: one DNS label as it goes on the wire (IDNA already applied); ``_`` is common in practice
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


#: deepest JSON nesting accepted in a body; the API's own deepest is 3 (``parts[].etag``)
MAX_JSON_DEPTH = 64


def parse_json(raw: bytes | str, what: str = "JSON body") -> Any:
    """``raw`` parsed, or a 400: malformed, or nested deeper than ``MAX_JSON_DEPTH``.

    ``json.loads`` raises ``RecursionError`` (not ``ValueError``) about 1,000 levels down,
    and anything nested nearly that deep would recurse again when encoded, so depth is
    bounded here, with an iterative walk, once for every body.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BadRequest(f"Malformed {what}: nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"Malformed {what}") from exc
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"Malformed {what}: nested deeper than {MAX_JSON_DEPTH} levels")
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
    return data


def _bad_type(field: str, expected: str) -> ApiError:
    return BadRequest(f"{field} must be {expected}")


def _invalid(message: str) -> ApiError:
    return UnprocessableEntity(message)


def _valid_host(raw: str) -> bool:
    """A DNS name (labels of 1..63 letters, digits, ``-``, ``_``) or an IP address."""
    if ":" in raw:  # only an IPv6 literal has a colon once the port is gone
        try:
            ipaddress.IPv6Address(raw.split("%", 1)[0])
        except ValueError:
            return False
        return True
    name = raw[:-1] if raw.endswith(".") else raw
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def parse_url(field: str, value: str) -> urllib.parse.SplitResult:
    """``value`` split into its parts, or a 400 if it does not parse (see the module doc).

    A URL without a host (``clip.mp4``, ``mailto:x``) parses: the callers' own rules refuse
    those with their own messages.
    """
    invalid = BadRequest(f"{field} is not a valid URL")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise invalid  # control characters: no URL holds them unescaped
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # ValueError when not a number or outside 0..65535
        hostname = parts.hostname
    except ValueError:
        raise invalid from None
    if port == 0:
        raise BadRequest(f"{field} has an invalid port (use 1..65535)")
    if parts.netloc and parts.scheme in ("http", "https"):
        try:  # the reading of the client the sandbox fetches with: IDNA, encodings, ports
            raw_host = httpx.URL(value).raw_host.decode("ascii")
        except Exception:  # any failure of that parser means "does not parse"
            raise invalid from None
        if hostname and not _valid_host(raw_host):
            raise BadRequest(f"{field} has an invalid hostname")
    return parts


def _is_http_url(field: str, value: str) -> bool:
    parts = parse_url(field, value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _iso8601(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise _invalid("archived_at must be an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _string_list(field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad_type(field, "an array of strings")
    return list(value)


def _bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad_type(field, "a boolean")
    return value


def _caption(value: Any, config: SandboxConfig) -> str:
    if value is None:
        raise _invalid("caption can't be blank")
    if not isinstance(value, str):
        raise _bad_type("caption", "a string")
    if not value.strip():
        raise _invalid("caption can't be blank")
    limit = config.max_caption_length  # None by default: the spec states no number
    if limit is not None and len(value) > limit:
        raise _invalid(f"caption too long (maximum is {limit} characters)")
    return value


def _custom_fields(value: Any, config: SandboxConfig) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _bad_type("custom_fields", "an object")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not _CUSTOM_KEY.fullmatch(key):
            raise _invalid(f"custom_fields key {key!r} must match ^[a-z0-9_]{{1,255}}$")
        if not isinstance(item, str):
            raise _invalid(f"custom_fields value of {key!r} must be a string")
        if len(item) > config.max_custom_field_length:
            raise _invalid(
                f"custom_fields value of {key!r} is too long "
                f"(maximum is {config.max_custom_field_length} characters)"
            )
        out[key] = item
    return out


def _external_media(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad_type("external_media", "an object")
    out: dict[str, Any] = {}
    for field in ("source", "url"):
        item = value.get(field)
        if item is not None and not isinstance(item, str):
            raise _bad_type(f"external_media.{field}", "a string")
        if not item or not item.strip():
            raise _invalid(f"external_media.{field} can't be blank")
        out[field] = item
    if not _is_http_url("external_media.url", out["url"]):
        raise _invalid("external_media.url must be an http(s) URL")
    username = value.get("username")
    if username is not None and not isinstance(username, str):
        raise _bad_type("external_media.username", "a string")
    out["username"] = username
    navigation = value.get("navigation_enabled", True)
    out["navigation_enabled"] = _bool("external_media.navigation_enabled", navigation)
    return out


def _poster_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad_type("poster_url", "a string")
    is_http = _is_http_url("poster_url", value)
    path = urllib.parse.urlsplit(value).path.lower()
    if not is_http or not path.endswith(_POSTER_EXTENSIONS):
        raise _invalid("poster_url must be an http(s) URL of a .jpg or .png image")
    return value


def parse_metadata(
    data: dict[str, Any], config: SandboxConfig, *, creating: bool
) -> dict[str, Any]:
    """The metadata fields present in ``data``, checked and normalised.

    Absent fields stay absent (PATCH preserves them); on create the caller fills defaults.
    ``poster_url`` is ``None`` for both ``null`` and ``""`` (remove the custom poster).
    """
    out: dict[str, Any] = {}
    if creating or "caption" in data:
        out["caption"] = _caption(data.get("caption"), config)
    if "description" in data:
        value = data["description"]
        if value is not None and not isinstance(value, str):
            raise _bad_type("description", "a string")
        out["description"] = value
    if "access" in data:
        value = data["access"]
        if not isinstance(value, str):
            raise _bad_type("access", "a string")
        if value not in ACCESS_VALUES:
            raise _invalid("access must be one of: public, private")
        out["access"] = value
    if "archived_at" in data:
        value = data["archived_at"]
        if value is not None and not isinstance(value, str):
            raise _bad_type("archived_at", "a string")
        out["archived_at"] = None if value is None else _iso8601(value)
    for flag in ("audio_disabled", "display_social_attributions", "video_hidden"):
        if flag in data:
            out[flag] = _bool(flag, data[flag])
    if "hashtags" in data:
        out["hashtags"] = _string_list("hashtags", data["hashtags"])
    if "product_ids" in data:
        out["product_ids"] = _string_list("product_ids", data["product_ids"])
    if data.get("business_store_id") is not None:
        value = data["business_store_id"]
        if not isinstance(value, str):
            raise _bad_type("business_store_id", "a string")
        out["business_store_id"] = value
    if "custom_fields" in data:
        out["custom_fields"] = _custom_fields(data["custom_fields"], config)
    if "external_media" in data:
        out["external_media"] = _external_media(data["external_media"])
    if "poster_url" in data:
        out["poster_url"] = _poster_url(data["poster_url"])
    return out


def require_social_media(display: bool, external_media: dict[str, Any] | None) -> None:
    """Spec 6.7: attribution needs ``external_media`` (on PATCH, an existing one counts)."""
    if display and external_media is None:
        raise _invalid("external_media is required when display_social_attributions is true")


def check_import_url(value: Any) -> str:
    """The format rules of an import URL: parsable, http(s), a dotted hostname, a path."""
    if not isinstance(value, str) or not value:
        raise _bad_type("url", "a non-empty string")
    parts = parse_url("url", value)
    if parts.scheme not in ("http", "https"):
        raise BadRequest("url must use the http or https scheme")
    host = parts.hostname or ""
    if "." not in host.strip("."):
        raise BadRequest("url must have a valid hostname")
    if parts.path in ("", "/"):
        raise BadRequest("url must have a path component")
    return value
