"""The seeded world: two businesses, their channels, stores, products and OAuth clients.

``no_membership_client`` holds valid credentials of the main business without a membership in
it: its channel-scoped calls answer 404 "Membership not found". Product identifiers are
readable and stable across runs (``ext-1001``, ``SKU-1001-A`` ...); the outlet store reuses
``ext-1001`` for another product, so only ``business_store_id`` tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect_firework.sandbox.engine._ids import new_id, new_secret
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


def _product(store_id: str, number: int, name: str, units: int) -> Product:
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
        id=new_id(8), store_id=store_id, external_id=f"ext-{number}", name=name, units=unit_list
    )


def _products(first: Store, second: Store) -> list[Product]:
    """The main business's products, across its two stores."""
    return [
        _product(first.id, 1001, "Trail Jacket", 2),
        _product(first.id, 1002, "Rain Boots", 1),
        _product(first.id, 1003, "Wool Beanie", 2),
        _product(first.id, 1004, "Canvas Tote", 1),
        _product(second.id, 2001, "Outlet Fleece", 1),
        # same external id as the flagship's Trail Jacket: the store decides which one is meant
        Product(
            id=new_id(8),
            store_id=second.id,
            external_id="ext-1001",
            name="Outlet Trail Jacket",
            units=(ProductUnit("unit-1001-X", "00000000199999", "SKU-1001-X", "MPN-1001-X"),),
        ),
    ]


def _client(prefix: str, business: Business, *scopes: str) -> OAuthClient:
    return OAuthClient(
        client_id=f"{prefix}-{new_id(10)}",
        client_secret=new_secret(),
        business_id=business.id,
        scopes=frozenset(scopes),
    )


def seed(state: State) -> Seeds:
    """Create the world in ``state`` and return handles to it."""
    main = Business(id=new_id(), name="Sandbox Outfitters")
    other = Business(id=new_id(), name="Someone Else Ltd")
    channels = [Channel(new_id(), main.id, name) for name in ("main", "outlet", "stories")]
    other_channel = Channel(new_id(), other.id, "elsewhere")
    stores = [Store(new_id(), main.id, name) for name in ("Flagship store", "Outlet store")]
    other_store = Store(new_id(), other.id, "Other store")
    products = _products(*stores)
    other_products = [_product(other_store.id, 9001, "Foreign Widget", 1)]
    client = _client("sandbox", main, READ_SCOPE, WRITE_SCOPE)
    read_only = _client("sandbox-ro", main, READ_SCOPE)
    other_client = _client("sandbox-other", other, READ_SCOPE, WRITE_SCOPE)
    no_membership = _client("sandbox-nomember", main, READ_SCOPE, WRITE_SCOPE)

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
