"""Firework webhooks as Prefect events: verify, emit, wait on them, and react with automations.

- ``WebhookReceiver`` / ``create_webhook_app``: the ASGI receiver (``app``).
- ``WebhookServer`` / ``serve_forever``: run it (``serve``; CLI ``prefect-firework webhooks``).
- ``sign`` / ``verify_signature``: the ``FW-Webhooks-Signature`` scheme (``signature``).
- ``await_import_events``: the outcomes of imports from Prefect's stored and live events
  (``wait``); the task ``prefect_firework.tasks.wait_for_video_import_events`` builds on it.
- ``import_failed_automation``: re-run a deployment when an import fails (``automation``).

Names resolve lazily, so importing the package does not pull in Starlette or uvicorn.
"""

from __future__ import annotations

from prefect_firework._lazy import lazy_exports

__all__ = [
    "IMPORT_FAILED_EVENT",
    "VIDEO_CREATED_EVENT",
    "VIDEO_UPDATED_EVENT",
    "ReplayCache",
    "WebhookReceiver",
    "WebhookServer",
    "await_import_events",
    "create_webhook_app",
    "import_failed_automation",
    "parse_delivery",
    "serve_forever",
    "sign",
    "verify_signature",
]

_EXPORTS = {
    "IMPORT_FAILED_EVENT": "prefect_firework.webhooks.events",
    "VIDEO_CREATED_EVENT": "prefect_firework.webhooks.events",
    "VIDEO_UPDATED_EVENT": "prefect_firework.webhooks.events",
    "ReplayCache": "prefect_firework.webhooks.replay",
    "WebhookReceiver": "prefect_firework.webhooks.app",
    "create_webhook_app": "prefect_firework.webhooks.app",
    "WebhookServer": "prefect_firework.webhooks.serve",
    "serve_forever": "prefect_firework.webhooks.serve",
    "import_failed_automation": "prefect_firework.webhooks.automation",
    "parse_delivery": "prefect_firework.webhooks.delivery",
    "sign": "prefect_firework.webhooks.signature",
    "verify_signature": "prefect_firework.webhooks.signature",
    "await_import_events": "prefect_firework.webhooks.wait",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
