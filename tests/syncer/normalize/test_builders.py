"""The builders of builders.py are of the shape the sync stores (the projection reads them)."""

from __future__ import annotations

from syncer.sync.projection import RowContext, project
from tests.syncer.normalize.builders import (
    CUS,
    T0,
    cycle_invoice,
    discount,
    item,
    price,
    subscription,
)


def test_builders_have_the_shape_the_projection_reads() -> None:
    ctx = RowContext(account="acct_1", livemode=False, api_version="2026-10-28.endive",
                     synced_at=T0)
    p = price()
    sub = subscription([item("si_1", p, 3)], discounts=["di_1"])
    inv = cycle_invoice("in_1", T0, [("si_1", p, 3)])
    sub_row = project("subscriptions", sub, ctx)
    inv_rows = project("invoices", inv, ctx)
    assert sub_row["subscriptions"][0]["customer"] == CUS
    assert sub_row["subscription_items"][0]["quantity"] == 3
    assert sub_row["subscription_items"][0]["recurring_interval"] == "month"
    assert inv_rows["invoices"][0]["subscription"] == "sub_1"
    assert inv_rows["invoices"][0]["finalized_at"] == T0
    line_row = inv_rows["invoice_lines"][0]
    assert (line_row["subscription_item"], line_row["price"], line_row["line_type"]) == (
        "si_1", "price_pro", "subscription")
    expanded = dict(sub, discounts=[discount("di_1", "C")])
    assert project("subscriptions", expanded, ctx)["discounts"][0]["coupon"] == "C"
