"""Derived facts round-trip through the database on both backends."""

from __future__ import annotations

from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    Facts,
    MrrSpan,
    PaymentFailure,
    RevenueKind,
    RevenueLine,
)
from syncer.db.facts_store import last_normalization, load_facts, replace_facts
from syncer.db.store import Store
from syncer.projection import RowContext, project

SPAN = MrrSpan("cus_1", "sub_1", "si_1", "price_1", "usd", 100, None, 5000, 6000, Cause.NEW_ITEM)
CHURN = ChurnEvent("cus_2", "sub_2", 200, 150, ChurnKind.VOLUNTARY, "cancellation_requested", False,
                   "cancellation_requested", "too_expensive", "a comment")
LINE = RevenueLine(300, "cus_1", "il_1", RevenueKind.RECURRING, 5000, "usd")
FAIL = PaymentFailure("in_1", "cus_1", "sub_1", "usd", 5000, 400, 2, 500, None)


def facts(*spans: MrrSpan) -> Facts:
    return Facts(customers=(), spans=spans, churns=(CHURN,), revenue=(LINE,), failures=(FAIL,), default_currency="usd")


def test_replace_then_load_gives_the_same_facts(store: Store) -> None:
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", {"id": "cus_1", "object": "customer", "name": "Ada", "created": 1},
                                        RowContext("acct_1", False, "v", 1)))
    replace_facts(store, "acct_1", False, facts(SPAN), data_as_of=1000, now=1001)
    loaded = load_facts(store, "acct_1", False, default_currency="usd", account_name="Co")
    assert loaded.spans == (SPAN,) and loaded.churns == (CHURN,)
    assert loaded.revenue == (LINE,) and loaded.failures == (FAIL,)
    assert [c.name for c in loaded.customers] == ["Ada"]
    assert last_normalization(store, "acct_1", False)["data_as_of"] == 1000  # type: ignore[index]

    # A second normalization replaces, never adds.
    other = MrrSpan("cus_1", "sub_1", "si_1", "price_2", "usd", 100, 900, 7000, 7000, Cause.PRICE_CHANGE)
    replace_facts(store, "acct_1", False, facts(other), data_as_of=2000, now=2001)
    assert load_facts(store, "acct_1", False, default_currency="usd", account_name=None).spans == (other,)
    # Other accounts are untouched.
    assert load_facts(store, "acct_2", False, default_currency="usd", account_name=None).spans == ()


def test_plans_are_prices_labelled_with_their_product_name(store: Store) -> None:
    ctx = RowContext("acct_1", False, "v", 1)
    objects = [
        ("products", {"id": "prod_pro", "object": "product", "name": "Pro", "created": 1}),
        ("products", {"id": "prod_other_acct", "object": "product", "name": "Elsewhere", "created": 1}),
        ("prices", {"id": "price_pro_m", "object": "price", "product": "prod_pro", "created": 1}),
        ("prices", {"id": "price_pro_y", "object": "price", "product": {"id": "prod_pro", "object": "product"},
                    "created": 1}),
        ("prices", {"id": "price_orphan", "object": "price", "product": "prod_missing", "created": 1}),
    ]
    with store.transaction() as conn:
        for resource, obj in objects:
            store.upsert_rows(conn, project(resource, obj, ctx))
        # The same price id in another account must not leak into this one's labels.
        store.upsert_rows(conn, project("prices", {"id": "price_x", "object": "price", "product": "prod_other_acct",
                                                   "created": 1}, RowContext("acct_2", False, "v", 1)))
    loaded = load_facts(store, "acct_1", False, default_currency="usd", account_name=None)
    assert sorted((p.price, p.name) for p in loaded.plans) == [("price_pro_m", "Pro"), ("price_pro_y", "Pro")]
