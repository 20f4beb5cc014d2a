"""Projection of Stripe's example objects (current and legacy shapes) into table rows."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select
from sqlmodel import SQLModel

from syncer.db.objects import CHANGE_COLUMNS, OBJECT_TABLES
from syncer.errors import MalformedResponse
from syncer.sync.projection import (
    RowContext,
    embedded_list,
    merge_rows,
    project,
    project_child,
    ref,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
CTX = RowContext(
    account="acct_1", livemode=False, api_version="2026-10-28.endive", synced_at=1_750_000_000
)
COMMON = {"account", "livemode", "id", "created", "raw", "api_version", "synced_at", "deleted_at"}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def one(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(rows) == 1, rows
    return rows[0]


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def expanded_discount(**fields: Any) -> dict[str, Any]:
    """The example discount with its coupon expanded (as ``expand=data.discounts`` gives)."""
    discount = load("discount")
    discount["source"]["coupon"] = load("coupon")
    discount.update(fields)
    return discount


# ---- helpers --------------------------------------------------------------------------------


def test_ref_takes_ids_from_strings_and_expanded_objects() -> None:
    assert ref("cus_1") == "cus_1"
    assert ref({"id": "cus_1", "object": "customer"}) == "cus_1"
    assert ref(None) is None
    assert ref("") is None
    assert ref({"object": "customer"}) is None
    assert ref(42) is None


def test_embedded_list_reads_data_and_has_more() -> None:
    invoice = load("invoice_legacy")
    lines, has_more = embedded_list(invoice, "lines")
    assert [line["id"] for line in lines] == ["il_legacy001", "il_legacy002"]
    assert has_more is True
    assert embedded_list(load("customer"), "lines") == ([], False)
    plain, more = embedded_list({"discounts": [{"id": "di_1"}]}, "discounts")
    assert (plain, more) == ([{"id": "di_1"}], False)  # a plain array is complete


def test_embedded_list_rejects_a_malformed_list() -> None:
    with pytest.raises(MalformedResponse):
        embedded_list({"lines": {"data": "nope"}}, "lines")
    with pytest.raises(MalformedResponse):
        embedded_list({"lines": {"data": ["il_1"]}}, "lines")


# ---- common columns ------------------------------------------------------------------------


def test_common_columns_come_from_the_context_and_raw_is_compact_json() -> None:
    payment = load("invoice_payment")  # its example says livemode: true
    row = one(project("invoice_payments", payment, CTX)["invoice_payments"])
    assert row["account"] == "acct_1"
    assert row["livemode"] is False
    assert row["api_version"] == CTX.api_version
    assert row["synced_at"] == CTX.synced_at
    assert row["deleted_at"] is None
    assert row["created"] == 1028554472
    assert row["raw"] == json.dumps(payment, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(row["raw"]) == payment


def test_raw_keeps_non_ascii_text_as_is() -> None:
    customer = load("customer")
    customer["name"] = "Zoë Müller"
    row = one(project("customers", customer, CTX)["customers"])
    assert "Zoë Müller" in row["raw"]
    assert row["name"] == "Zoë Müller"


def test_deleted_object_is_marked_deleted_at_the_sync_time() -> None:
    row = one(project("customers", load("deleted_customer"), CTX)["customers"])
    assert row["id"] == "cus_QXg1o8vcGmoR32"
    assert row["deleted_at"] == CTX.synced_at
    assert row["name"] is None and row["email"] is None and row["created"] is None


def test_unknown_fields_and_enum_values_are_stored_not_fatal() -> None:
    subscription = load("subscription")
    subscription["status"] = "hibernating"
    subscription["brand_new_field"] = {"nested": [1, 2]}
    row = one(project("subscriptions", subscription, CTX)["subscriptions"])
    assert row["status"] == "hibernating"
    assert json.loads(row["raw"])["brand_new_field"] == {"nested": [1, 2]}


def test_fields_of_an_unexpected_type_project_to_none() -> None:
    charge = load("charge")
    charge["amount"] = "100"
    charge["paid"] = 1
    row = one(project("charges", charge, CTX)["charges"])
    assert row["amount"] is None
    assert row["paid"] is None
    assert row["currency"] == "usd"


# ---- malformed objects --------------------------------------------------------------------


@pytest.mark.parametrize("obj", [None, [], "cus_1", {"object": "customer"}, {"id": 7}, {"id": ""}])
def test_object_without_an_id_is_malformed(obj: Any) -> None:
    with pytest.raises(MalformedResponse) as info:
        project("customers", obj, CTX)
    assert "customer" in str(info.value)


def test_malformed_message_names_the_resource_not_the_data() -> None:
    secret = {"email": "jenny@example.com", "name": "Jenny Rosen", "object": "customer"}
    with pytest.raises(MalformedResponse) as info:
        project("customers", secret, CTX)
    assert "jenny" not in str(info.value).lower()


def test_child_without_an_id_is_malformed() -> None:
    invoice = load("invoice")
    del invoice["lines"]["data"][0]["id"]
    with pytest.raises(MalformedResponse):
        project("invoices", invoice, CTX)


def test_unknown_resource_and_child_table_are_programming_errors() -> None:
    with pytest.raises(KeyError):
        project("payouts", load("customer"), CTX)
    with pytest.raises(KeyError):
        project_child("invoices", "in_1", load("line_item"), 0, CTX)


# ---- customers, catalogue ----------------------------------------------------------------


def test_customer_columns_and_its_discount() -> None:
    customer = load("customer")
    customer.update(name="Jenny Rosen", email="jenny@example.com", delinquent=True, balance=-500)
    customer["discount"] = expanded_discount(id="di_cus", customer=None, subscription=None)
    rows = project("customers", customer, CTX)
    row = one(rows["customers"])
    assert row["name"] == "Jenny Rosen"
    assert row["email"] == "jenny@example.com"
    assert row["currency"] == "usd"
    assert row["delinquent"] is True
    assert row["balance"] == -500
    discount = one(rows["discounts"])
    assert discount["id"] == "di_cus"
    assert discount["customer"] == "cus_QXg1o8vcGmoR32"  # the customer it sits on
    assert discount["coupon"] == "Z4OV52SU"


def test_product_and_recurring_price() -> None:
    product = one(project("products", load("product"), CTX)["products"])
    assert (product["name"], product["active"], product["type"]) == ("T-shirt", True, "good")
    price = one(project("prices", load("price"), CTX)["prices"])
    assert price["product"] == "prod_QXg1hqf4jFNsqG"
    assert price["unit_amount"] == 2000
    assert price["unit_amount_decimal"] == "2000"
    assert price["currency"] == "usd"
    assert price["type"] == "recurring"
    assert price["billing_scheme"] == "per_unit"
    assert price["tiers_mode"] is None
    assert price["recurring_interval"] == "month"
    assert price["recurring_interval_count"] == 1
    assert price["recurring_usage_type"] == "licensed"


def test_one_time_price_has_no_recurring_columns() -> None:
    price = load("price")
    price.update(type="one_time", recurring=None, product={"id": "prod_X", "object": "product"})
    row = one(project("prices", price, CTX)["prices"])
    assert row["type"] == "one_time"
    assert row["recurring_interval"] is None and row["recurring_usage_type"] is None
    assert row["product"] == "prod_X"  # expanded product gives its id


def test_coupon_and_promotion_codes_current_and_legacy() -> None:
    coupon = one(project("coupons", load("coupon"), CTX)["coupons"])
    assert coupon["percent_off"] == 25.5
    assert coupon["amount_off"] is None
    assert coupon["duration"] == "forever"
    assert coupon["duration_in_months"] == 3
    assert coupon["valid"] is True

    promo = load("promotion_code")
    row = one(project("promotion_codes", promo, CTX)["promotion_codes"])
    assert (row["code"], row["active"], row["coupon"]) == ("FALL20", False, None)
    promo["promotion"]["coupon"] = "Z4OV52SU"
    assert one(project("promotion_codes", promo, CTX)["promotion_codes"])["coupon"] == "Z4OV52SU"
    legacy = load("promotion_code")
    del legacy["promotion"]
    legacy["coupon"] = load("coupon")
    assert one(project("promotion_codes", legacy, CTX)["promotion_codes"])["coupon"] == "Z4OV52SU"


# ---- subscriptions ------------------------------------------------------------------------


def test_subscription_current_shape() -> None:
    subscription = load("subscription")
    subscription["cancellation_details"] = {
        "reason": "cancellation_requested",
        "feedback": "too_expensive",
        "comment": "We moved to a cheaper plan",
    }
    subscription["latest_invoice"] = {"id": "in_latest", "object": "invoice"}
    rows = project("subscriptions", subscription, CTX)
    row = one(rows["subscriptions"])
    assert row["customer"] == "cus_QXg1o8vcGmoR32"
    assert row["status"] == "active"
    assert row["cancel_at_period_end"] is True
    assert row["cancel_at"] == row["canceled_at"] == row["ended_at"] == 1234567890
    assert row["cancellation_reason"] == "cancellation_requested"
    assert row["cancellation_feedback"] == "too_expensive"
    assert row["cancellation_comment"] == "We moved to a cheaper plan"
    assert row["pause_behavior"] == "mark_uncollectible"
    assert row["pause_resumes_at"] is None
    assert row["latest_invoice"] == "in_latest"
    assert row["collection_method"] == "charge_automatically"
    # The period lives on the items now: the subscription shows its next billed item's.
    assert row["current_period_start"] == 1896570518
    assert row["current_period_end"] == 976287773

    item = one(rows["subscription_items"])
    assert item["id"] == "si_QXhVnC2h0Jczwc"
    assert item["subscription"] == "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
    assert item["position"] == 0
    assert item["price"] == "price_1PgafmB7WZ01zgkW6dKueIc5"
    assert item["product"] == "prod_QXg1hqf4jFNsqG"
    assert item["quantity"] == 1
    assert item["unit_amount"] == 2000
    assert item["currency"] == "usd"
    assert item["recurring_interval"] == "month"
    assert item["recurring_usage_type"] == "licensed"
    assert json.loads(item["raw"]) == subscription["items"]["data"][0]
    assert rows["discounts"] == []


def test_subscription_items_keep_their_order() -> None:
    subscription = load("subscription")
    second = copy.deepcopy(subscription["items"]["data"][0])
    second.update(id="si_second", quantity=4)
    subscription["items"]["data"].append(second)
    items = project("subscriptions", subscription, CTX)["subscription_items"]
    assert [(i["id"], i["position"], i["quantity"]) for i in items] == [
        ("si_QXhVnC2h0Jczwc", 0, 1),
        ("si_second", 1, 4),
    ]


def test_subscription_discounts_are_extracted_with_their_coupon() -> None:
    subscription = load("subscription")
    sub_id = subscription["id"]
    subscription["discounts"] = [
        expanded_discount(id="di_sub", subscription=sub_id),
        "di_not_expanded",
    ]
    item_discount = load("discount")
    item_discount.update(id="di_item", subscription=None, subscription_item="si_QXhVnC2h0Jczwc")
    item_discount["source"]["coupon"] = "Z4OV52SU"  # left as an id
    subscription["items"]["data"][0]["discounts"] = [item_discount]

    discounts = by_id(project("subscriptions", subscription, CTX)["discounts"])
    assert set(discounts) == {"di_sub", "di_item"}
    sub_discount = discounts["di_sub"]
    assert sub_discount["subscription"] == sub_id
    assert sub_discount["customer"] == "cus_QXg1o8vcGmoR32"
    assert sub_discount["coupon"] == "Z4OV52SU"
    assert sub_discount["percent_off"] == 25.5
    assert sub_discount["duration"] == "forever"
    assert sub_discount["duration_in_months"] == 3
    assert (sub_discount["start"], sub_discount["end"]) == (1234567890, 1234567890)
    assert sub_discount["synced_at"] == CTX.synced_at
    item_row = discounts["di_item"]
    assert item_row["subscription_item"] == "si_QXhVnC2h0Jczwc"
    # An item's discounts are its own: their subscription is the item's, even when null.
    assert item_row["subscription"] == sub_id
    assert item_row["customer"] == "cus_QXg1o8vcGmoR32"
    assert item_row["coupon"] == "Z4OV52SU"
    assert item_row["percent_off"] is None  # coupon not expanded: no snapshot


def test_an_item_discount_expanded_with_its_coupon_is_a_row_of_its_item_subscription_and_customer() -> None:
    # As ``expand[]=data.items.data.discounts`` lists it: Stripe leaves ``subscription``
    # null on a discount applied to one item.
    subscription = load("subscription")
    item = subscription["items"]["data"][0]
    item["discounts"] = [expanded_discount(id="di_item", customer=None, subscription=None, subscription_item=item["id"])]
    row = one(project("subscriptions", subscription, CTX)["discounts"])
    assert (row["id"], row["subscription_item"], row["subscription"]) == ("di_item", item["id"], subscription["id"])
    assert row["customer"] == "cus_QXg1o8vcGmoR32"
    assert (row["coupon"], row["percent_off"], row["duration"]) == ("Z4OV52SU", 25.5, "forever")
    assert json.loads(row["raw"])["source"]["coupon"]["id"] == "Z4OV52SU"  # the coupon kept whole


def test_a_line_discount_from_the_lines_endpoint_keeps_its_own_links() -> None:
    # ``/v1/invoices/{id}/lines`` with ``expand[]=data.discounts``: a line lists every
    # discount that applied to it, the subscription's too, so nothing is forced on it.
    line = load("line_item")
    line["discounts"] = [expanded_discount(id="di_sub", subscription="sub_1", invoice=None)]
    row = one(project_child("invoice_lines", "in_parent", line, 12, CTX)["discounts"])
    assert (row["subscription"], row["subscription_item"], row["invoice"]) == ("sub_1", None, None)
    assert row["percent_off"] == 25.5


def test_accounts_v2_subscription_and_invoice_belong_to_their_customer_account() -> None:
    subscription = load("subscription")
    subscription.update(customer=None, customer_account="acct_1Billed")
    subscription["discounts"] = [expanded_discount(id="di_acct", customer=None, subscription=subscription["id"])]
    rows = project("subscriptions", subscription, CTX)
    assert one(rows["subscriptions"])["customer"] == "acct_1Billed"
    assert one(rows["discounts"])["customer"] == "acct_1Billed"
    invoice = load("invoice")
    invoice.update(customer=None, customer_account="acct_1Billed")
    assert one(project("invoices", invoice, CTX)["invoices"])["customer"] == "acct_1Billed"
    item = load("invoiceitem")
    item.update(customer=None, customer_account="acct_1Billed")
    assert one(project("invoice_items", item, CTX)["invoice_items"])["customer"] == "acct_1Billed"


def test_a_subscription_mixing_intervals_shows_the_period_of_its_next_billed_item() -> None:
    # Flexible billing mode: a yearly item listed first, a monthly one billed sooner.
    subscription = load("subscription")
    yearly = subscription["items"]["data"][0]
    yearly.update(current_period_start=1_700_000_000, current_period_end=1_731_536_000)
    monthly = copy.deepcopy(yearly)
    monthly.update(id="si_monthly", current_period_start=1_702_000_000, current_period_end=1_704_678_400)
    subscription["items"]["data"].append(monthly)
    row = one(project("subscriptions", subscription, CTX)["subscriptions"])
    assert (row["current_period_start"], row["current_period_end"]) == (1_702_000_000, 1_704_678_400)


def test_discount_links_are_filled_only_when_the_field_is_absent() -> None:
    subscription = load("subscription")
    old_style = {"id": "di_old", "object": "discount", "coupon": load("coupon"), "start": 1}
    subscription["discounts"] = [old_style]
    row = one(project("subscriptions", subscription, CTX)["discounts"])
    assert row["subscription"] == subscription["id"]
    assert row["customer"] == "cus_QXg1o8vcGmoR32"
    assert row["invoice"] is None


def test_subscription_legacy_shape() -> None:
    rows = project("subscriptions", load("subscription_legacy"), CTX)
    row = one(rows["subscriptions"])
    assert row["current_period_start"] == 1717200000
    assert row["current_period_end"] == 1719792000
    assert row["pause_behavior"] is None
    assert row["cancellation_reason"] is None
    item = one(rows["subscription_items"])
    assert item["price"] == "plan_legacy_pro"  # a plan where no price exists
    assert item["product"] == "prod_legacy_pro"
    assert item["unit_amount"] == 2000
    assert item["recurring_interval"] == "year"
    assert item["quantity"] == 3
    assert item["current_period_start"] is None
    discount = one(rows["discounts"])
    assert discount["id"] == "di_legacy_sub"
    assert discount["coupon"] == "TENOFF"
    assert discount["percent_off"] == 10.0
    assert discount["duration"] == "repeating"
    assert discount["duration_in_months"] == 6


def test_subscription_item_fetched_from_its_list_endpoint() -> None:
    item = load("subscription_item")
    item["discounts"] = [expanded_discount(id="di_si", subscription_item=item["id"])]
    rows = project_child("subscription_items", "sub_parent", item, 3, CTX)
    row = one(rows["subscription_items"])
    assert row["subscription"] == "sub_parent"
    assert row["position"] == 3
    assert row["price"] == "price_1PgafmB7WZ01zgkW6dKueIc5"
    assert one(rows["discounts"])["subscription_item"] == "si_QXhVBoJ7NQdNXh"


# ---- invoices -----------------------------------------------------------------------------


def test_invoice_current_shape() -> None:
    rows = project("invoices", load("invoice"), CTX)
    row = one(rows["invoices"])
    assert row["subscription"] == "subscription"  # parent.subscription_details.subscription
    assert row["customer"] == "cus_QXg1o8vcGmoR32"
    assert row["status"] == "draft"
    assert row["billing_reason"] == "manual"
    assert (row["amount_due"], row["amount_paid"], row["amount_remaining"]) == (1000, 0, 1000)
    assert (row["subtotal"], row["total"], row["total_excluding_tax"]) == (1000, 1000, 1000)
    assert row["total_discount"] == 0
    assert row["tax"] == 0  # no total_taxes: total minus total excluding tax
    assert row["finalized_at"] is None and row["paid_at"] is None
    assert row["attempt_count"] == 0 and row["attempted"] is False
    assert row["payment_intent"] is None and row["charge"] is None

    line = one(rows["invoice_lines"])
    assert line["id"] == "il_1Pgc6sB7WZ01zgkWFnxLrLCq"
    assert line["invoice"] == "in_1Pgc6tB7WZ01zgkWu9fdqL6I"
    assert line["position"] == 0
    assert line["amount"] == 1000
    assert line["line_type"] == "invoiceitem"  # parent.type picks invoice_item_details
    assert line["invoice_item"] == "invoice_item"
    assert line["proration"] is True
    assert line["subscription"] is None
    assert line["subscription_item"] is None
    assert (line["period_start"], line["period_end"]) == (1721954054, 1721954054)
    assert line["discount_amount"] == 0
    assert line["tax_amount"] is None
    assert line["price"] is None  # pricing without price_details


def test_invoice_current_subscription_line_with_price_details_and_taxes() -> None:
    invoice = load("invoice")
    invoice["total_taxes"] = [{"amount": 190, "tax_behavior": "exclusive"}, {"amount": 10}]
    line = invoice["lines"]["data"][0]
    line["parent"]["type"] = "subscription_item_details"
    line["parent"]["subscription_item_details"]["proration"] = False
    line["pricing"]["price_details"] = {"price": "price_A", "product": "prod_A"}
    line["taxes"] = [{"amount": 190, "type": "tax_rate_details"}]
    line["discount_amounts"] = [
        {"amount": 150, "discount": "di_1"},
        {"amount": 50, "discount": "di_2"},
    ]
    rows = project("invoices", invoice, CTX)
    assert one(rows["invoices"])["tax"] == 200
    row = one(rows["invoice_lines"])
    assert row["line_type"] == "subscription"
    assert row["proration"] is False  # a real False is not skipped for the legacy field
    assert row["subscription"] == "subscription"
    assert row["subscription_item"] == "subscription_item"
    assert row["invoice_item"] is None
    assert (row["price"], row["product"]) == ("price_A", "prod_A")
    assert row["tax_amount"] == 190
    assert row["discount_amount"] == 200


def test_invoice_legacy_shape() -> None:
    rows = project("invoices", load("invoice_legacy"), CTX)
    row = one(rows["invoices"])
    assert row["subscription"] == "sub_legacy001"
    assert row["customer"] == "cus_legacy001"  # expanded customer
    assert row["tax"] == 342
    assert row["total_discount"] == 200
    assert row["payment_intent"] == "pi_legacy001"
    assert row["charge"] == "ch_legacy001"
    assert row["finalized_at"] == 1717203600
    assert row["paid_at"] == 1717207200

    lines = rows["invoice_lines"]
    assert [(line["id"], line["position"]) for line in lines] == [
        ("il_legacy001", 0),
        ("il_legacy002", 1),
    ]
    first, second = lines
    assert first["line_type"] == "subscription"
    assert (first["price"], first["product"]) == ("price_legacy_pro", "prod_legacy_pro")
    assert first["proration"] is False
    assert first["subscription"] == "sub_legacy001"
    assert first["subscription_item"] == "si_legacy001"
    assert first["tax_amount"] == 342
    assert first["discount_amount"] == 200
    assert second["line_type"] == "invoiceitem"
    assert second["price"] == "price_legacy_basic"  # price given as an id
    assert second["product"] is None
    assert second["proration"] is True
    assert second["invoice_item"] == "ii_legacy002"
    assert second["tax_amount"] == 0

    discount = one(rows["discounts"])  # the single legacy ``discount``, listed once
    assert discount["id"] == "di_legacy_sub"
    assert discount["subscription"] == "sub_legacy001"
    assert discount["invoice"] is None
    assert discount["promotion_code"] == "promo_legacy001"
    assert discount["coupon"] == "TENOFF"
    assert discount["percent_off"] == 10.0


def test_invoice_line_discounts_when_expanded() -> None:
    invoice = load("invoice")
    invoice["lines"]["data"][0]["discounts"] = [expanded_discount(id="di_line", invoice=None)]
    invoice["discounts"] = [expanded_discount(id="di_line", invoice=None), "di_other"]
    discounts = project("invoices", invoice, CTX)["discounts"]
    assert [d["id"] for d in discounts] == ["di_line"]  # one row per discount
    assert discounts[0]["coupon"] == "Z4OV52SU"


def test_invoice_line_of_a_later_page() -> None:
    rows = project_child("invoice_lines", "in_parent", load("line_item"), 12, CTX)
    row = one(rows["invoice_lines"])
    assert row["id"] == "il_tmp_1Pgc6sB7WZ01zgkWrG16hkdl"
    assert row["invoice"] == "in_parent"
    assert row["position"] == 12
    assert rows["discounts"] == []


def test_invoice_item_current_and_legacy() -> None:
    item = load("invoiceitem")
    item["pricing"]["price_details"] = {"price": "price_B", "product": "prod_B"}
    row = one(project("invoice_items", item, CTX)["invoice_items"])
    assert row["customer"] == "cus_QXg1o8vcGmoR32"
    assert row["subscription"] == "subscription"
    assert (row["price"], row["product"]) == ("price_B", "prod_B")
    assert row["proration"] is False
    assert row["amount"] == 1000
    assert row["date"] == 1234567890
    assert (row["period_start"], row["period_end"]) == (1721954054, 1721954054)

    legacy = load("invoiceitem")
    del legacy["parent"], legacy["pricing"]
    legacy.update(
        price=load("price"),
        subscription="sub_legacy001",
        subscription_item="si_legacy001",
        invoice={"id": "in_legacy001", "object": "invoice"},
    )
    row = one(project("invoice_items", legacy, CTX)["invoice_items"])
    assert row["subscription"] == "sub_legacy001"
    assert row["subscription_item"] == "si_legacy001"
    assert (row["price"], row["product"]) == (
        "price_1PgafmB7WZ01zgkW6dKueIc5",
        "prod_QXg1hqf4jFNsqG",
    )
    assert row["invoice"] == "in_legacy001"


def test_invoice_payment_links_invoice_to_payment_intent() -> None:
    payment = load("invoice_payment")
    row = one(project("invoice_payments", payment, CTX)["invoice_payments"])
    assert row["invoice"] == "invoice"
    assert row["payment_type"] == "payment_intent"
    assert row["payment_intent"] is None
    assert row["amount_requested"] == 1112626247
    assert row["amount_paid"] is None
    assert row["is_default"] is True
    payment["payment"]["payment_intent"] = {"id": "pi_1", "object": "payment_intent"}
    payment["status_transitions"]["paid_at"] = 1700000000
    row = one(project("invoice_payments", payment, CTX)["invoice_payments"])
    assert row["payment_intent"] == "pi_1"
    assert row["paid_at"] == 1700000000


# ---- money movements ----------------------------------------------------------------------


def test_charge_current_with_expanded_balance_transaction() -> None:
    charge = load("charge")
    row = one(project("charges", charge, CTX)["charges"])
    assert row["balance_transaction"] == "txn_1PgaxNB7WZ01zgkWEV3TLf40"
    assert row["exchange_rate"] is None and row["bt_currency"] is None
    assert row["invoice"] is None
    assert (row["amount"], row["amount_captured"], row["amount_refunded"]) == (100, 0, 0)
    assert (row["status"], row["paid"], row["refunded"], row["disputed"]) == (
        "succeeded",
        True,
        False,
        False,
    )

    charge["balance_transaction"] = load("balance_transaction")
    row = one(project("charges", charge, CTX)["charges"])
    assert row["balance_transaction"] == "txn_1PgaxNB7WZ01zgkWEV3TLf40"
    assert row["bt_currency"] == "usd"
    assert row["exchange_rate"] is None  # same currency: Stripe gives no rate


def test_charge_legacy_shape() -> None:
    row = one(project("charges", load("charge_legacy"), CTX)["charges"])
    assert row["invoice"] == "in_legacy001"
    assert row["payment_intent"] == "pi_legacy001"
    assert row["customer"] == "cus_legacy001"
    assert row["exchange_rate"] == 1.08
    assert row["bt_currency"] == "usd"
    assert row["currency"] == "eur"


def test_refund_and_dispute() -> None:
    refund = one(project("refunds", load("refund"), CTX)["refunds"])
    assert (refund["charge"], refund["amount"], refund["status"]) == (
        "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        100,
        "succeeded",
    )
    assert refund["reason"] is None
    dispute = one(project("disputes", load("dispute"), CTX)["disputes"])
    assert dispute["charge"] == "ch_1PgafuB7WZ01zgkWXYmPNZs8"
    assert (dispute["amount"], dispute["reason"], dispute["status"]) == (
        1000,
        "general",
        "warning_needs_response",
    )


def test_credit_note_and_its_lines() -> None:
    rows = project("credit_notes", load("credit_note"), CTX)
    note = one(rows["credit_notes"])
    assert note["invoice"] == "in_1Pgc75B7WZ01zgkWYv4iMwt7"
    assert note["customer"] == "cus_QXg1o8vcGmoR32"
    assert (note["amount"], note["subtotal"], note["total"]) == (1690, 1690, 1690)
    assert (note["status"], note["type"], note["reason"]) == ("issued", "pre_payment", None)
    assert note["effective_at"] == 1234567890
    lines = rows["credit_note_lines"]
    assert [(x["id"], x["position"], x["credit_note"]) for x in lines] == [
        ("cnli_1Pgc75B7WZ01zgkWla6u0GdZ", 0, "cn_1Pgc75B7WZ01zgkWJMPt5riP"),
        ("cnli_1Pgc75B7WZ01zgkW9m0EaOVh", 1, "cn_1Pgc75B7WZ01zgkWJMPt5riP"),
    ]
    assert lines[0]["invoice_line_item"] == "il_1Pgc74B7WZ01zgkWWh45tUBA"
    assert (lines[0]["amount"], lines[0]["type"], lines[0]["discount_amount"]) == (
        1190,
        "invoice_line_item",
        0,
    )
    assert (lines[1]["type"], lines[1]["unit_amount"], lines[1]["invoice_line_item"]) == (
        "custom_line_item",
        500,
        None,
    )

    child = one(
        project_child("credit_note_lines", "cn_x", load("credit_note_line_item"), 5, CTX)[
            "credit_note_lines"
        ]
    )
    assert (child["credit_note"], child["position"], child["amount"]) == ("cn_x", 5, 1000)


# ---- events --------------------------------------------------------------------------------


def test_event_current_and_legacy() -> None:
    rows = project("events", load("event"), CTX)
    assert set(rows) == {"events"}
    row = one(rows["events"])
    assert row["type"] == "plan.created"
    assert (row["object_type"], row["object_id"]) == ("plan", "price_1PgafmB7WZ01zgkW6dKueIc5")
    assert row["event_api_version"] is None
    assert row["request_id"] is None
    assert row["api_version"] == CTX.api_version

    legacy = one(project("events", load("event_legacy"), CTX)["events"])
    assert legacy["request_id"] == "req_legacy001"  # a bare id in old versions
    assert legacy["event_api_version"] == "2017-08-15"
    assert (legacy["object_type"], legacy["object_id"]) == ("customer", "cus_legacy001")


# ---- merging a page -----------------------------------------------------------------------


def test_merge_rows_keeps_one_row_per_key_the_newest() -> None:
    invoice_a = load("invoice_legacy")
    invoice_b = load("invoice_legacy")
    invoice_b["id"] = "in_legacy_b"
    invoice_b["lines"]["data"] = []
    newer = RowContext("acct_1", False, CTX.api_version, CTX.synced_at + 60)
    merged = merge_rows(
        [project("invoices", invoice_a, newer), project("invoices", invoice_b, CTX)]
    )
    assert sorted(r["id"] for r in merged["invoices"]) == ["in_legacy001", "in_legacy_b"]
    discount = one(merged["discounts"])  # the subscription's discount on both invoices
    assert discount["synced_at"] == newer.synced_at
    assert len(merged["invoice_lines"]) == 2


# ---- rows fit the tables exactly ------------------------------------------------------------


def one_row_per_table() -> dict[str, dict[str, Any]]:
    """A projected row for every object table, from the example objects."""
    subscription = load("subscription")
    subscription["discounts"] = [expanded_discount(id="di_sub")]
    parts = [
        project("customers", load("customer"), CTX),
        project("products", load("product"), CTX),
        project("prices", load("price"), CTX),
        project("coupons", load("coupon"), CTX),
        project("promotion_codes", load("promotion_code"), CTX),
        project("subscriptions", subscription, CTX),
        project("invoices", load("invoice"), CTX),
        project("invoice_items", load("invoiceitem"), CTX),
        project("invoice_payments", load("invoice_payment"), CTX),
        project("charges", load("charge_legacy"), CTX),
        project("refunds", load("refund"), CTX),
        project("credit_notes", load("credit_note"), CTX),
        project("disputes", load("dispute"), CTX),
        project("events", load("event"), CTX),
    ]
    merged = merge_rows(parts)
    return {table: rows[0] for table, rows in merged.items() if rows}


def test_every_table_gets_rows_with_exactly_its_columns() -> None:
    rows = one_row_per_table()
    assert set(rows) == set(OBJECT_TABLES)
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[m.__table__ for m in OBJECT_TABLES.values()])  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for name, model in OBJECT_TABLES.items():
            table = model.__table__  # type: ignore[attr-defined]
            row = rows[name]
            # ``changed`` is the store's to number, not the projection's to fill.
            assert set(row) == set(table.columns.keys()) - set(CHANGE_COLUMNS), name
            assert set(row) >= COMMON
            conn.execute(insert(table), [row])
            stored = conn.execute(select(table)).mappings().one()
            assert dict(stored) == {**row, **dict.fromkeys(CHANGE_COLUMNS)}, name


def test_every_projected_row_has_every_column_of_its_table() -> None:
    rows = project("invoices", load("invoice_legacy"), CTX)
    for name, batch in rows.items():
        columns = set(OBJECT_TABLES[name].__table__.columns.keys()) - set(CHANGE_COLUMNS)  # type: ignore[attr-defined]
        for row in batch:
            assert set(row) == columns, name


def test_merge_rows_keeps_a_discounts_expanded_coupon_over_a_copy_naming_it_by_id() -> None:
    expanded = one(project("customers", load("customer") | {"discount": expanded_discount(id="di_1")}, CTX)["discounts"])
    by_id = dict(expanded, percent_off=None, amount_off=None, duration=None, raw='{"id":"di_1"}', end=99)
    (row,) = merge_rows([{"discounts": [expanded]}, {"discounts": [by_id]}])["discounts"]
    assert (row["percent_off"], row["duration"], row["end"]) == (25.5, "forever", 99)
    assert json.loads(row["raw"])["source"]["coupon"]["id"] == "Z4OV52SU"
