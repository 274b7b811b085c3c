"""The sources layer's errors (defined with every other one in ``prefect_firework.errors``).

Every error names the source (with credentials and query strings removed) and a short
machine-readable ``rule``, so a flow, a manifest report or a test can branch on *why* a source
was refused without parsing prose.
"""

from __future__ import annotations

from prefect_firework.errors import PreflightError, SourceError

__all__ = ["PreflightError", "SourceError"]
