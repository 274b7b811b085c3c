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
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect_firework.webhooks.delivery import IMPORT_FAILED, Delivery

__all__ = [
    "EVENT_NAMES",
    "IMPORT_FAILED_EVENT",
    "VIDEO_CREATED_EVENT",
    "VIDEO_UPDATED_EVENT",
    "event_id",
    "event_name",
    "import_resource_id",
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
        resource["firework.import.url"] = delivery.url
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
    return {**{k: v for k, v in fields.items() if v is not None}, "data": delivery.data}


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
