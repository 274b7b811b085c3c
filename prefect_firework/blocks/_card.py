"""What the Prefect UI shows on the blocks' cards besides their docstrings: logo and docs link.

The documentation is the README, rendered on the package's PyPI page (``[project.urls]`` in
pyproject.toml); each block links to its section there.
"""

from __future__ import annotations

#: the avatar of Firework's GitHub organisation (loopsocial, home of Firework's SDKs), a square
#: image GitHub serves at the size asked for
LOGO_URL = "https://github.com/loopsocial.png?size=128"

#: pyproject.toml's [project.urls] Homepage: the README as PyPI renders it
DOCUMENTATION_URL = "https://pypi.org/project/prefect-firework/"


def documentation_url(section: str) -> str:
    """The README section ``section`` (its heading's anchor, e.g. ``webhooks``)."""
    return f"{DOCUMENTATION_URL}#{section}"
