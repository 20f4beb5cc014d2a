"""The generator makes the setups of real accounts (issue 17), shaped as Stripe's API,
each with its truth as METRICS.md says.

Scripted customers 27-41 (``generator/scripted.py``) hold one of each at fixed times:
their MRR is computed here by hand, month by month, from the catalogue's prices.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator import (
    DAY,
    FLEXIBLE_DEFAULT_SINCE,
    FLEXIBLE_SINCE,
    ITEM_TRIAL,
    Account,
    generate_account,
    month_floor,
    truth_mrr,
)

NOW = int(datetime(2026, 7, 15, 12, tzinfo=UTC).timestamp())
MONTHS = 24
START = month_floor(add_months(NOW, -MONTHS))
# Prices of the catalogue (minor units a period).
PRO_M, SEAT_M, BUSINESS_M, STARTER_M, PLATFORM_Y = 9900, 1500, 29900, 2900, 120000

JSON = dict[str, Any]


def at(fraction: float, start: int = START, now: int = NOW) -> int:
    """The generator's scripted instant ``fraction`` of the way through the window."""
    return start + int((now - start) * fraction)


MONTH_STARTS = [add_months(month_floor(NOW), -k) for k in range(MONTHS, -1, -1)]


@pytest.fixture(scope="module")
def acct() -> Account:
    return generate_account(customers=300, seed=1, now=NOW)


@pytest.fixture(scope="module")
def recent() -> Account:
    """A one-month account: the scripted setups' events fall inside Stripe's 30 days."""
    return generate_account(customers=42, seed=1, now=NOW, months=1)


def customer(acct: Account, index: int) -> JSON:
    """Scripted customer ``index`` (deleted ones too)."""
    everyone = [*acct.customers, *acct.deleted.get("customers", {}).values()]
    return next(c for c in everyone if c["email"].startswith(f"billing+{index}@"))


def subscription_of(acct: Account, customer_id: str) -> JSON:
    subs = [s for s in acct.subscriptions if (s["customer"] or s["customer_account"]) == customer_id]
    assert len(subs) == 1
    return subs[0]


def invoices_of(acct: Account, customer_id: str) -> list[JSON]:
    return [i for i in acct.invoices if (i["customer"] or i["customer_account"]) == customer_id]


def assert_truth(acct: Account, customer_id: str, expected: Any) -> None:
    """The truth at every month start (and now) equals ``expected(t)``."""
    for t in [*MONTH_STARTS, NOW]:
        assert truth_mrr(acct, customer_id, t) == expected(t), datetime.fromtimestamp(t, UTC)


# ---- 1. flexible billing mode, mixed intervals ---------------------------------------


def test_most_subscriptions_created_since_flexible_became_the_default_are_flexible(
    acct: Account,
) -> None:
    recent = [s for s in acct.subscriptions if s["created"] >= FLEXIBLE_DEFAULT_SINCE]
    flexible = [s for s in recent if s["billing_mode"]["type"] == "flexible"]
    assert len(recent) > 20 and len(flexible) / len(recent) > 0.75
    for s in flexible:
        assert s["billing_mode"] == {"flexible": {"proration_discounts": "included"},
                                     "type": "flexible", "updated_at": s["created"]}
    old = [s for s in acct.subscriptions if s["created"] < FLEXIBLE_SINCE]
    migrated = [s for s in old if s["billing_mode"]["type"] == "flexible"]
    assert all(s["billing_mode"]["updated_at"] >= FLEXIBLE_SINCE for s in migrated)
    classic = [s for s in old if s["billing_mode"]["type"] == "classic"]
    assert len(classic) > 100
    assert classic[0]["billing_mode"] == {"flexible": None, "type": "classic", "updated_at": None}


