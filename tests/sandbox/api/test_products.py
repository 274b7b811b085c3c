"""Spec 6.6: product tagging by every identifier kind, store scoping, order, ``video_hidden``."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_support import Api

from prefect_firework.sandbox.engine._state import Product


@pytest.fixture
def key(api: Api, media) -> str:
    return api.upload(media.clip)


def _product(api: Api, external_id: str, store: int = 0) -> Product:
    store_id = api.sb.business_store_ids[store]
    (product,) = [
        p for p in api.sb.products if p.external_id == external_id and p.store_id == store_id
    ]
    return product


KINDS = {
    "firework-id": lambda p: p.id,
    "external-id": lambda p: p.external_id,
    "unit-external-id": lambda p: p.units[-1].external_id,
    "gtin": lambda p: p.units[-1].gtin,
    "sku": lambda p: p.units[-1].sku,
    "mpn": lambda p: p.units[-1].mpn,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_identifier_kind_tags_the_product(api: Api, key: str, kind: str) -> None:
    product = _product(api, "ext-1003")
    video = api.create_ok(s3_key=key, product_ids=[KINDS[kind](product)])
    assert video["product_ids"] == [product.id]
    listings = api.sb.product_listings(video["id"])
    assert listings == [{"product_id": product.id, "order": 1, "hidden": False}]


def test_unknown_skipped_duplicates_dropped_order_kept(api: Api, key: str) -> None:
    p1, p2, p3 = (_product(api, f"ext-100{n}") for n in (1, 2, 3))
    ids = [
        "ext-1003",
        "does-not-exist",
        p1.units[0].sku,
        p3.units[1].mpn,  # p3 again, by another kind
        p1.id,  # p1 again
        "ext-1002",
        p2.units[0].gtin,  # p2 again
    ]
    video = api.create_ok(s3_key=key, product_ids=ids)
    assert video["product_ids"] == [p3.id, p1.id, p2.id]
    orders = [(i["product_id"], i["order"]) for i in api.sb.product_listings(video["id"])]
    assert orders == [(p3.id, 1), (p1.id, 2), (p2.id, 3)]


def test_products_are_looked_up_in_the_given_store_or_the_first(api: Api, key: str) -> None:
    flagship = _product(api, "ext-1001", store=0)
    outlet = _product(api, "ext-1001", store=1)
    outlet_only = _product(api, "ext-2001", store=1)
    default = api.create_ok(s3_key=key, product_ids=["ext-1001", "ext-2001"])
    assert default["product_ids"] == [flagship.id]  # ext-2001 is not in the first store
    scoped = api.create_ok(
        s3_key=key,
        product_ids=["ext-1001", "ext-2001"],
        business_store_id=api.sb.business_store_ids[1],
    )
    assert scoped["product_ids"] == [outlet.id, outlet_only.id]


def test_only_unknown_ids_tag_nothing_without_error(api: Api, key: str) -> None:
    video = api.create_ok(s3_key=key, product_ids=["nope", "also-nope"])
    assert video["product_ids"] == [] and api.sb.product_listings(video["id"]) == []


def test_video_hidden_on_create_applies_to_every_listing(api: Api, key: str) -> None:
    video = api.create_ok(s3_key=key, product_ids=["ext-1001", "ext-1002"], video_hidden=True)
    assert [i["hidden"] for i in api.sb.product_listings(video["id"])] == [True, True]
    assert "hidden" not in video and "video_hidden" not in video
    got = api.get(f"/api/v1/videos/{video['id']}").json()
    assert "hidden" not in got and "video_hidden" not in got


def _listings(api: Api, video_id: str) -> list[tuple[str, int, bool]]:
    return [(i["product_id"], i["order"], i["hidden"]) for i in api.sb.product_listings(video_id)]


def _patch(api: Api, video_id: str, **body: Any) -> dict[str, Any]:
    resp = api.patch(f"/api/v1/videos/{video_id}", body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_patch_product_ids_replace_and_keep_hidden_state(api: Api, key: str) -> None:
    a, b, c = (_product(api, f"ext-100{n}") for n in (1, 2, 3))
    video = api.create_ok(s3_key=key, product_ids=["ext-1001", "ext-1002"], video_hidden=True)
    # spec 6.6 example 4: keep A, untag B, tag C; A keeps its flag, C is new and visible
    body = _patch(api, video["id"], product_ids=["ext-1003", "ext-1001"])
    assert body["product_ids"] == [c.id, a.id]
    assert _listings(api, video["id"]) == [(c.id, 1, False), (a.id, 2, True)]
    assert b.id not in body["product_ids"]


def test_patch_product_ids_with_video_hidden_sets_every_listing(api: Api, key: str) -> None:
    a, c = _product(api, "ext-1001"), _product(api, "ext-1003")
    video = api.create_ok(s3_key=key, product_ids=["ext-1001"], video_hidden=True)
    _patch(api, video["id"], product_ids=["ext-1001", "ext-1003"], video_hidden=False)
    assert _listings(api, video["id"]) == [(a.id, 1, False), (c.id, 2, False)]


def test_patch_video_hidden_alone_bulk_updates(api: Api, key: str) -> None:
    a, b = _product(api, "ext-1001"), _product(api, "ext-1002")
    video = api.create_ok(s3_key=key, product_ids=["ext-1001", "ext-1002"])
    body = _patch(api, video["id"], video_hidden=True)
    assert body["product_ids"] == [a.id, b.id]
    assert _listings(api, video["id"]) == [(a.id, 1, True), (b.id, 2, True)]
    _patch(api, video["id"], video_hidden=False)
    assert _listings(api, video["id"]) == [(a.id, 1, False), (b.id, 2, False)]


def test_patch_empty_product_ids_untags_all(api: Api, key: str) -> None:
    video = api.create_ok(s3_key=key, product_ids=["ext-1001", "ext-1002"])
    assert _patch(api, video["id"], product_ids=[])["product_ids"] == []
    assert api.sb.product_listings(video["id"]) == []


def test_patch_without_product_ids_keeps_them(api: Api, key: str) -> None:
    video = api.create_ok(s3_key=key, product_ids=["ext-1002"])
    assert _patch(api, video["id"], caption="New")["product_ids"] == video["product_ids"]


def test_patch_uses_the_given_store(api: Api, key: str) -> None:
    outlet = _product(api, "ext-1001", store=1)
    video = api.create_ok(s3_key=key, product_ids=["ext-1001"])
    body = _patch(
        api, video["id"], product_ids=["ext-1001"], business_store_id=api.sb.business_store_ids[1]
    )
    assert body["product_ids"] == [outlet.id]
    unknown = api.patch(
        f"/api/v1/videos/{video['id']}", {"product_ids": [], "business_store_id": "Nope"}
    )
    assert unknown.status_code == 404
