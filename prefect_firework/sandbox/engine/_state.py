"""The sandbox's in-memory world: who exists, what was issued, what was created.

One ``State`` is shared by the API, the S3 front and the import workers, which run on
different threads, so every read and write goes through its lock. Records are plain
dataclasses; ``snapshot`` helpers turn them into the JSON shapes that the inspection API
(``sb.videos()``, ``GET /_sandbox/videos`` ...) returns, so tests see copies, never live state.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "Business",
    "Channel",
    "Clock",
    "IssuedPost",
    "Listing",
    "MultipartUpload",
    "OAuthClient",
    "PartRecord",
    "Poster",
    "Product",
    "ProductUnit",
    "RequestRecord",
    "State",
    "Store",
    "Token",
    "Video",
    "VideoImport",
    "iso",
]


def iso(ts: float | None) -> str | None:
    """ISO 8601 in UTC with microseconds and ``Z``, the API's timestamp format."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class Clock:
    """Wall time plus an offset that tests can advance (tokens, signatures, rate windows)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


# -- seeded world ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Business:
    id: str
    name: str


@dataclass(frozen=True)
class Channel:
    id: str
    business_id: str
    name: str


@dataclass(frozen=True)
class Store:
    """A business store: products are looked up in one of these."""

    id: str
    business_id: str
    name: str


@dataclass(frozen=True)
class ProductUnit:
    """A variant of a product; its identifiers tag the parent product."""

    external_id: str
    gtin: str
    sku: str
    mpn: str


@dataclass(frozen=True)
class Product:
    """A seeded product with every kind of identifier a tag may use."""

    id: str  # encoded Firework product id
    store_id: str
    external_id: str
    name: str
    units: tuple[ProductUnit, ...]

    def identifiers(self) -> list[str]:
        """All identifiers in the spec's order: Firework id, external id, then unit ids."""
        out = [self.id, self.external_id]
        for unit in self.units:
            out += [unit.external_id, unit.gtin, unit.sku, unit.mpn]
        return out


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    business_id: str
    scopes: frozenset[str]


@dataclass
class Token:
    value: str
    client_id: str
    business_id: str
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False


# -- issued and created things ---------------------------------------------------------------


@dataclass(frozen=True)
class IssuedPost:
    """An upload signature as issued; the S3 front checks POSTs against it."""

    key: str
    policy: str
    signature: str
    business_id: str
    channel_id: str
    mime_type: str
    expires_at: float


@dataclass
class PartRecord:
    """One part as the S3 front accepted it (the latest upload of a part number wins)."""

    part: int
    size: int
    etag: str
    uploaded_at: float


@dataclass
class MultipartUpload:
    upload_id: str
    key: str
    business_id: str
    channel_id: str
    mime_type: str
    parts_count: int
    created_at: float
    expires_at: float
    status: str = "open"  # open | completed | aborted
    parts: dict[int, PartRecord] = field(default_factory=dict)
    note: str | None = None


@dataclass
class Listing:
    """A product tagged to a video; ``order`` is the sort id (1-based), ``hidden`` the PDP flag."""

    product_id: str
    order: int
    hidden: bool


@dataclass
class Poster:
    """A custom poster as downloaded from ``poster_url`` and "stored on the CDN"."""

    source_url: str
    format: str  # "jpg" | "png"
    width: int
    height: int
    data: bytes
    revision: int


@dataclass
class Video:
    id: str
    business_id: str
    channel_id: str
    caption: str
    description: str | None
    access: str
    archived_at: str | None
    audio_disabled: bool
    hashtags: list[str]
    custom_fields: dict[str, str]
    display_social_attributions: bool
    external_media: dict[str, Any] | None
    listings: list[Listing]
    poster: Poster | None
    s3_key: str
    size: int
    duration: float
    source: str  # "file" | "url" | "s3_key" | "import"
    created_at: float
    ready_at: float
    import_id: str | None = None
    poster_revisions: int = 0

    def product_ids(self) -> list[str]:
        return [item.product_id for item in sorted(self.listings, key=lambda i: i.order)]


@dataclass
class VideoImport:
    """An async URL import job."""

    id: str
    business_id: str
    channel_id: str
    url: str
    created_at: float
    status: str = "running"  # running | completed | errored
    video_id: str | None = None
    completed_at: float | None = None
    error: str | None = None
    generation: int = 0


@dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox saw it. Never holds secrets: no query, headers or bodies."""

    method: str
    path: str
    endpoint: str | None
    status: int | None
    time: float
    duration: float
    fault: str | None = None
    #: with ``fault="after"``: what the handler answered before the injected status replaced it
    handled_status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class State:
    """Thread-safe store of everything above."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self.businesses: dict[str, Business] = {}
        self.channels: dict[str, Channel] = {}
        self.stores: dict[str, Store] = {}
        self.store_order: dict[str, list[str]] = {}  # business id -> its store ids, first first
        self.products: dict[str, Product] = {}
        self.clients: dict[str, OAuthClient] = {}
        #: (client id, business id): the client is a member of the business; a client whose
        #: credentials name a business it is not in gets 404 "Membership not found"
        self.memberships: set[tuple[str, str]] = set()
        self.tokens: dict[str, Token] = {}
        self.posts: dict[str, IssuedPost] = {}  # policy (base64) -> issued signature
        self.key_owner: dict[str, str] = {}  # S3 key -> business id it was issued to
        self.uploads: dict[str, MultipartUpload] = {}
        self.videos: dict[str, Video] = {}
        self.imports: dict[str, VideoImport] = {}
        self.requests: list[RequestRecord] = []
        self.creates: dict[str, deque[float]] = {}  # channel id -> create times
        self.generation = 0  # bumped by reset(): stale import workers drop their results

    @contextmanager
    def locked(self) -> Iterator[State]:
        with self._lock:
            yield self

    def now(self) -> float:
        return self.clock.now()

    # -- rate limit ------------------------------------------------------------------------

    def take_create_slot(self, channel_id: str, limit: int, window: float) -> float | None:
        """Count one create on ``channel_id``; return seconds to wait instead if it is full."""
        now = self.now()
        with self._lock:
            times = self.creates.setdefault(channel_id, deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= limit:
                return max(0.0, times[0] + window - now)
            times.append(now)
            return None

    # -- housekeeping ----------------------------------------------------------------------

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def clear_activity(self) -> None:
        """Forget everything created since start; keep the seeded world and issued tokens."""
        with self._lock:
            self.posts.clear()
            self.key_owner.clear()
            self.uploads.clear()
            self.videos.clear()
            self.imports.clear()
            self.requests.clear()
            self.creates.clear()
            self.generation += 1
