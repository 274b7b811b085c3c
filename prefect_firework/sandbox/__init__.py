"""A local Firework API and a strict S3 on 127.0.0.1, for demos, tests and users' CI.

``Sandbox`` and ``SandboxConfig`` resolve lazily so that importing this package (the pytest
plugin does) costs nothing and works without the ``sandbox`` extra installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_firework.sandbox._sandbox import Sandbox
    from prefect_firework.sandbox.config import SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]

_EXPORTS = {
    "Sandbox": "prefect_firework.sandbox._sandbox",
    "SandboxConfig": "prefect_firework.sandbox.config",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_firework.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
