"""Prefect 3 integration for the Firework Video API.

Public names resolve lazily on first access: Prefect imports this package at start-up through
the ``prefect.collections`` entry point, and a client-only user should not pay for the flows.
``prefect block register -m prefect_firework`` still finds the blocks (``dir()`` lists them).
"""

from __future__ import annotations

import importlib
from typing import Any

from prefect_firework._version import __version__

_EXPORTS: dict[str, str] = {
    "FireworkCredentials": "prefect_firework.blocks",
    "FireworkWebhookSecret": "prefect_firework.blocks",
    "resolve_credentials": "prefect_firework.blocks",
    "FireworkSettings": "prefect_firework.settings",
    "FireworkClient": "prefect_firework.client",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_firework' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
