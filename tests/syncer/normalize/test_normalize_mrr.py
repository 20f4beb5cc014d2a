"""MRR spans (METRICS.md §1), one table or test per rule, on Stripe-shaped objects."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from reports.facts import Cause
from reports.options import ChurnRecognition, DiscountMode, UsageInMrr
from syncer.normalize import NormalizeSettings
from tests.syncer.normalize.builders import (
    DAY,
    HOUR,
    JSON,
    T0,
    charge,
    contract_at,
    coupon,
    cycle_invoice,
    discount,
    event,
    facts_of,
    invoice,
    invoice_payment,
    item,
    line,
    month,
    mrr_at,
    price,
    subscription,
)

NOW = month(6)
PRO = price("price_pro", 9900)
STARTER = price("price_starter", 2900)
SEAT = price("price_seat", 1500)


def _causes(facts: Any, item_id: str = "si_1") -> list[tuple[int, Cause, int]]:
    return [(s.start, s.cause, s.mrr) for s in sorted(facts.spans, key=lambda s: s.start)
            if s.item == item_id]


# ---- §1.3 normalisation, §1.4 quantities and tiers ------------------------------------------


@pytest.mark.parametrize(
    ("interval", "count", "amount", "expected"),
    [
        ("month", 1, 1000, 1000),
        ("month", 3, 27000, 9000),  # quarterly
        ("year", 1, 99000, 8250),
        ("year", 2, 24000, 1000),
        ("week", 1, 1000, 4333),  # 52/12
        ("week", 2, 1000, 2167),
        ("day", 1, 100, 3042),  # 365/12
        ("day", 7, 700, 3042),
        ("year", 1, 6, 0),  # 0.5 rounds half to even
        ("year", 1, 18, 2),  # 1.5 rounds half to even
    ],
)
def test_interval_normalisation(interval: str, count: int, amount: int, expected: int) -> None:
    p = price("price_x", amount, interval=interval, count=count)
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", p)])])
    assert mrr_at(facts, T0 + DAY) == expected


GRADUATED = [(5, 1000, 2000), (20, 800, 0), (None, 500, 0)]
VOLUME = [(10, 1200, 0), (50, 1000, 500), (None, 800, 0)]


@pytest.mark.parametrize(
    ("p", "quantity", "expected"),
    [
        (SEAT, 4, 6000),
        (price("price_g", None, tiers=GRADUATED, mode="graduated"), 12, 2000 + 5000 + 7 * 800),
        (price("price_g", None, tiers=GRADUATED, mode="graduated"), 25,
         2000 + 5000 + 15 * 800 + 5 * 500),
        (price("price_v", None, tiers=VOLUME, mode="volume"), 14, 500 + 14 * 1000),
        (price("price_v", None, tiers=VOLUME, mode="volume"), 5, 5 * 1200),
        (price("price_v", None, tiers=VOLUME, mode="volume"), 60, 60 * 800),
    ],
)
def test_quantities_and_tiers(p: JSON, quantity: int, expected: int) -> None:
    # Tiers come with the synced (expanded) price, not with the item's embedded copy.
    facts = facts_of(now=NOW, prices=[p], subscriptions=[subscription([item("si_1", p, quantity)])])
    assert mrr_at(facts, T0 + DAY) == expected


def test_items_and_subscriptions_are_summed() -> None:
    subs = [subscription([item("si_1", PRO), item("si_2", SEAT, 3)]),
            subscription([item("si_3", STARTER, sub="sub_2")], sid="sub_2")]
    assert mrr_at(facts_of(now=NOW, subscriptions=subs), T0 + DAY) == 9900 + 4500 + 2900


# ---- §1.5 metered items ------------------------------------------------------------------------


def _metered_account() -> dict[str, Any]:
    api = price("price_api", 1, usage="metered")
    invoices = [
        invoice(f"in_{k}", [line(f"il_{k}", amount, api, quantity=amount, item_id="si_m",
                                 period=(month(k - 1), month(k)))], created=month(k))
        for k, amount in ((1, 3000), (2, 6000), (3, 9000))
    ]
    sub = subscription([item("si_1", PRO), item("si_m", api)])
    return {"subscriptions": [sub], "invoices": invoices, "prices": [PRO, api]}


def test_metered_items_are_not_mrr_by_default() -> None:
    facts = facts_of(now=NOW, **_metered_account())
    assert mrr_at(facts, month(3) + DAY) == 9900
    assert {s.item for s in facts.spans} == {"si_1"}


def test_metered_trailing_three_month_average_setting() -> None:
    settings = NormalizeSettings(usage_in_mrr=UsageInMrr.TRAILING_3M_AVERAGE)
    facts = facts_of(now=NOW, settings=settings, **_metered_account())
    assert mrr_at(facts, month(2) + DAY) == 9900 + (3000 + 6000) // 3
    assert mrr_at(facts, month(3) + DAY) == 9900 + (3000 + 6000 + 9000) // 3


# ---- §1.1 eligibility: trials, incomplete ---------------------------------------------------------


def test_trial_contributes_nothing_until_it_ends() -> None:
    trial_end = T0 + 14 * DAY
    sub = subscription([item("si_1", PRO, period=(trial_end, month(1, trial_end)))],
                       trial_end=trial_end)
    facts = facts_of(now=NOW, subscriptions=[sub])
    assert mrr_at(facts, trial_end - 1) == 0
    assert mrr_at(facts, trial_end) == 9900
    assert _causes(facts) == [(T0, Cause.NEW_ITEM, 0), (trial_end, Cause.TRIAL_END, 9900)]


def test_incomplete_expired_subscription_never_counts() -> None:
    sub = subscription([item("si_1", PRO)], status="incomplete_expired", ended_at=T0 + 23 * HOUR,
                       canceled_at=T0 + 23 * HOUR)
    inv = cycle_invoice("in_1", T0, [("si_1", PRO, 1)], reason="subscription_create",
                        status="void", voided_at=T0 + 23 * HOUR)
    facts = facts_of(now=NOW, subscriptions=[sub], invoices=[inv],
                     invoice_payments=[invoice_payment("inpay_1", "in_1", "pi_1")],
                     charges=[charge("ch_1", 9900, created=T0, pi="pi_1", status="failed")])
    assert all(s.mrr == 0 for s in facts.spans)
    assert facts.churns == ()


def test_incomplete_then_paid_counts_from_payment() -> None:
    paid = T0 + 2 * HOUR
    inv = cycle_invoice("in_1", T0, [("si_1", PRO, 1)], reason="subscription_create",
                        paid_at=paid, attempt_count=2)
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", PRO)])], invoices=[inv],
                     invoice_payments=[invoice_payment("inpay_1", "in_1", "pi_1", paid_at=paid)],
                     charges=[charge("ch_1", 9900, created=T0, pi="pi_1", status="failed"),
                              charge("ch_2", 9900, created=paid, pi="pi_1")])
    assert mrr_at(facts, T0 + HOUR) == 0
    assert mrr_at(facts, paid) == 9900


# ---- §1.6-7 discounts --------------------------------------------------------------------------------


def _discounted(c: JSON, *, items: list[JSON] | None = None, end: int | None = None,
                invoices: list[JSON] | None = None,
                settings: NormalizeSettings | None = None) -> Any:
    sub = subscription(items or [item("si_1", PRO)], discounts=["di_1"])
    return facts_of(now=NOW, settings=settings, subscriptions=[sub], coupons=[c],
                    discounts={"di_1": discount("di_1", c["id"], end=end)},
                    invoices=invoices or [])


@pytest.mark.parametrize(
    ("c", "end", "checks"),
    [
        (coupon("F20", percent=20), None, [(month(5), 7920)]),
        (coupon("R50", percent=50, duration="repeating", months=3), month(3),
         [(month(3) - 1, 4950), (month(3), 9900)]),
        # once: the first period only (that of the first invoice listing it)
        (coupon("O50", percent=50, duration="once"), None,
         [(T0 + DAY, 4950), (month(1) - 1, 4950), (month(1), 9900)]),
        (coupon("FREE", percent=100), None, [(month(2), 0)]),
        (coupon("OFF", amount=20000), None, [(month(2), 0)]),  # never below 0
    ],
)
def test_discount_durations(c: JSON, end: int | None, checks: list[tuple[int, int]]) -> None:
    inv = cycle_invoice("in_1", T0, [("si_1", PRO, 1)], reason="subscription_create",
                        discounts=["di_1"])
    facts = _discounted(c, end=end, invoices=[inv])
    assert [(at, mrr_at(facts, at)) for at, _ in checks] == checks
    assert contract_at(facts, checks[-1][0]) == 9900  # contract MRR is before discounts


def test_discount_start_and_end_are_causes() -> None:
    c = coupon("R50", percent=50, duration="repeating", months=3)
    facts = _discounted(c, end=month(3))
    assert _causes(facts) == [(T0, Cause.NEW_ITEM, 4950), (month(3), Cause.DISCOUNT_END, 9900)]


def test_amount_off_is_spread_over_the_items() -> None:
    facts = _discounted(coupon("OFF", amount=5000), items=[item("si_1", PRO), item("si_2", SEAT)])
    per_item = {s.item: s.mrr for s in facts.spans}
    assert sum(per_item.values()) == 9900 + 1500 - 5000
    assert per_item == {"si_1": 9900 - 4342, "si_2": 1500 - 658}  # in proportion


def test_amount_off_is_normalised_with_the_subscription_interval() -> None:
    annual = price("price_y", 99000, interval="year")
    facts = _discounted(coupon("OFF", amount=5000), items=[item("si_1", annual)])
    assert mrr_at(facts, T0 + DAY) == 8250 - 417  # 5000/12 per month


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(DiscountMode.ALL_ACTIVE, 9900 - 2970), (DiscountMode.FOREVER_ONLY, 9900 - 1980),
     (DiscountMode.NONE, 9900)],
)
def test_discount_mode_setting(mode: DiscountMode, expected: int) -> None:
    forever, repeating = coupon("F20", percent=20), coupon("R10", percent=10,
                                                           duration="repeating", months=12)
    sub = subscription([item("si_1", PRO)], discounts=["di_1", "di_2"])
    facts = facts_of(now=NOW, settings=NormalizeSettings(discount_mode=mode),
                     subscriptions=[sub], coupons=[forever, repeating],
                     discounts={"di_1": discount("di_1", "F20"),
                                "di_2": discount("di_2", "R10", end=month(12))})
    assert mrr_at(facts, month(1)) == expected


# ---- §1.2 past due and the grace rule ---------------------------------------------------------------


def _past_due(paid_at: int | None, now: int) -> Any:
    failed_at = month(1) + HOUR
    status = "paid" if paid_at is not None else "open"
    inv = cycle_invoice("in_2", month(1), [("si_1", PRO, 1)], status=status, paid_at=paid_at,
                        attempt_count=3)
    charges = [charge("ch_f", 9900, created=failed_at, pi="pi_2", status="failed")]
    if paid_at is not None:
        charges.append(charge("ch_ok", 9900, created=paid_at, pi="pi_2"))
    sub = subscription([item("si_1", PRO)], status="active" if paid_at else "past_due")
    return facts_of(now=now, subscriptions=[sub],
                    invoices=[cycle_invoice("in_1", T0, [("si_1", PRO, 1)],
                                            reason="subscription_create"), inv],
                    invoice_payments=[invoice_payment("inpay_2", "in_2", "pi_2",
                                                      paid_at=paid_at)],
                    charges=charges)


def test_past_due_within_grace_keeps_mrr() -> None:
    failed_at = month(1) + HOUR
    facts = _past_due(None, failed_at + 20 * DAY)
    assert mrr_at(facts, failed_at + 20 * DAY) == 9900
    assert facts.churns == ()


def test_past_due_beyond_grace_is_zero_and_an_involuntary_churn() -> None:
    failed_at = month(1) + HOUR
    facts = _past_due(None, failed_at + 45 * DAY)
    assert mrr_at(facts, failed_at + 30 * DAY - 1) == 9900
    assert mrr_at(facts, failed_at + 30 * DAY) == 0
    assert _causes(facts)[-1] == (failed_at + 30 * DAY, Cause.PAST_DUE, 0)
    [churn] = facts.churns
    assert (churn.at, churn.rule, churn.kind.value) == (failed_at + 30 * DAY, "past_due",
                                                        "involuntary")


def test_past_due_that_pays_later_recovers() -> None:
    failed_at = month(1) + HOUR
    paid = failed_at + 40 * DAY
    facts = _past_due(paid, paid + 10 * DAY)
    assert mrr_at(facts, paid - 1) == 0
    assert mrr_at(facts, paid) == 9900
    assert _causes(facts)[-1] == (paid, Cause.RECOVERED, 9900)


def test_grace_days_setting() -> None:
    failed_at = month(1) + HOUR
    facts = facts_of(now=failed_at + 20 * DAY, settings=NormalizeSettings(past_due_grace_days=7),
                     **_past_due_objects())
    assert mrr_at(facts, failed_at + 7 * DAY) == 0


def _past_due_objects() -> dict[str, Any]:
    inv = cycle_invoice("in_2", month(1), [("si_1", PRO, 1)], status="open", attempt_count=1)
    return {"subscriptions": [subscription([item("si_1", PRO)], status="past_due")],
            "invoices": [inv],
            "invoice_payments": [invoice_payment("inpay_2", "in_2", "pi_2")],
            "charges": [charge("ch_f", 9900, created=month(1) + HOUR, pi="pi_2",
                               status="failed")]}


# ---- §1.9 changes take effect when they happen ---------------------------------------------------------


CHANGE = T0 + 10 * DAY


def _proration_lines(prefix: str, old: tuple[JSON, int] | None, new: tuple[JSON, int] | None,
                     item_id: str = "si_1") -> list[JSON]:
    out = []
    if old is not None:
        out.append(line(f"il_{prefix}_old", -1000, old[0], quantity=old[1], item_id=item_id,
                        period=(CHANGE, month(1)), proration=True))
    if new is not None:
        out.append(line(f"il_{prefix}_new", 3000, new[0], quantity=new[1], item_id=item_id,
                        period=(CHANGE, month(1)), proration=True))
    return out


def test_upgrade_invoiced_at_once_is_dated_at_the_proration() -> None:
    invoices = [
        cycle_invoice("in_1", T0, [("si_1", STARTER, 1)], reason="subscription_create"),
        invoice("in_u", _proration_lines("u", (STARTER, 1), (PRO, 1)), created=CHANGE,
                reason="subscription_update"),
        cycle_invoice("in_2", month(1), [("si_1", PRO, 1)]),
    ]
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", PRO)])],
                     invoices=invoices, prices=[PRO, STARTER])
    assert _causes(facts) == [(T0, Cause.NEW_ITEM, 2900), (CHANGE, Cause.PRICE_CHANGE, 9900)]


def test_deferred_proration_on_the_next_invoice_is_dated_at_its_period_start() -> None:
    lines = [*_proration_lines("d", (SEAT, 3), (SEAT, 5)),
             *cycle_invoice("x", month(1), [("si_1", SEAT, 5)])["lines"]["data"]]
    invoices = [cycle_invoice("in_1", T0, [("si_1", SEAT, 3)], reason="subscription_create"),
                invoice("in_2", lines, created=month(1))]
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", SEAT, 5)])],
                     invoices=invoices)
    assert _causes(facts) == [(T0, Cause.NEW_ITEM, 4500), (CHANGE, Cause.QUANTITY, 7500)]


def test_pending_proration_items_date_a_change_not_invoiced_yet() -> None:
    pending = [{"id": f"ii_{n}", "object": "invoiceitem", "amount": ln["amount"],
                "currency": "usd", "customer": "cus_A", "date": CHANGE, "invoice": None,
                "parent": {"type": "subscription_details", "subscription_details": {
                    "subscription": "sub_1", "subscription_item": "si_1"}},
                "period": ln["period"], "pricing": ln["pricing"], "proration": True,
                "quantity": ln["quantity"]}
               for n, ln in enumerate(_proration_lines("p", (SEAT, 3), (SEAT, 5)))]
    facts = facts_of(now=CHANGE + 5 * DAY, subscriptions=[subscription([item("si_1", SEAT, 5)])],
                     invoices=[cycle_invoice("in_1", T0, [("si_1", SEAT, 3)],
                                             reason="subscription_create")],
                     invoice_items=pending)
    assert mrr_at(facts, CHANGE - 1) == 4500
    assert mrr_at(facts, CHANGE) == 7500


def test_item_added_and_removed_by_prorations() -> None:
    invoices = [
        cycle_invoice("in_1", T0, [("si_1", PRO, 1), ("si_2", SEAT, 2)],
                      reason="subscription_create"),
        invoice("in_u", [*_proration_lines("a", None, (STARTER, 1), item_id="si_3"),
                         *_proration_lines("r", (SEAT, 2), None, item_id="si_2")],
                created=CHANGE, reason="subscription_update"),
    ]
    sub = subscription([item("si_1", PRO), item("si_3", STARTER, created=CHANGE)])
    facts = facts_of(now=month(1) - 1, subscriptions=[sub], invoices=invoices,
                     prices=[PRO, SEAT, STARTER])
    assert mrr_at(facts, CHANGE - 1) == 9900 + 3000
    assert mrr_at(facts, CHANGE) == 9900 + 2900
    assert [s.end for s in facts.spans if s.item == "si_2"] == [CHANGE]


def test_change_without_proration_takes_effect_with_the_first_period_billing_it() -> None:
    invoices = [cycle_invoice("in_1", T0, [("si_1", SEAT, 3)], reason="subscription_create"),
                cycle_invoice("in_2", month(1), [("si_1", SEAT, 5)])]
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", SEAT, 5)])],
                     invoices=invoices)
    assert _causes(facts) == [(T0, Cause.NEW_ITEM, 4500), (month(1), Cause.QUANTITY, 7500)]


def test_subscription_events_give_the_exact_time() -> None:
    seen = month(1) - 5 * DAY
    after = subscription([item("si_1", SEAT, 5)])
    before = subscription([item("si_1", SEAT, 3)])
    invoices = [cycle_invoice("in_1", T0, [("si_1", SEAT, 3)], reason="subscription_create"),
                cycle_invoice("in_2", month(1), [("si_1", SEAT, 5)])]
    facts = facts_of(now=NOW, subscriptions=[after], invoices=invoices,
                     events=[event("evt_1", "customer.subscription.updated", seen, after,
                                   {"items": before["items"]})])
    assert _causes(facts) == [(T0, Cause.NEW_ITEM, 4500), (seen, Cause.QUANTITY, 7500)]


def test_current_state_without_other_evidence_is_dated_now() -> None:
    invoices = [cycle_invoice("in_1", T0, [("si_1", SEAT, 3)], reason="subscription_create")]
    now = T0 + 20 * DAY
    facts = facts_of(now=now, subscriptions=[subscription([item("si_1", SEAT, 5)])],
                     invoices=invoices)
    assert mrr_at(facts, now - 1) == 4500
    assert mrr_at(facts, now) == 7500


# ---- §1.10 cancellation ---------------------------------------------------------------------------------


def _cancelled(*, ended: int | None, requested: int, now: int = NOW,
               settings: NormalizeSettings | None = None) -> Any:
    sub = subscription([item("si_1", PRO)], status="canceled" if ended else "active",
                       ended_at=ended, canceled_at=requested,
                       cancel_at_period_end=ended is None or ended != requested,
                       reason="cancellation_requested", latest_invoice="in_1")
    return facts_of(now=now, settings=settings, subscriptions=[sub],
                    invoices=[cycle_invoice("in_1", T0, [("si_1", PRO, 1)],
                                            reason="subscription_create")])


@pytest.mark.parametrize(
    ("ended", "requested", "recognition", "end"),
    [
        (month(1), T0 + 10 * DAY, ChurnRecognition.PERIOD_END, month(1)),  # at period end
        (T0 + 10 * DAY, T0 + 10 * DAY, ChurnRecognition.PERIOD_END, T0 + 10 * DAY),  # at once
        (month(1), T0 + 10 * DAY, ChurnRecognition.REQUEST_TIME, T0 + 10 * DAY),
    ],
)
def test_cancellation_ends_the_spans(ended: int, requested: int,
                                     recognition: ChurnRecognition, end: int) -> None:
    facts = _cancelled(ended=ended, requested=requested,
                       settings=NormalizeSettings(churn_recognition=recognition))
    assert [s.end for s in facts.spans] == [end]
    [churn] = facts.churns
    assert (churn.at, churn.requested_at) == (end, requested)


def test_pending_cancellation_is_not_subtracted() -> None:
    facts = _cancelled(ended=None, requested=T0 + 10 * DAY, now=T0 + 20 * DAY)
    assert [s.end for s in facts.spans] == [None]
    # Reported as pending: one churn dated when it will take effect, after ``now``.
    [pending] = facts.churns
    assert pending.requested_at == T0 + 10 * DAY and pending.at > T0 + 20 * DAY
    recognised = _cancelled(ended=None, requested=T0 + 10 * DAY, now=T0 + 20 * DAY,
                            settings=NormalizeSettings(
                                churn_recognition=ChurnRecognition.REQUEST_TIME))
    assert [s.end for s in recognised.spans] == [T0 + 10 * DAY]


# ---- §1.11 paused collection ------------------------------------------------------------------------------


def _paused_invoice(iid: str, start: int) -> JSON:
    return cycle_invoice(iid, start, [("si_1", PRO, 1)], status="void", attempted=False,
                         attempt_count=0, voided_at=start + HOUR)


def test_pause_from_invoices_billed_while_paused() -> None:
    invoices = [cycle_invoice("in_0", T0, [("si_1", PRO, 1)], reason="subscription_create"),
                cycle_invoice("in_1", month(1), [("si_1", PRO, 1)]),
                _paused_invoice("in_2", month(2)), _paused_invoice("in_3", month(3)),
                cycle_invoice("in_4", month(4), [("si_1", PRO, 1)])]
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", PRO)])],
                     invoices=invoices)
    assert _causes(facts) == [(T0, Cause.NEW_ITEM, 9900), (month(2), Cause.PAUSE, 0),
                              (month(4), Cause.RESUME, 9900)]


def test_pause_from_events_is_exact() -> None:
    paused, resumed = T0 + 10 * DAY, month(1) + 5 * DAY
    active = subscription([item("si_1", PRO)])
    pausing = dict(active, pause_collection={"behavior": "void", "resumes_at": None})
    events = [event("evt_1", "customer.subscription.updated", paused, pausing,
                    {"pause_collection": None}),
              event("evt_2", "customer.subscription.updated", resumed, active,
                    {"pause_collection": pausing["pause_collection"]})]
    facts = facts_of(now=NOW, subscriptions=[active], events=events)
    assert [mrr_at(facts, t) for t in (month(1) - 1, month(1), resumed)] == [9900, 0, 9900]


def test_pause_resumed_before_the_next_period_changes_nothing() -> None:
    active = subscription([item("si_1", PRO)])
    pausing = dict(active, pause_collection={"behavior": "void", "resumes_at": None})
    events = [event("evt_1", "customer.subscription.updated", T0 + 10 * DAY, pausing),
              event("evt_2", "customer.subscription.updated", T0 + 20 * DAY, active)]
    facts = facts_of(now=NOW, subscriptions=[active], events=events)
    assert all(s.mrr == 9900 for s in facts.spans)


# ---- customers: reactivation, several subscriptions -------------------------------------------------------


def test_reactivation_is_a_new_subscription_after_churn() -> None:
    old = subscription([item("si_1", PRO)], status="canceled", ended_at=month(2),
                       canceled_at=month(2), reason="cancellation_requested")
    new = subscription([item("si_2", STARTER, created=month(4), sub="sub_2")], sid="sub_2",
                       start=month(4))
    facts = facts_of(now=NOW, subscriptions=[old, new])
    assert [mrr_at(facts, t) for t in (month(1), month(3), month(5))] == [9900, 0, 2900]


def test_two_subscriptions_one_cancelled() -> None:
    kept = subscription([item("si_1", PRO)])
    gone = subscription([item("si_2", STARTER, sub="sub_2")], sid="sub_2", status="canceled",
                        ended_at=month(2), canceled_at=month(2), reason="cancellation_requested")
    facts = facts_of(now=NOW, subscriptions=[kept, gone])
    assert [mrr_at(facts, t) for t in (month(1), month(3))] == [12800, 9900]
    assert [c.subscription for c in facts.churns] == ["sub_2"]


def test_spans_of_an_item_never_overlap_and_stop_at_now() -> None:
    facts = _past_due(None, month(1) + 45 * DAY)
    spans = sorted(facts.spans, key=lambda s: s.start)
    for a, b in itertools.pairwise(spans):
        assert a.end is not None and a.end <= b.start
    assert spans[-1].end is None and spans[-1].start <= month(1) + 45 * DAY
