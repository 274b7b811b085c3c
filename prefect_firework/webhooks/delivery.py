"""``Delivery``: what one verified webhook body says, read tolerantly.

Firework documents the event names (``video_created``, ``video_updated``,
``video_import_failed``) and that import events carry ``import_id``, but our copies of its docs
do not pin the envelope. So the reader accepts the common shapes: an envelope
``{"id", "event_type" | "event" | "type", "created_at", "data": {...}}`` or a flat object, with
the video either as ``data.video`` or as ``data`` itself. A different format is one function
away: the receiver takes any ``parser(body: bytes) -> Delivery``.

Identifiers become parts of Prefect resource ids (``firework.video.<id>``), so they are held to
a conservative alphabet; anything else is a malformed delivery, not a strange resource.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Delivery", "MalformedDelivery", "parse_delivery"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_EVENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: deepest JSON nesting accepted; a webhook's is a handful, and what is kept goes into a
#: Prefect event, whose encoding must not recurse without bound either
MAX_DEPTH = 32
_EVENT_KEYS = ("event_type", "event", "type", "topic")
_ID_KEYS = ("id", "event_id", "delivery_id", "webhook_id")
IMPORT_FAILED = "video_import_failed"


class MalformedDelivery(ValueError):
    """A correctly signed body that is not a webhook we can read (answered 400)."""


@dataclass(frozen=True)
class Delivery:
    """The fields the receiver turns into a Prefect event; ``data`` keeps the rest."""

    event_type: str
    delivery_id: str | None = None
    video_id: str | None = None
    import_id: str | None = None
    channel_id: str | None = None
    business_id: str | None = None
    url: str | None = None
    status: str | None = None
    error: str | None = None
    created_at: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _first(*values: Any) -> str | None:
    for value in values:
        text = _text(value)
        if text is not None:
            return text
    return None


def _identifier(name: str, value: str | None) -> str | None:
    if value is not None and not _ID.fullmatch(value):
        raise MalformedDelivery(f"{name} is not a valid identifier")
    return value


def _error_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return _first(value.get("message"), value.get("error"), value.get("reason"))
    return _text(value)


def _depth(doc: Any) -> int:
    """How deep ``doc`` nests objects and arrays (iteratively: no recursion to exhaust)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(doc, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
    return deepest


def parse_delivery(body: bytes) -> Delivery:
    """Read a webhook body; raise ``MalformedDelivery`` if it is not a JSON object with an
    event name and well-formed identifiers."""
    try:
        doc = json.loads(body)
    except RecursionError:  # not a ValueError: json gives up ~1,000 levels down
        raise MalformedDelivery("body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError):
        raise MalformedDelivery("body is not JSON") from None
    if _depth(doc) > MAX_DEPTH:
        raise MalformedDelivery(f"body is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(doc, dict):
        raise MalformedDelivery("body is not a JSON object")
    event_type = _first(*(doc.get(key) for key in _EVENT_KEYS))
    if event_type is None or not _EVENT.fullmatch(event_type):
        raise MalformedDelivery("body names no event type")
    nested = isinstance(doc.get("data"), dict)
    data: dict[str, Any] = doc["data"] if nested else doc
    video = data["video"] if isinstance(data.get("video"), dict) else {}
    job = data["import"] if isinstance(data.get("import"), dict) else {}
    # in an envelope, data.id names the subject; in a flat body, id names the delivery
    own_id = data.get("id") if nested else None
    failed = event_type == IMPORT_FAILED
    import_id = _first(
        data.get("import_id"), doc.get("import_id"), job.get("id"), own_id if failed else None
    )
    video_id = _first(data.get("video_id"), video.get("id"), None if failed else own_id)
    channel_id = _first(data.get("channel_id"), video.get("channel_id"))
    business_id = _first(data.get("business_id"), doc.get("business_id"))
    return Delivery(
        event_type=event_type,
        delivery_id=_identifier("delivery id", _first(*(doc.get(key) for key in _ID_KEYS))),
        video_id=_identifier("video_id", video_id),
        import_id=_identifier("import_id", import_id),
        channel_id=_identifier("channel_id", channel_id),
        business_id=_identifier("business_id", business_id),
        url=_first(data.get("url"), data.get("source_url"), job.get("url")),
        status=_first(data.get("status"), video.get("status"), job.get("status")),
        error=_error_text(data.get("error") or data.get("reason") or job.get("error")),
        created_at=_first(doc.get("created_at"), doc.get("timestamp"), doc.get("occurred_at")),
        data=dict(data),
    )
