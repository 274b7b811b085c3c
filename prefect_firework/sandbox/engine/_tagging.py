"""Product tagging: the store products are looked up in, identifiers to products, listings.

``product_ids`` may hold encoded product ids, external product ids or a unit's external id,
GTIN, SKU or MPN (a unit tags its product); unknown identifiers are skipped, duplicates
dropped, and the order is the sort order.
"""

from __future__ import annotations

from prefect_firework.sandbox.api._auth import Principal
from prefect_firework.sandbox.api._errors import Forbidden, NotFound
from prefect_firework.sandbox.engine._state import Listing, State

__all__ = ["check_store", "replace_listings", "resolve_products", "set_hidden"]


def check_store(state: State, principal: Principal, store_id: str | None) -> str | None:
    """The store to look products up in: the given one (404/403 if not the caller's) or the
    business's first store (None if it has none)."""
    with state.locked():
        if store_id is None:
            stores = state.store_order.get(principal.business_id, [])
            return stores[0] if stores else None
        store = state.stores.get(store_id)
    if store is None:
        raise NotFound("Business store not found")
    if store.business_id != principal.business_id:
        raise Forbidden("Insufficient permissions to access this business store")
    return store.id


def resolve_products(state: State, store_id: str | None, identifiers: list[str]) -> list[str]:
    """Encoded product ids for ``identifiers``, in order, unknown skipped, duplicates dropped."""
    if store_id is None:
        return []
    with state.locked():
        products = [p for p in state.products.values() if p.store_id == store_id]
    index: dict[str, str] = {}
    # earlier identifier kinds win if two products share a value
    kinds = [
        lambda p: [p.id],
        lambda p: [p.external_id],
        lambda p: [u.external_id for u in p.units],
        lambda p: [u.gtin for u in p.units],
        lambda p: [u.sku for u in p.units],
        lambda p: [u.mpn for u in p.units],
    ]
    for kind in kinds:
        for product in products:
            for value in kind(product):
                index.setdefault(value, product.id)
    out: list[str] = []
    for identifier in identifiers:
        product_id = index.get(identifier)
        if product_id is not None and product_id not in out:
            out.append(product_id)
    return out


def replace_listings(
    current: list[Listing], product_ids: list[str], video_hidden: bool | None
) -> list[Listing]:
    """The listings after ``product_ids`` replaces ``current`` (create: ``current=[]``):
    with ``video_hidden`` every listing gets it, without it kept products keep their flag and
    new ones are visible."""
    hidden_before = {item.product_id: item.hidden for item in current}
    out = []
    for order, product_id in enumerate(product_ids, start=1):
        keep = hidden_before.get(product_id, False)
        hidden = video_hidden if video_hidden is not None else keep
        out.append(Listing(product_id=product_id, order=order, hidden=hidden))
    return out


def set_hidden(current: list[Listing], video_hidden: bool) -> list[Listing]:
    """Bulk update of every existing listing (``video_hidden`` without ``product_ids``)."""
    return [Listing(item.product_id, item.order, video_hidden) for item in current]
