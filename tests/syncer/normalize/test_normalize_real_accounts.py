"""Billing setups of real accounts (METRICS.md §1.6, §1.12, §3 rule 0), one rule a test.

Objects are built in Stripe's current shapes (flexible billing mode, item discounts,
``customer.discount``, ``current_trial``, ``customer_account``, ``quantity_decimal``),
and each expected MRR is worked out by hand in the test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from reports.facts import Cause
from reports.fx import FxTable
from reports.metrics import MetricSettings, compute_month
from syncer.normalize.model import line_quantity
from tests.syncer.normalize.builders import (
    CUS,
    DAY,
    JSON,
    T0,
    coupon,
    customer,
    cycle_invoice,
    discount,
    event,
    facts_of,
    invoice,
    item,
    line,
    month,
    mrr_at,
    price,
    subscription,
)

NOW = month(6)
SEATS = price("price_seats", 10000)  # $100 a month
PLATFORM = price("price_platform", 120000, interval="year")  # $1,200 a year: $100 MRR
PRO = price("price_pro", 9900)
ADDON = price("price_addon", 2000)


def _flexible(sub: JSON) -> JSON:
    return dict(sub, billing_mode={"flexible": {"proration_discounts": "included"},
                                   "type": "flexible", "updated_at": T0})


def _mixed_interval_account() -> dict[str, Any]:
    """A monthly seats item and a yearly platform item since T0. Their periods diverge,
    so Stripe bills the yearly item once (on the first invoice) and the monthly renewals
    carry only the seats."""
    sub = _flexible(subscription([item("si_m", SEATS, period=(NOW, month(7))),
                                  item("si_y", PLATFORM, period=(T0, month(12)))]))
    first = invoice("in_0", [
        line("il_0m", 10000, SEATS, item_id="si_m", period=(T0, month(1))),
        line("il_0y", 120000, PLATFORM, item_id="si_y", period=(T0, month(12))),
    ], created=T0, reason="subscription_create")
    renewals = [cycle_invoice(f"in_{k}", month(k), [("si_m", SEATS, 1)]) for k in range(1, 7)]
    return {"subscriptions": [sub], "invoices": [first, *renewals]}


# ---- §1.12 mixed intervals -------------------------------------------------------------------


def test_a_yearly_item_missing_from_the_monthly_renewals_keeps_counting() -> None:
    facts = facts_of(now=NOW, **_mixed_interval_account())
    for k in range(6):
        assert mrr_at(facts, month(k) + DAY) == 20000, k
    assert mrr_at(facts, NOW) == 20000
    # No invented contraction in February, no "new item" at the current state.
    assert [(s.item, s.start, s.end, s.mrr) for s in facts.spans] == [
        ("si_m", T0, None, 10000), ("si_y", T0, None, 10000)]


def test_a_yearly_item_not_renewed_after_its_own_period_ends() -> None:
    account = _mixed_interval_account()
    sub = account["subscriptions"][0]
    sub["items"]["data"] = [i for i in sub["items"]["data"] if i["id"] == "si_m"]
    renewals = [cycle_invoice(f"in_{k}", month(k), [("si_m", SEATS, 1)]) for k in range(7, 14)]
    facts = facts_of(now=month(13), subscriptions=[sub], prices=[SEATS, PLATFORM],
                     invoices=[*account["invoices"], *renewals])
    assert mrr_at(facts, month(11) + DAY) == 20000
    assert mrr_at(facts, month(12) + DAY) == 10000  # ended with its own year
    [yearly] = [s for s in facts.spans if s.item == "si_y"]
    assert yearly.end == month(12)


def test_the_next_period_end_of_a_mixed_subscription_is_its_earliest_item_end() -> None:
    from syncer.normalize.history import current_period_end

    sub = _mixed_interval_account()["subscriptions"][0]
    assert current_period_end(sub) == month(7)


# ---- §1.6 item-level discounts ---------------------------------------------------------------


def _with_item_discount(sub: JSON, item_id: str, discount_id: str) -> JSON:
    items = [dict(i, discounts=[discount_id]) if i["id"] == item_id else i
             for i in sub["items"]["data"]]
    return dict(sub, items=dict(sub["items"], data=items))


def _item_discount(did: str, cid: str, item_id: str, **kw: Any) -> JSON:
    return dict(discount(did, cid, **kw), subscription_item=item_id)


def test_an_item_discount_lowers_only_its_item() -> None:
    sub = _with_item_discount(subscription([item("si_1", PRO), item("si_2", ADDON)]),
                              "si_1", "di_item")
    facts = facts_of(now=NOW, subscriptions=[sub], coupons=[coupon("half", percent=50)],
                     discounts={"di_item": _item_discount("di_item", "half", "si_1")})
    assert mrr_at(facts, T0 + DAY) == 4950 + 2000
    assert {s.item: s.mrr for s in facts.spans} == {"si_1": 4950, "si_2": 2000}


def test_an_item_discount_survives_events_that_list_no_subscription_discount() -> None:
    sub = _with_item_discount(subscription([item("si_1", PRO, 2)]), "si_1", "di_item")
    seats = dict(sub, items=dict(sub["items"], data=[dict(sub["items"]["data"][0], quantity=3)]))
    events = [event("evt_1", "customer.subscription.updated", month(2), seats, {"items": {}})]
    first = cycle_invoice("in_0", T0, [("si_1", PRO, 2)], reason="subscription_create")
    facts = facts_of(now=NOW, subscriptions=[seats], events=events, invoices=[first],
                     coupons=[coupon("half", percent=50)],
                     discounts={"di_item": _item_discount("di_item", "half", "si_1")})
    assert mrr_at(facts, month(1)) == 9900  # 2 × 9,900 × 50 %
    assert mrr_at(facts, month(3)) == 14850  # 3 × 9,900 × 50 %


def test_item_discounts_apply_before_the_subscription_discount() -> None:
    sub = _with_item_discount(subscription([item("si_1", PRO)], discounts=["di_sub"]),
                              "si_1", "di_item")
    discounts = {"di_item": _item_discount("di_item", "half", "si_1"),
                 "di_sub": discount("di_sub", "tenth")}
    facts = facts_of(now=NOW, subscriptions=[sub], discounts=discounts,
                     coupons=[coupon("half", percent=50), coupon("tenth", percent=10)])
    assert mrr_at(facts, T0 + DAY) == 4455  # 9,900 × 0.5, then × 0.9


def test_an_item_amount_off_is_normalised_with_its_own_interval() -> None:
    sub = _with_item_discount(_flexible(subscription([item("si_m", SEATS),
                                                       item("si_y", PLATFORM)])),
                              "si_y", "di_item")
    facts = facts_of(now=NOW, subscriptions=[sub],
                     coupons=[coupon("off", amount=24000)],  # $240 off each yearly invoice
                     discounts={"di_item": _item_discount("di_item", "off", "si_y")})
    assert {s.item: s.mrr for s in facts.spans} == {"si_m": 10000, "si_y": 10000 - 2000}


# ---- §1.6 customer-level discounts -------------------------------------------------------------


def _customer_with_discount(cid: str = "fifth") -> JSON:
    return dict(customer(), discount=discount("di_cus", cid, sub=None))


def test_a_customer_discount_applies_to_a_subscription_without_its_own() -> None:
    sub = subscription([item("si_1", PRO)])
    events = [event("evt_1", "customer.subscription.updated", month(2), sub, {"metadata": {}})]
    facts = facts_of(now=NOW, subscriptions=[sub], events=events,
                     customers=[_customer_with_discount()],
                     coupons=[coupon("fifth", percent=20)],
                     discounts={"di_cus": discount("di_cus", "fifth", sub=None)})
    # Still in force after a subscription event that lists no discount.
    assert [mrr_at(facts, month(k) + DAY) for k in (0, 2, 5)] == [7920, 7920, 7920]


def test_a_customer_discount_gives_way_to_the_subscriptions_own() -> None:
    own = subscription([item("si_1", PRO)], discounts=["di_sub"])
    other = subscription([item("si_2", PRO, sub="sub_2")], sid="sub_2")
    facts = facts_of(now=NOW, subscriptions=[own, other],
                     customers=[_customer_with_discount()],
                     coupons=[coupon("fifth", percent=20), coupon("tenth", percent=10)],
                     discounts={"di_cus": discount("di_cus", "fifth", sub=None),
                                "di_sub": discount("di_sub", "tenth")})
    by_sub = {s.subscription: s.mrr for s in facts.spans}
    assert by_sub == {"sub_1": 8910, "sub_2": 7920}


def test_a_removed_customer_discount_ends_with_the_first_invoice_without_it() -> None:
    sub = subscription([item("si_1", PRO)])
    invoices = [dict(cycle_invoice(f"in_{k}", month(k), [("si_1", PRO, 1)]),
                     discounts=["di_cus"] if k < 3 else []) for k in range(1, 6)]
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=invoices,
                     customers=[customer()],  # the discount is no longer the customer's
                     coupons=[coupon("fifth", percent=20)],
                     discounts={"di_cus": discount("di_cus", "fifth", sub=None)})
    assert mrr_at(facts, month(2) + DAY) == 7920
    assert mrr_at(facts, month(3) + DAY) == 9900


# ---- §1.6 deleted coupons ------------------------------------------------------------------------


def test_a_discount_keeps_applying_after_its_coupon_is_deleted() -> None:
    gone = coupon("gone", percent=50)
    sub = subscription([item("si_1", PRO)], discounts=["di_1"])
    d = dict(discount("di_1", "gone"), source={"coupon": gone, "type": "coupon"})
    facts = facts_of(now=NOW, subscriptions=[sub], coupons=[], discounts={"di_1": d})
    assert mrr_at(facts, T0 + DAY) == 4950


# ---- §1.12 item trials, §1.1 statuses ----------------------------------------------------------


def test_an_item_in_its_own_trial_counts_from_the_trial_end() -> None:
    trial_start, trial_end = month(2), month(2) + 14 * DAY
    addon = dict(item("si_2", ADDON, created=trial_start),
                 current_trial={"end_date": trial_end, "start_date": trial_start,
                                "trial_offer": "to_1"})
    sub = subscription([item("si_1", PRO), addon])
    facts = facts_of(now=NOW, subscriptions=[sub])
    assert mrr_at(facts, trial_start + DAY) == 9900
    assert mrr_at(facts, trial_end) == 9900 + 2000
    [(start, cause)] = [(s.start, s.cause) for s in facts.spans if s.item == "si_2" and s.mrr]
    assert (start, cause) == (trial_end, Cause.TRIAL_END)


def test_a_subscription_paused_after_its_trial_never_counts() -> None:
    trial_end = T0 + 14 * DAY
    sub = subscription([item("si_1", PRO)], status="paused", trial_end=trial_end)
    facts = facts_of(now=NOW, subscriptions=[sub])
    assert [mrr_at(facts, t) for t in (T0 + DAY, trial_end, month(3))] == [0, 0, 0]
    assert facts.churns == ()


def test_a_subscription_paused_after_its_trial_counts_once_resumed() -> None:
    trial_end, resumed = T0 + 14 * DAY, month(2)
    paused = subscription([item("si_1", PRO)], status="paused", trial_end=trial_end)
    active = dict(paused, status="active")
    events = [event("evt_1", "customer.subscription.paused", trial_end, paused,
                    {"status": "trialing"}),
              event("evt_2", "customer.subscription.resumed", resumed, active,
                    {"status": "paused"})]
    facts = facts_of(now=NOW, subscriptions=[active], events=events)
    assert mrr_at(facts, month(1)) == 0
    assert mrr_at(facts, resumed) == 9900


# ---- §3 rule 0 ----------------------------------------------------------------------------------


def _billed_while_paused(iid: str, start: int, behavior: str) -> JSON:
    """A cycle invoice as each ``pause_collection.behavior`` leaves it: never attempted,
    and kept as a draft, marked uncollectible or voided."""
    status = {"keep_as_draft": "draft", "mark_uncollectible": "uncollectible",
              "void": "void"}[behavior]
    inv = cycle_invoice(iid, start, [("si_1", PRO, 1)], status=status, attempted=False,
                        attempt_count=0, finalized_at=None if status == "draft" else start,
                        voided_at=start + DAY if status == "void" else None,
                        uncollectible_at=start + DAY if status == "uncollectible" else None)
    return dict(inv, auto_advance=False)


@pytest.mark.parametrize("behavior", ["keep_as_draft", "mark_uncollectible", "void"])
def test_a_paused_collection_is_voluntary_churn_with_reason_paused(behavior: str) -> None:
    sub = subscription([item("si_1", PRO)],
                       pause={"behavior": behavior, "resumes_at": None})
    invoices = [cycle_invoice("in_0", T0, [("si_1", PRO, 1)], reason="subscription_create"),
                cycle_invoice("in_1", month(1), [("si_1", PRO, 1)]),
                _billed_while_paused("in_2", month(2), behavior),
                _billed_while_paused("in_3", month(3), behavior)]
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=invoices)
    assert [mrr_at(facts, month(k) + DAY) for k in range(4)] == [9900, 9900, 0, 0]
    paused_month = datetime.fromtimestamp(month(2), UTC).strftime("%Y-%m")
    report = compute_month(facts, paused_month, MetricSettings(), FxTable("usd"))
    [m] = report.movements
    assert (m.movement, m.delta, m.churn_kind, m.reason, m.derived) == (
        "churn", -9900, "voluntary", "paused", False)


# ---- §1.8 Accounts v2 customers, deleted customers, decimal quantities ---------------------------


def test_an_accounts_v2_customer_is_the_unit_of_its_subscription() -> None:
    sub = dict(subscription([item("si_1", PRO)]), customer=None, customer_account="acct_1V2")
    inv = dict(cycle_invoice("in_1", T0, [("si_1", PRO, 1)], reason="subscription_create"),
               customer=None, customer_account="acct_1V2")
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=[inv])
    assert {(s.customer, s.mrr) for s in facts.spans} == {("acct_1V2", 9900)}
    assert {r.customer for r in facts.revenue} == {"acct_1V2"}


def test_a_deleted_customer_keeps_the_mrr_it_paid() -> None:
    sub = subscription([item("si_1", PRO)], status="canceled", ended_at=month(3),
                       canceled_at=month(3), reason="cancellation_requested")
    invoices = [cycle_invoice(f"in_{k}", month(k), [("si_1", PRO, 1)]) for k in range(3)]
    gone = {"id": CUS, "object": "customer", "deleted": True}
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=invoices, customers=[gone])
    assert [mrr_at(facts, month(k) + DAY) for k in range(4)] == [9900, 9900, 9900, 0]
    assert [(c.id, c.deleted) for c in facts.customers] == [(CUS, True)]


def test_a_line_quantity_reads_its_decimal_when_it_has_a_fraction() -> None:
    assert line_quantity({"quantity": 2, "quantity_decimal": "2.5"}) == Fraction(5, 2)
    assert line_quantity({"quantity": 3, "quantity_decimal": "3"}) == 3
    assert line_quantity({"quantity": 4}) == 4
    assert line_quantity({"quantity": None, "quantity_decimal": "x"}) == 0


def test_a_decimal_quantity_is_priced_exactly() -> None:
    hours = price("price_hours", 1000)
    billed = dict(line("il_1", 2500, hours, item_id="si_1", period=(T0, month(1))),
                  quantity=2, quantity_decimal="2.5")
    inv = invoice("in_1", [billed], created=T0, reason="subscription_create")
    sub = subscription([item("si_1", hours, 2)], status="canceled", ended_at=month(1),
                       canceled_at=month(1), reason="cancellation_requested")
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=[inv])
    assert mrr_at(facts, T0 + DAY) == 2500


def test_a_trial_paused_for_want_of_a_payment_method_counts_from_its_resume() -> None:
    trial_end, resumed = T0 + 14 * DAY, month(3) + 5 * DAY
    sub = dict(subscription([item("si_1", PRO, period=(month(5, resumed), month(6, resumed)))],
                            trial_end=trial_end),
               trial_settings={"end_behavior": {"missing_payment_method": "pause"}})
    invoices = [cycle_invoice("in_0", T0, [("si_1", PRO, 1)], reason="subscription_create"),
                *(cycle_invoice(f"in_{k}", month(k, resumed), [("si_1", PRO, 1)])
                  for k in range(6))]
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=invoices)
    # No event is left of the pause: the gap between the trial and the first period
    # billed after it says so.
    assert [mrr_at(facts, t) for t in (trial_end, month(2), resumed)] == [0, 0, 9900]


def test_an_unpaid_status_already_held_at_the_oldest_event_dates_from_the_last_retry() -> None:
    failed = cycle_invoice("in_2", month(2), [("si_1", PRO, 1)], status="open",
                           attempt_count=4)
    paid = [cycle_invoice(f"in_{k}", month(k), [("si_1", PRO, 1)],
                          reason="subscription_create" if k == 0 else "subscription_cycle")
            for k in range(2)]
    sub = subscription([item("si_1", PRO, period=(month(2), month(3)))], status="unpaid")
    # The one event kept shows it unpaid, but it records another change, not the status's.
    events = [event("evt_1", "customer.subscription.updated", month(5), sub,
                    {"metadata": {"note": "x"}})]
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=[*paid, failed], events=events)
    assert mrr_at(facts, month(2) - 1) == 9900
    assert mrr_at(facts, month(2) + DAY) == 0  # since the failed invoice, not the event
    assert [c.rule for c in facts.churns] == ["unpaid"]


def test_a_customer_discount_the_sync_saw_removed_ends_at_that_event() -> None:
    sub = subscription([item("si_1", PRO)])
    removed = month(2) + 10 * DAY
    gone = dict(discount("di_cus", "fifth", sub=None), deleted=True, _deleted_at=removed)
    facts = facts_of(now=NOW, subscriptions=[sub], customers=[customer()],
                     coupons=[coupon("fifth", percent=20)], discounts={"di_cus": gone})
    assert mrr_at(facts, removed - 1) == 7920
    assert mrr_at(facts, removed) == 9900