def test_a_yearly_fee_on_a_monthly_plan_keeps_its_own_period_and_invoices(acct: Account) -> None:
    cus = customer(acct, 27)
    sub = subscription_of(acct, cus["id"])
    added = max(at(0.3), FLEXIBLE_SINCE + 5 * DAY)
    assert sub["billing_mode"] == {"flexible": {"proration_discounts": "included"},
                                   "type": "flexible", "updated_at": added}
    seats, fee = sub["items"]["data"][1], sub["items"]["data"][2]
    assert fee["price"]["recurring"]["interval"] == "year"
    assert (fee["current_period_start"], fee["current_period_end"]) == (
        add_months(added, 12), add_months(added, 24))
    assert seats["current_period_end"] - seats["current_period_start"] < 32 * DAY
    fee_invoices: list[JSON] = []
    monthly_invoices: list[JSON] = []
    for inv in invoices_of(acct, cus["id"]):
        items = {ln["parent"]["subscription_item_details"]["subscription_item"]
                 for ln in inv["lines"]["data"]}
        (fee_invoices if fee["id"] in items else monthly_invoices).append(inv)
    # The fee is billed when added and once a year after, each time on an invoice of its own.
    assert [(i["billing_reason"], i["created"], len(i["lines"]["data"])) for i in fee_invoices] == [
        ("subscription_update", added, 1), ("subscription_cycle", add_months(added, 12), 1)]
    assert fee_invoices[0]["lines"]["data"][0]["amount"] == PLATFORM_Y
    renewals = [k for k in range(MONTHS) if add_months(cus["created"], k) <= NOW]
    assert [i["created"] for i in monthly_invoices] == [add_months(cus["created"], k)
                                                         for k in renewals]
    # Truth: the yearly item counts 1200.00 / 12 every month, invoiced or not.
    assert_truth(acct, cus["id"], lambda t: 0 if t < cus["created"] else (
        PRO_M + 5 * SEAT_M + (PLATFORM_Y // 12 if t >= added else 0)))


def test_several_subscriptions_mix_a_monthly_and_a_yearly_item(acct: Account) -> None:
    mixed = [s for s in acct.subscriptions
             if len({i["price"]["recurring"]["interval"] for i in s["items"]["data"]}) > 1]
    assert len(mixed) >= 3
    assert all(s["billing_mode"]["type"] == "flexible" for s in mixed)


# ---- 2. item-level discounts -----------------------------------------------------------


def test_an_item_discount_reduces_only_that_item(acct: Account) -> None:
    cus = customer(acct, 28)
    sub = subscription_of(acct, cus["id"])
    plan, seats = sub["items"]["data"]
    assert plan["discounts"] == [] and sub["discounts"] == []
    (di,) = seats["discounts"]
    disc = acct.discounts[di]
    assert disc["subscription"] == sub["id"] and disc["subscription_item"] == seats["id"]
    assert disc["customer"] == cus["id"] and disc["source"] == {"coupon": "SEATS10",
                                                                "type": "coupon"}
    for inv in invoices_of(acct, cus["id"]):
        plan_line, seat_line = inv["lines"]["data"]
        assert (plan_line["discounts"], plan_line["discount_amounts"]) == ([], [])
        assert seat_line["discounts"] == [di]
        assert seat_line["discount_amounts"] == [{"amount": 1500, "discount": di}]
        assert inv["discounts"] == [] and inv["total"] == PRO_M + 10 * SEAT_M - 1500
    assert_truth(acct, cus["id"], lambda t: 0 if t < cus["created"] else PRO_M + 13500)
    item_level = [d for d in acct.discounts.values() if d["subscription_item"]]
    assert len(item_level) >= 3


def test_an_amount_off_on_an_add_on_lowers_it_for_the_coupons_months(acct: Account) -> None:
    discounts = [d for d in acct.discounts.values() if d["source"]["coupon"] == "ADDON5"]
    assert discounts
    for d in discounts:
        assert d["end"] == add_months(d["start"], 6)
        ends = [c for c in acct.timeline
                if c.item == d["subscription_item"] and c.kind == "discount_end"]
        if d["end"] <= NOW:  # 5.00 a month off the add-on (a monthly item) until then
            assert [(c.time, c.new_mrr - c.old_mrr) for c in ends] == [(d["end"], 500)]
        lines = [ln for inv in acct.invoices for ln in inv["lines"]["data"]
                 if d["id"] in ln["discounts"]]
        assert lines and all(ln["discount_amounts"] == [{"amount": 500, "discount": d["id"]}]
                             for ln in lines if ln["amount"] > 0
                             and not ln["parent"]["subscription_item_details"]["proration"])


# ---- 3. customer-level discounts -------------------------------------------------------


def test_a_customer_discount_applies_until_it_is_removed(acct: Account) -> None:
    cus = customer(acct, 29)
    removed = at(0.7)
    assert cus["discount"] is None  # removed before now
    (disc,) = [d for d in acct.discounts.values()
               if d["customer"] == cus["id"] and d["subscription"] is None]
    assert (disc["start"], disc["end"], disc["subscription_item"]) == (cus["created"], None, None)
    sub = subscription_of(acct, cus["id"])
    assert sub["discounts"] == []
    for inv in invoices_of(acct, cus["id"]):
        applies = inv["created"] < removed
        assert inv["discounts"] == ([disc["id"]] if applies else [])
        assert inv["total_discount_amounts"] == (
            [{"amount": 2990, "discount": disc["id"]}] if applies else [])
    assert_truth(acct, cus["id"], lambda t: 0 if t < cus["created"] else (
        BUSINESS_M - 2990 if t < removed else BUSINESS_M))


def test_a_repeating_customer_discount_ends_after_its_months(acct: Account) -> None:
    cus = customer(acct, 41)
    start = at(0.3)
    assert_truth(acct, cus["id"], lambda t: 0 if t < cus["created"] else (
        PRO_M * 3 // 4 if start <= t < add_months(start, 6) else PRO_M))
    customer_level = [d for d in acct.discounts.values()
                      if d["subscription"] is None and d["invoice"] is None]
    assert len(customer_level) >= 5
    assert sum(c["discount"] is not None for c in acct.customers) >= 2


def test_customer_discounts_send_their_events(recent: Account) -> None:
    cus = customer(recent, 29)
    types = [e["type"] for e in recent.events if e["data"]["object"].get("customer") == cus["id"]
             or e["data"]["object"]["id"] == cus["id"]]
    assert "customer.discount.deleted" in types
    updated = [e for e in recent.events if e["type"] == "customer.updated"
               and e["data"]["object"]["id"] == cus["id"]]
    assert updated[-1]["data"]["object"]["discount"] is None
    assert updated[-1]["data"]["previous_attributes"]["discount"]["source"]["coupon"] == "LOYAL10"


# ---- 4. a coupon deleted after use -----------------------------------------------------


def test_a_deleted_coupon_keeps_discounting(acct: Account, recent: Account) -> None:
    assert "FOUNDERS25" in acct.deleted["coupons"]
    assert all(c["id"] != "FOUNDERS25" for c in acct.coupons)
    promo = next(p for p in acct.promotion_codes if p["code"] == "FOUNDERS25")
    assert promo["active"] is False
    cus = customer(acct, 40)
    sub = subscription_of(acct, cus["id"])
    assert acct.discounts[sub["discounts"][0]]["source"]["coupon"] == "FOUNDERS25"
    assert_truth(acct, cus["id"], lambda t: 0 if t < cus["created"] else PRO_M * 3 // 4)
    assert [e["data"]["object"]["id"] for e in recent.events if e["type"] == "coupon.deleted"] == [
        "FOUNDERS25"]


# ---- 5. item trials ----------------------------------------------------------------------


def test_an_add_on_in_its_own_trial_counts_nothing_yet(acct: Account) -> None:
    cus = customer(acct, 30)
    sub = subscription_of(acct, cus["id"])
    assert sub["status"] == "active" and sub["trial_end"] is None
    plan, addon = sub["items"]["data"]
    assert plan["current_trial"] is None
    trial = addon["current_trial"]
    assert set(trial) == {"end_date", "start_date", "trial_offer"}
    assert (trial["start_date"], trial["end_date"]) == (NOW - 5 * DAY, NOW - 5 * DAY + ITEM_TRIAL)
    assert trial["trial_offer"].startswith("to_")
    assert sub["billing_mode"]["type"] == "flexible"
    assert truth_mrr(acct, cus["id"], NOW) == PRO_M


def test_ended_item_trials_start_counting_when_they_end(acct: Account) -> None:
    items = {i["id"]: i for s in acct.subscriptions if s["trial_end"] is None
             for i in s["items"]["data"]}
    ends = [c for c in acct.timeline if c.kind == "trial_end" and c.item in items
            and c.new_mrr > 0]
    assert len(ends) >= 2
    for c in ends:  # an add-on: nothing from when it was added, its price 14 days later
        assert c.time - items[c.item]["created"] == ITEM_TRIAL
        assert next(a for a in acct.timeline if a.item == c.item) is c
        assert items[c.item]["current_trial"] is None  # over


# ---- 6. statuses and pauses --------------------------------------------------------------


def test_a_trial_ending_without_a_payment_method_pauses(acct: Account) -> None:
    cus = customer(acct, 32)
    sub = subscription_of(acct, cus["id"])
    assert (sub["status"], sub["pause_collection"]) == ("paused", None)
    assert sub["trial_settings"] == {"end_behavior": {"missing_payment_method": "pause"}}
    assert sub["default_payment_method"] is None
    assert cus["invoice_settings"]["default_payment_method"] is None
    assert [i["amount_due"] for i in invoices_of(acct, cus["id"])] == [0]  # the trial's only
    assert_truth(acct, cus["id"], lambda t: 0)
    assert sum(s["status"] == "paused" for s in acct.subscriptions) >= 2


def test_a_paused_subscription_resumes_with_a_new_period(acct: Account) -> None:
    cus = customer(acct, 31)
    sub = subscription_of(acct, cus["id"])
    resumed = at(0.7)
    assert sub["status"] == "active" and sub["billing_cycle_anchor"] == resumed
    assert cus["invoice_settings"]["default_payment_method"] is not None
    assert_truth(acct, cus["id"], lambda t: PRO_M if t >= resumed else 0)


def test_an_unpaid_subscription_churned_involuntarily_and_keeps_drafts(acct: Account) -> None:
    cus = customer(acct, 33)
    sub = subscription_of(acct, cus["id"])
    assert sub["status"] == "unpaid" and cus["delinquent"] is True
    (change,) = [c for c in acct.timeline if c.customer == cus["id"] and c.kind == "churn_unpaid"]
    failed = next(i for i in invoices_of(acct, cus["id"]) if i["attempt_count"] == 4)
    assert (failed["status"], failed["next_payment_attempt"]) == ("open", None)
    assert change.time == failed["created"] + 15 * DAY + 2 * 3600  # an hour after the last retry
    later = [i for i in invoices_of(acct, cus["id"]) if i["created"] > change.time]
    assert later and all(i["status"] == "draft" and i["auto_advance"] is False
                         and i["automatically_finalizes_at"] is None for i in later)
    assert_truth(acct, cus["id"], lambda t: 0 if t < cus["created"] or t >= change.time else PRO_M)
    assert sum(s["status"] == "unpaid" for s in acct.subscriptions) >= 3


@pytest.mark.parametrize(
    ("index", "behavior", "status"),
    [(3, "void", "void"), (34, "keep_as_draft", "draft"),
     (35, "mark_uncollectible", "uncollectible")],
)
def test_invoices_billed_while_paused_follow_the_behavior(
    acct: Account, index: int, behavior: str, status: str
) -> None:
    cus = customer(acct, index)
    paused = [c for c in acct.timeline if c.customer == cus["id"] and c.kind == "pause"]
    assert paused
    billed = [i for i in invoices_of(acct, cus["id"]) if i["status"] not in ("paid",)]
    assert billed and all(i["status"] == status and i["auto_advance"] is False for i in billed)
    if status == "draft":
        assert all(i["number"] is None and i["automatically_finalizes_at"] is None for i in billed)
    if status == "uncollectible":
        assert all(i["status_transitions"]["marked_uncollectible_at"] for i in billed)
        assert subscription_of(acct, cus["id"])["pause_collection"] == {
            "behavior": behavior, "resumes_at": None}
        # MRR 0 from the first period billed while paused (METRICS.md §1.11)
        assert_truth(acct, cus["id"], lambda t: 0 if t < cus["created"] or t >= paused[0].time
                     else BUSINESS_M)
    assert paused[0].time == min(i["created"] for i in billed)


# ---- 7. decimal quantities --------------------------------------------------------------


def test_every_line_has_a_decimal_quantity_and_some_are_fractional(acct: Account) -> None:
    lines = [ln for inv in acct.invoices for ln in inv["lines"]["data"]]
    assert all(isinstance(ln["quantity_decimal"], str) for ln in lines)
    fractional = [ln for ln in lines if "." in ln["quantity_decimal"]]
    assert len(fractional) > 20
    assert all(ln["quantity"] == int(float(ln["quantity_decimal"])) for ln in lines)
    for ln in fractional:  # consulting at 150.00 an hour, by the quarter hour
        assert ln["amount"] == round(float(ln["quantity_decimal"]) * 15000)
    items = [ii for ii in acct.invoice_items if ii["customer"] == customer(acct, 36)["id"]]
    assert any(ii["quantity_decimal"] != str(ii["quantity"]) for ii in items)


# ---- 8. deleted customers ----------------------------------------------------------------


def test_churned_customers_deleted_later_keep_their_past_mrr(acct: Account,
                                                             recent: Account) -> None:
    deleted = acct.deleted["customers"]
    assert len(deleted) >= 5
    assert not {c["id"] for c in acct.customers} & set(deleted)
    cus = customer(acct, 37)
    assert cus["id"] in deleted
    sub = subscription_of(acct, cus["id"])
    assert (sub["status"], sub["ended_at"]) == ("canceled", at(0.5))
    assert_truth(acct, cus["id"], lambda t: PRO_M if cus["created"] <= t < at(0.5) else 0)
    gone = [e["data"]["object"]["id"] for e in recent.events if e["type"] == "customer.deleted"]
    assert customer(recent, 19)["id"] in gone


# ---- 9. test clocks ------------------------------------------------------------------------


def test_a_few_customers_are_on_test_clocks_in_test_mode(acct: Account) -> None:
    clocks = {c["id"]: c for c in acct.test_clocks}
    assert len(clocks) >= 2
    for clock in clocks.values():
        assert set(clock) == {"id", "object", "created", "deletes_after", "frozen_time",
                              "livemode", "name", "status", "status_details"}
        assert clock["id"].startswith("clock_") and clock["object"] == "test_helpers.test_clock"
        assert (clock["frozen_time"], clock["livemode"], clock["status"],
                clock["status_details"]) == (NOW, False, "ready", {})
        assert clock["created"] < NOW < clock["deletes_after"]
    on_clock = [c for c in acct.customers if c["test_clock"]]
    assert {c["test_clock"] for c in on_clock} == set(clocks)
    assert len(on_clock) < len(acct.customers) / 20
    for cus in on_clock:
        for s in acct.subscriptions:
            assert (s["test_clock"] == cus["test_clock"]) == (s["customer"] == cus["id"])
        assert {i["test_clock"] for i in invoices_of(acct, cus["id"])} == {cus["test_clock"]}
    scripted = customer(acct, 38)
    assert scripted["test_clock"] in clocks


def test_live_mode_has_no_test_clocks() -> None:
    live = generate_account(customers=60, seed=1, now=NOW, livemode=True)
    assert live.test_clocks == []
    assert all(c["test_clock"] is None for c in live.customers)


# ---- 10. Accounts v2 customers ---------------------------------------------------------------


def test_accounts_v2_customers_bill_through_customer_account(acct: Account) -> None:
    v2 = [s for s in acct.subscriptions if s["customer"] is None]
    assert len(v2) >= 2
    customer_ids = {c["id"] for c in acct.customers}
    for s in v2:
        assert s["customer_account"].startswith("acct_")
        assert s["customer_account"] not in customer_ids
        invs = invoices_of(acct, s["customer_account"])
        assert invs and all(i["customer"] is None for i in invs)
    scripted = next(s for s in v2 if s["created"] == at(0.2)
                    and [i["quantity"] for i in s["items"]["data"]] == [1, 3])
    account_id = scripted["customer_account"]
    assert_truth(acct, account_id, lambda t: PRO_M + 3 * SEAT_M if t >= at(0.2) else 0)
    assert Counter(c.customer for c in acct.timeline if c.customer == account_id)


def test_setups_are_deterministic() -> None:
    a = generate_account(customers=60, seed=5, now=NOW)
    b = generate_account(customers=60, seed=5, now=NOW)
    assert a.to_json() == b.to_json()
    assert [c["id"] for c in a.test_clocks] == [c["id"] for c in b.test_clocks]
