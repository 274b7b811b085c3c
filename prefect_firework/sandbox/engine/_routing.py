"""Route tables: ``(method, path template) -> endpoint name``, written once per service.

The API registers its FastAPI routes from its table, the S3 front dispatches from its own, and
the request log and the fault registry name each request with the same table, so the name a
test arms a fault on and the handler that answers the request cannot drift apart.

Templates read as Starlette reads them, so the table and FastAPI's router agree on every path:
``{name}`` is one non-empty segment (``[^/]+``), ``{name:path}`` anything (``.*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Route", "RouteTable"]

_PARAM = re.compile(r"{(\w+)(:path)?}")


def _compile(template: str) -> re.Pattern[str]:
    pattern, end = "", 0
    for match in _PARAM.finditer(template):
        segment = ".*" if match.group(2) else "[^/]+"
        pattern += re.escape(template[end : match.start()]) + f"(?P<{match.group(1)}>{segment})"
        end = match.end()
    return re.compile(pattern + re.escape(template[end:]))


@dataclass(frozen=True)
class Route:
    """One endpoint: the method and path template that reach it, and its name.

    The name is what faults target and the request log records, and the name of the method
    of the service's handlers that answers it.
    """

    method: str
    path: str
    endpoint: str
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", _compile(self.path))

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self._regex.fullmatch(path) is not None


class RouteTable:
    """A service's routes, in the order its router tries them."""

    def __init__(self, *routes: Route) -> None:
        self.routes = routes

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)

    @property
    def endpoints(self) -> frozenset[str]:
        return frozenset(route.endpoint for route in self.routes)

    def match(self, method: str, path: str) -> Route | None:
        """The first route that ``method`` and ``path`` reach, or None."""
        return next((r for r in self.routes if r.matches(method, path)), None)

    def endpoint(self, method: str, path: str) -> str | None:
        """The endpoint name of a request, for faults and the request log."""
        route = self.match(method, path)
        return None if route is None else route.endpoint
