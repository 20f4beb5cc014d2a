"""Stripe's shapes, current and legacy: each fallback is read one way, in one place."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from syncer.stripe.shapes import (
    current_period_end,
    current_period_start,
    discount_coupon,
    invoice_item_proration,
    invoice_subscription,
    item_price,
    line_detail,
    line_price_id,
    line_product_id,
    subscription_detail,
)

ROOT = Path(__file__).resolve().parents[3]
# Fields that exist only in Stripe's current shapes: reading one means a legacy fallback is
# near, and those belong in syncer/stripe/shapes.py. The sandbox writes Stripe's shapes.
CURRENT_ONLY = {"subscription_details", "price_details", "subscription_item_details", "invoice_item_details"}


def test_an_invoices_subscription_is_read_from_its_parent_else_its_own_field() -> None:
    current = {"parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_new"}},
               "subscription": "sub_old"}
    assert invoice_subscription(current) == "sub_new"
    assert invoice_subscription({"subscription": {"id": "sub_old", "object": "subscription"}}) == "sub_old"
    assert invoice_subscription({"parent": None}) is None
    item = {"parent": {"subscription_details": {"subscription_item": "si_new"}}, "subscription_item": "si_old"}
    assert subscription_detail(item, "subscription_item") == "si_new"
    assert subscription_detail({"subscription_item": "si_old"}, "subscription_item") == "si_old"
    assert invoice_item_proration({"proration": False, "parent": {"subscription_details": {"proration": True}}}) is False
    assert invoice_item_proration({"parent": {"subscription_details": {"proration": True}}}) is True


def test_a_lines_price_and_product_are_read_from_its_pricing_else_its_price_else_its_plan() -> None:
    current = {"pricing": {"price_details": {"price": "price_new", "product": "prod_new"}},
               "price": {"id": "price_old", "product": "prod_old"}}
    assert (line_price_id(current), line_product_id(current)) == ("price_new", "prod_new")
    legacy = {"price": {"id": "price_old", "product": "prod_old"}, "plan": {"id": "plan_old", "product": "prod_plan"}}
    assert (line_price_id(legacy), line_product_id(legacy)) == ("price_old", "prod_old")
    assert (line_price_id({"plan": {"id": "plan_old", "product": "prod_plan"}}),
            line_product_id({"plan": {"id": "plan_old", "product": "prod_plan"}})) == ("plan_old", "prod_plan")
    assert item_price({"price": "price_1", "plan": "plan_1"}) == "price_1"
    assert item_price({"plan": {"id": "plan_1"}}) == {"id": "plan_1"}


def test_what_produced_a_line_is_read_from_its_details_else_the_line_itself() -> None:
    current: dict[str, Any] = {"parent": {"type": "subscription_item_details", "subscription_item_details": {
        "subscription": "sub_1", "subscription_item": "si_1", "proration": False}}, "proration": True}
    assert [line_detail(current, n) for n in ("subscription", "subscription_item", "proration")] == ["sub_1", "si_1", False]
    legacy = {"type": "subscription", "subscription": "sub_1", "subscription_item": "si_1", "proration": True}
    assert [line_detail(legacy, n) for n in ("subscription", "subscription_item", "proration")] == ["sub_1", "si_1", True]
    assert line_detail(legacy, "subscription", {"subscription": "sub_2"}) == "sub_2"  # details read already


def test_a_discounts_coupon_is_its_source_else_its_legacy_coupon() -> None:
    assert discount_coupon({"source": {"coupon": "C1", "type": "coupon"}, "coupon": {"id": "C0"}}) == "C1"
    assert discount_coupon({"coupon": {"id": "C0", "percent_off": 10}}) == {"id": "C0", "percent_off": 10}


def test_a_subscriptions_period_is_its_own_in_legacy_versions_else_its_next_billed_items() -> None:
    items = {"object": "list", "data": [
        {"id": "si_year", "current_period_start": 100, "current_period_end": 400},
        {"id": "si_month", "current_period_start": 200, "current_period_end": 300},
    ]}
    assert (current_period_start({"items": items}), current_period_end({"items": items})) == (200, 300)
    legacy = {"current_period_start": 50, "current_period_end": 60, "items": items}
    assert (current_period_start(legacy), current_period_end(legacy)) == (50, 60)
    assert current_period_end({"items": {"data": []}}) is None
    assert current_period_end(None) is None


def test_fields_of_stripes_current_shapes_are_read_only_by_the_shapes_module() -> None:
    readers = []
    for path in (ROOT / "syncer").rglob("*.py"):
        if path.is_relative_to(ROOT / "syncer" / "sandbox") or path == ROOT / "syncer" / "stripe" / "shapes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in CURRENT_ONLY:
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno} reads {node.value!r}")
    assert readers == []
