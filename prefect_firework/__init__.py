"""Prefect 3 integration for the Firework Video API.

Imports stay lazy so that ``import prefect_firework`` (and the CLI) start fast; the
public names are resolved on first attribute access.
"""

from prefect_firework._version import __version__

__all__ = ["__version__"]
