"""From a webhook ``Delivery`` to the Prefect event it stands for.

Names: ``video_created`` -> ``firework.video.created``, ``video_updated`` ->
``firework.video.updated``, ``video_import_failed`` -> ``firework.video.import_failed``; any
other type ``x_y`` becomes ``firework.webhook.x_y`` so a new Firework event is still visible.

Resources: the subject of the event is the primary resource and the rest are related, so that
automations can ``match`` the primary and ``for_each`` has one natural key:

- created / updated: ``firework.video.<video_id>``, with the import (role ``import``, when the
  video came from one) and the channel (role ``channel``) related;
- import_failed: ``firework.import.<import_id>`` (a failed import may have no video), with the
  video (role ``video``, when one was made) and the channel related.

``occurred`` is the time of receipt, not Firework's ``created_at`` (kept in the payload): a
delivery retried hours later must still reach live subscribers, whose filters start "now".

The event id is derived from Firework's delivery id when there is one, so a delivery that
Firework retries (new timestamp, new signature, same id) is one event, not two: Prefect drops
events whose id it has seen.

No credentials in events: an import URL is often presigned (``X-Amz-Signature``, a CDN token),
and Prefect stores events (``events``, ``event_resources``) and shows them to anyone with UI
access. So every URL that goes into an event - ``firework.import.url``, ``payload.url``, any
URL inside ``payload.data`` or an error message - passes through the package's ``redact_url``
(no password, no fragment, ``X-Amz-*``/``X-Goog-*`` parameters dropped, other query values
``[REDACTED]``; scheme, host and path stay, so the file is still recognisable), and values
under secret-looking keys in ``data`` (``token``, ``signature``, ``password`` ...) become
``[REDACTED]``. Hence ``payload.url`` equals the imported URL only when it had no query string.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from prefect_firework._redact import REDACTED, redact_url
from prefect_firework.webhooks.delivery import IMPORT_FAILED, Delivery

__all__ = [
    "EVENT_NAMES",
    "IMPORT_FAILED_EVENT",
    "VIDEO_CREATED_EVENT",
    "VIDEO_UPDATED_EVENT",
    "event_id",
    "event_name",
    "import_resource_id",
    "redact_text",
    "to_event",
    "video_resource_id",
]

VIDEO_CREATED_EVENT = "firework.video.created"
VIDEO_UPDATED_EVENT = "firework.video.updated"
IMPORT_FAILED_EVENT = "firework.video.import_failed"
EVENT_NAMES: dict[str, str] = {
    "video_created": VIDEO_CREATED_EVENT,
    "video_updated": VIDEO_UPDATED_EVENT,
    IMPORT_FAILED: IMPORT_FAILED_EVENT,
}
_NAMESPACE = uuid.UUID("6f1c2b4e-8a57-4f0e-9a34-0c2f7d2f9b11")


#: a URL of any scheme inside free text (``s3://KEY:SECRET@bucket`` too)
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{0,15}://[^\s\"'<>]+")
#: keys of ``data`` whose values are credentials whatever they look like
_SECRET_KEY = re.compile(
    r"(?i)(secret|token|passw|signature|credential|authorization|policy|api[_-]?key|^sig$)"
)
#: nesting below which ``data`` is not copied (the default parser refuses deeper bodies)
_MAX_COPY_DEPTH = 64


def redact_text(text: str) -> str:
    """``text`` with each URL in it passed through ``redact_url``."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def _redacted(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` (JSON-like) with URLs and secret-keyed values redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_COPY_DEPTH and isinstance(value, dict | list):
        return REDACTED
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY.search(key) and value[key] is not None
            else _redacted(value[key], depth + 1)
            for key in value
        }
    if isinstance(value, list):
        return [_redacted(item, depth + 1) for item in value]
    return value


def video_resource_id(video_id: str) -> str:
    return f"firework.video.{video_id}"


def import_resource_id(import_id: str) -> str:
    return f"firework.import.{import_id}"


def event_name(event_type: str, names: dict[str, str] | None = None) -> str:
    """The Prefect event name for a Firework event type."""
    return (names or EVENT_NAMES).get(event_type) or f"firework.webhook.{event_type}"


def event_id(delivery: Delivery) -> uuid.UUID:
    """Stable across Firework's retries of one delivery when it carries an id; random if not."""
    if delivery.delivery_id:
        return uuid.uuid5(_NAMESPACE, f"{delivery.event_type}:{delivery.delivery_id}")
    return uuid.uuid4()


def _video(video_id: str, role: str | None = None) -> dict[str, str]:
    resource = {"prefect.resource.id": video_resource_id(video_id), "firework.video.id": video_id}
    if role:
        resource["prefect.resource.role"] = role
    return resource


def _import(delivery: Delivery, import_id: str, role: str | None = None) -> dict[str, str]:
    resource = {
        "prefect.resource.id": import_resource_id(import_id),
        "firework.import.id": import_id,
    }
    if delivery.url:
        resource["firework.import.url"] = redact_text(delivery.url)
    if role:
        resource["prefect.resource.role"] = role
    return resource


def _payload(delivery: Delivery) -> dict[str, Any]:
    fields = {
        "event_type": delivery.event_type,
        "delivery_id": delivery.delivery_id,
        "video_id": delivery.video_id,
        "import_id": delivery.import_id,
        "channel_id": delivery.channel_id,
        "business_id": delivery.business_id,
        "url": delivery.url,
        "status": delivery.status,
        "error": delivery.error,
        "firework_created_at": delivery.created_at,
    }
    kept = {k: v for k, v in fields.items() if v is not None}
    return {**_redacted(kept), "data": _redacted(delivery.data)}


def to_event(delivery: Delivery, names: dict[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``prefect.events.emit_event`` (minus ``occurred``)."""
    related: list[dict[str, str]] = []
    if delivery.import_id and (delivery.event_type == IMPORT_FAILED or not delivery.video_id):
        resource = _import(delivery, delivery.import_id)
        if delivery.video_id:
            related.append(_video(delivery.video_id, "video"))
    elif delivery.video_id:
        resource = _video(delivery.video_id)
        if delivery.import_id:
            related.append(_import(delivery, delivery.import_id, "import"))
    else:
        key = delivery.delivery_id or "unknown"
        resource = {"prefect.resource.id": f"firework.webhook.{key}"}
    if delivery.channel_id:
        related.append(
            {
                "prefect.resource.id": f"firework.channel.{delivery.channel_id}",
                "prefect.resource.role": "channel",
            }
        )
    return {
        "event": event_name(delivery.event_type, names),
        "resource": resource,
        "related": related,
        "payload": _payload(delivery),
        "id": event_id(delivery),
    }
