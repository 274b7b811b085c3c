"""Errors raised by the sources layer.

Every error names the source (with credentials and query strings removed, see
:func:`prefect_firework.sources.uri.redact`) and a short machine-readable ``rule`` so a flow, a
manifest report or a test can branch on *why* a source was refused without parsing prose.
"""

from __future__ import annotations

__all__ = ["PreflightError", "SourceError"]


class SourceError(Exception):
    """A source could not be read as asked (missing, forbidden, truncated, no range support...).

    ``source`` is the redacted URI (safe to log); ``rule`` is a short machine name such as
    ``"unreadable"``, ``"range_unsupported"`` or ``"truncated"``; ``message`` is the human part.
    ``str(error)`` reads ``"<source>: <message> (rule: <rule>)"``.
    """

    def __init__(self, source: str, rule: str, message: str) -> None:
        super().__init__(source, rule, message)
        self.source = source
        self.rule = rule
        self.message = message

    def __str__(self) -> str:
        return f"{self.source}: {self.message} (rule: {self.rule})"

    def __reduce__(self) -> tuple[type[SourceError], tuple[str, str, str]]:
        # Task runners (Dask, Ray, Prefect results) pickle exceptions; keep the fields intact.
        return (type(self), (self.source, self.rule, self.message))


class PreflightError(SourceError):
    """A source refused before any upload because it breaks one of the API's rules.

    ``rule`` is one of ``"mime_type"``, ``"min_file_size"``, ``"max_file_size"``,
    ``"min_duration"``, ``"max_duration"``, ``"unreadable"`` or ``"container"``.
    """
