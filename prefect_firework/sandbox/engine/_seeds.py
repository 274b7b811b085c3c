"""The seeded world: two businesses, their channels, stores, products and OAuth clients.

``no_membership_client`` holds valid credentials of the main business without a membership in
it: its channel-scoped calls answer 404 "Membership not found". Product identifiers are
readable and stable across runs (``ext-1001``, ``SKU-1001-A`` ...); the outlet store reuses
``ext-1001`` for another product, so only ``business_store_id`` tells the two apart.

Every other id and secret here comes from an ``IdSource``: random per start, or derived from
``SandboxConfig.seed`` so a saved credentials block and a manifest's channel ids outlive a
restart. ``client_id``, ``client_secret`` and ``channel_ids`` of the config, when set, win over
both.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect_firework.sandbox.config import SandboxConfig
from prefect_firework.sandbox.engine._ids import IdSource
from prefect_firework.sandbox.engine._state import (
    Business,
    Channel,
    OAuthClient,
    Product,
    ProductUnit,
    State,
    Store,
)

__all__ = ["READ_SCOPE", "WRITE_SCOPE", "Seeds", "seed"]

READ_SCOPE = "videos:read"
WRITE_SCOPE = "videos:write"


@dataclass(frozen=True)
class Seeds:
    """Handles to the seeded world, as ``Sandbox`` exposes them."""

    business_id: str
    channel_ids: list[str]
    business_store_ids: list[str]
    products: list[Product]
    client: OAuthClient
    read_only_client: OAuthClient
    other_business_id: str
    other_business_client: OAuthClient
    other_business_channel_id: str
    other_business_store_id: str
    no_membership_client: OAuthClient


def _product(ids: IdSource, store: Store, number: int, name: str, units: int) -> Product:
    unit_list = tuple(
        ProductUnit(
            external_id=f"unit-{number}-{chr(65 + u)}",
            gtin=f"{number * 100 + 11 + u:014d}",
            sku=f"SKU-{number}-{chr(65 + u)}",
            mpn=f"MPN-{number}-{chr(65 + u)}",
        )
        for u in range(units)
    )
    return Product(
        id=ids.id(f"product/{store.name}/{number}", 8),
        store_id=store.id,
        external_id=f"ext-{number}",
        name=name,
        units=unit_list,
    )


def _products(ids: IdSource, first: Store, second: Store) -> list[Product]:
    """The main business's products, across its two stores."""
    return [
        _product(ids, first, 1001, "Trail Jacket", 2),
        _product(ids, first, 1002, "Rain Boots", 1),
        _product(ids, first, 1003, "Wool Beanie", 2),
        _product(ids, first, 1004, "Canvas Tote", 1),
        _product(ids, second, 2001, "Outlet Fleece", 1),
        # same external id as the flagship's Trail Jacket: the store decides which one is meant
        Product(
            id=ids.id(f"product/{second.name}/1001", 8),
            store_id=second.id,
            external_id="ext-1001",
            name="Outlet Trail Jacket",
            units=(ProductUnit("unit-1001-X", "00000000199999", "SKU-1001-X", "MPN-1001-X"),),
        ),
    ]


def _client(
    ids: IdSource,
    prefix: str,
    business: Business,
    *scopes: str,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> OAuthClient:
    """An OAuth client; the seeded parts are drawn even when pinned, so pinning one client
    leaves every other seeded value as the seed alone gives it."""
    seeded_id = f"{prefix}-{ids.id(f'client/{prefix}', 10)}"
    seeded_secret = ids.secret(f"client/{prefix}/secret")
    return OAuthClient(
        client_id=client_id or seeded_id,
        client_secret=client_secret or seeded_secret,
        business_id=business.id,
        scopes=frozenset(scopes),
    )


#: the main business's channels; pinned ``channel_ids`` beyond three add ``channel-4`` ...
_CHANNEL_NAMES = ("main", "outlet", "stories")


def _channels(ids: IdSource, business: Business, pinned: tuple[str, ...]) -> list[Channel]:
    """The main business's channels: the pinned ids first, in order, then the seeded rest."""
    seeded = [ids.id(f"channel/{name}") for name in _CHANNEL_NAMES]
    extra = (f"channel-{n}" for n in range(len(_CHANNEL_NAMES) + 1, len(pinned) + 1))
    names = [*_CHANNEL_NAMES, *extra]
    chosen = [*pinned, *seeded[len(pinned) :]]
    return [Channel(cid, business.id, name) for cid, name in zip(chosen, names, strict=True)]


def _check_distinct(what: str, values: list[str]) -> None:
    """Refuse a pinned id that another seeded thing already has (a start-time error)."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(
                f"{what} id {value!r} is already another seeded {what}'s; pick another"
            )
        seen.add(value)


def seed(state: State, config: SandboxConfig | None = None) -> Seeds:
    """Create the world in ``state`` (pinned or seeded per ``config``) and return handles."""
    cfg = config or SandboxConfig()
    ids = IdSource(cfg.seed)
    main = Business(id=ids.id("business/main"), name="Sandbox Outfitters")
    other = Business(id=ids.id("business/other"), name="Someone Else Ltd")
    channels = _channels(ids, main, cfg.channel_ids or ())
    other_channel = Channel(ids.id("channel/elsewhere"), other.id, "elsewhere")
    stores = [
        Store(ids.id(f"store/{name}"), main.id, name) for name in ("Flagship store", "Outlet store")
    ]
    other_store = Store(ids.id("store/Other store"), other.id, "Other store")
    products = _products(ids, *stores)
    other_products = [_product(ids, other_store, 9001, "Foreign Widget", 1)]
    client = _client(
        ids,
        "sandbox",
        main,
        READ_SCOPE,
        WRITE_SCOPE,
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
    )
    read_only = _client(ids, "sandbox-ro", main, READ_SCOPE)
    other_client = _client(ids, "sandbox-other", other, READ_SCOPE, WRITE_SCOPE)
    no_membership = _client(ids, "sandbox-nomember", main, READ_SCOPE, WRITE_SCOPE)
    _check_distinct("channel", [c.id for c in [*channels, other_channel]])
    clients = [client, read_only, other_client, no_membership]
    _check_distinct("client", [c.client_id for c in clients])

    with state.locked():
        for business in (main, other):
            state.businesses[business.id] = business
        for channel in [*channels, other_channel]:
            state.channels[channel.id] = channel
        for store in [*stores, other_store]:
            state.stores[store.id] = store
            state.store_order.setdefault(store.business_id, []).append(store.id)
        for product in [*products, *other_products]:
            state.products[product.id] = product
        for oauth_client in (client, read_only, other_client, no_membership):
            state.clients[oauth_client.client_id] = oauth_client
        for member in (client, read_only, other_client):
            state.memberships.add((member.client_id, member.business_id))

    return Seeds(
        business_id=main.id,
        channel_ids=[c.id for c in channels],
        business_store_ids=[s.id for s in stores],
        products=products,
        client=client,
        read_only_client=read_only,
        other_business_id=other.id,
        other_business_client=other_client,
        other_business_channel_id=other_channel.id,
        other_business_store_id=other_store.id,
        no_membership_client=no_membership,
    )
