"""Movement alerts and the weekly digest, computed by hand: which changes are alerts at a
threshold, their kind, voluntary or involuntary, their order, and when a digest is due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from decimal import Decimal
from fractions import Fraction

import pytest

from reports.alerts import (
    AlertRule,
    DigestWeek,
    KindTotal,
    MrrMove,
    WeeklyDue,
    customer_moves,
    digest_due,
    month_opening,
    next_digest_after,
    parse_weekly,
    select_alerts,
    weekly_digest,
)
from reports.facts import Cause, ChurnEvent, ChurnKind, Plan
from reports.fx import FxTable
from reports.metrics.index import CustomerIndex
from reports.render.alerts import render_alert_slack, render_digest_slack
from tests.reports.builders import APR, churn, make_facts, span, ts

JAN = ts(2026, 1)
PLANS = (Plan("price_starter", "Starter"), Plan("price_pro", "Pro"), Plan("price_team", "Team"))
USD = FxTable("usd", {}, [])
RULE = AlertRule(Fraction(5, 1000), 5000)  # 0.5 % of the month's start MRR, at least $50.00


def _index(comment: str | None = None) -> CustomerIndex:
    """Seven customers; in April (start MRR $970.00 at 2026-03-31 23:59:59):

    - A (Acme) Starter $100 → Pro $300 on 10 April: expansion +$200, "Starter → Pro"
    - B ends its $500 on 15 April, voluntary (cancellation_requested): churn −$500
    - C falls to 0 by the past-due rule on 12 April, no churn event: churn −$80, involuntary
    - D loses one of two subscriptions (payment_failed) on 20 April: contraction −$50
    - E comes back on 5 April with $60 after leaving in February: reactivation +$60
    - F $10 → $12 on 8 April: expansion +$2 (under the threshold)
    - G starts on 25 April with $70: new
    - H on 18 April: quantity 1 → 2 and an add-on, one instant: one expansion +$70
    """
    spans = [
        span("cus_a", 10000, ts(2026, 3, 2), ts(2026, 4, 10), price="price_starter", item="si_a"),
        span("cus_a", 30000, ts(2026, 4, 10), price="price_pro", item="si_a", cause=Cause.PRICE_CHANGE),
        span("cus_b", 50000, JAN, ts(2026, 4, 15), price="price_team"),
        span("cus_c", 8000, JAN, ts(2026, 4, 12), price="price_starter"),
        span("cus_c", 0, ts(2026, 4, 12), price="price_starter", cause=Cause.PAST_DUE),
        span("cus_d", 20000, JAN, price="price_team", sub="sub_d1"),
        span("cus_d", 5000, JAN, ts(2026, 4, 20), price="price_starter", sub="sub_d2"),
        span("cus_e", 4000, JAN, ts(2026, 2, 10), price="price_starter", sub="sub_e1"),
        span("cus_e", 6000, ts(2026, 4, 5), price="price_starter", sub="sub_e2"),
        span("cus_f", 1000, JAN, ts(2026, 4, 8), price="price_starter", item="si_f"),
        span("cus_f", 1200, ts(2026, 4, 8), price="price_starter", item="si_f", cause=Cause.QUANTITY),
        span("cus_g", 7000, ts(2026, 4, 25), price="price_pro"),
        span("cus_h", 3000, JAN, ts(2026, 4, 18), price="price_starter", item="si_h1"),
        span("cus_h", 6000, ts(2026, 4, 18), price="price_starter", item="si_h1", cause=Cause.QUANTITY),
        span("cus_h", 4000, ts(2026, 4, 18), price="price_team", item="si_h2"),
    ]
    b_churn = ChurnEvent("cus_b", "sub_cus_b", ts(2026, 4, 15), ts(2026, 4, 1), ChurnKind.VOLUNTARY,
                         "cancellation_requested", False, "cancellation_requested", "too_expensive", comment)
    churns = [b_churn, churn("cus_d", ts(2026, 4, 20), ChurnKind.INVOLUNTARY, "payment_failed", sub="sub_d2")]
    names = {"cus_a": "Acme", "cus_b": "Bolt", "cus_c": "Cogs", "cus_d": "Dyn", "cus_e": "Echo",
             "cus_f": "Fig", "cus_g": "Gale", "cus_h": "ceo@hotel.example"}
    facts = make_facts(spans, churns, names=names)
    return CustomerIndex(facts.of_customers(), {p.price: p.name for p in PLANS})


def _april_moves() -> list[MrrMove]:
    return customer_moves(_index(), USD, APR, ts(2026, 4, 30))


def test_each_customer_change_at_an_instant_is_one_movement_with_its_kind_in_order() -> None:
    got = [(m.customer, m.kind, m.before, m.after, m.delta) for m in _april_moves()]
    assert got == [
        ("cus_e", "reactivation", 0, 6000, 6000),  # 5 April
        ("cus_f", "expansion", 1000, 1200, 200),  # 8 April
        ("cus_a", "expansion", 10000, 30000, 20000),  # 10 April
        ("cus_c", "churn", 8000, 0, -8000),  # 12 April
        ("cus_b", "churn", 50000, 0, -50000),  # 15 April
        ("cus_h", "expansion", 3000, 10000, 7000),  # 18 April: two span changes, one movement
        ("cus_d", "contraction", 25000, 20000, -5000),  # 20 April
        ("cus_g", "new", 0, 7000, 7000),  # 25 April
    ]


def test_a_churn_says_voluntary_or_involuntary_and_why() -> None:
    by_customer = {m.customer: m for m in _april_moves()}
    b, c, d = by_customer["cus_b"], by_customer["cus_c"], by_customer["cus_d"]
    assert (b.churn_kind, b.rule, b.derived) == ("voluntary", "cancellation_requested", False)
    # No churn event: the report's rule for a drop to zero (past due → involuntary, inferred).
    assert (c.churn_kind, c.rule, c.derived) == ("involuntary", "past_due", True)
    # A contraction by a cancellation carries the cancellation's verdict.
    assert (d.churn_kind, d.rule) == ("involuntary", "payment_failed")
    assert by_customer["cus_a"].churn_kind is None and by_customer["cus_a"].plan == "Starter → Pro"
    assert by_customer["cus_h"].causes == ("new_item", "quantity")


def test_the_threshold_is_the_larger_of_the_share_of_start_mrr_and_the_minimum() -> None:
    moves = _april_moves()
    opening = {month_opening(APR, "UTC"): 97000}  # $970.00 at the end of March
    assert month_opening(ts(2026, 4, 29), "UTC") == APR - 1
    # 0.5 % of $970 is $4.85: the $50.00 minimum decides; exactly $50 (D) is an alert.
    assert [m.customer for m in select_alerts(moves, RULE, opening, "UTC")] == [
        "cus_e", "cus_a", "cus_c", "cus_b", "cus_h", "cus_d", "cus_g"]
    # 10 % of $970 = $97.00 beats the minimum: only A (+$200) and B (−$500) are that large.
    ten_pct = AlertRule(Fraction(1, 10), 5000)
    assert [m.customer for m in select_alerts(moves, ten_pct, opening, "UTC")] == ["cus_a", "cus_b"]
    assert ten_pct.threshold(97000) == 9700 and RULE.threshold(97000) == 5000


def test_only_instants_inside_the_window_count_and_keys_are_stable() -> None:
    inside = customer_moves(_index(), USD, ts(2026, 4, 12), ts(2026, 4, 15))
    assert [(m.customer, m.at) for m in inside] == [("cus_c", ts(2026, 4, 12)), ("cus_b", ts(2026, 4, 15))]
    again = customer_moves(_index(), USD, ts(2026, 4, 1), ts(2026, 4, 30))
    assert {m.key for m in inside} <= {m.key for m in again}
    assert inside[0].key == f"alert/cus_c/{ts(2026, 4, 12)}"


def test_an_alert_message_shows_who_the_plan_change_the_amounts_and_no_comment() -> None:
    by_customer = {m.customer: m for m in customer_moves(_index(comment="the CEO hates us"), USD, APR,
                                                         ts(2026, 4, 30))}
    a = json.dumps(render_alert_slack(by_customer["cus_a"], "usd", "UTC"), ensure_ascii=False)
    assert "*Expansion* · Acme (cus_a)" in a and "Starter → Pro" in a
    assert "MRR $100.00 → $300.00 (+$200.00)" in a and "2026-04-10 00:00 (UTC)" in a
    b = json.dumps(render_alert_slack(by_customer["cus_b"], "usd", "UTC"), ensure_ascii=False)
    assert "Churn (voluntary: cancellation_requested)" in b and "(-$500.00)" in b
    assert "hates" not in b and "too_expensive" not in b  # never the comment nor the feedback
    c = json.dumps(render_alert_slack(by_customer["cus_c"], "usd", "UTC"), ensure_ascii=False)
    assert "Churn (involuntary: past_due, inferred)" in c
    h = json.dumps(render_alert_slack(by_customer["cus_h"], "usd", "UTC"), ensure_ascii=False)
    assert "ceo@hotel" not in h and "cus_h" in h  # an email-like name shows as the id


# --------------------------------------------------------------------------- the weekly digest

MON_0900 = WeeklyDue(0, time(9, 0))


def _utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def test_the_digest_is_due_at_its_weekday_and_time_in_the_report_time_zone() -> None:
    wednesday = _utc(2026, 11, 18, 12)
    week = digest_due(wednesday, MON_0900, "Europe/Paris")
    # Monday 16 November 09:00 in Paris is 08:00 UTC; the week before it, from the 9th.
    assert week == DigestWeek("2026-W47", _utc(2026, 11, 9, 8), _utc(2026, 11, 16, 8))
    assert week.key == "digest/2026-W47"
    assert next_digest_after(wednesday, MON_0900, "Europe/Paris") == _utc(2026, 11, 23, 8)
    # At its very second it is due; a second before, the week before is the latest.
    assert digest_due(_utc(2026, 11, 16, 8), MON_0900, "Europe/Paris").label == "2026-W47"
    assert digest_due(_utc(2026, 11, 16, 8) - 1, MON_0900, "Europe/Paris").label == "2026-W46"
    assert next_digest_after(_utc(2026, 11, 16, 8) - 1, MON_0900, "Europe/Paris") == _utc(2026, 11, 16, 8)


def test_a_digest_week_across_the_clock_change_keeps_local_time() -> None:
    # Summer time ends on Sunday 25 October 2026 in Paris: that week is 7 days and 1 hour.
    week = digest_due(_utc(2026, 10, 26, 12), MON_0900, "Europe/Paris")
    assert (week.start, week.due) == (_utc(2026, 10, 19, 7), _utc(2026, 10, 26, 8))


@pytest.mark.parametrize(("text", "expected"), [
    ("mon 09:00", WeeklyDue(0, time(9, 0))), (" Friday 7:30 ", WeeklyDue(4, time(7, 30))),
    ("SUN 23:59", WeeklyDue(6, time(23, 59))),
])
def test_digest_weekly_reads_a_weekday_and_a_time(text: str, expected: WeeklyDue) -> None:
    assert parse_weekly(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("monday", "is not 'DAY HH:MM'"), ("funday 09:00", "is not a weekday"), ("mon 24:00", "is not a time of day"),
])
def test_a_bad_digest_weekly_says_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as info:
        parse_weekly(text)
    assert "\n" not in str(info.value)


def test_the_digest_counts_and_sums_each_kind_and_lists_the_largest() -> None:
    week = DigestWeek("2026-W16", ts(2026, 4, 10), ts(2026, 4, 17))  # 10 April to 16 April inclusive
    digest = weekly_digest(week, _april_moves(), company="Acme", currency="usd", timezone="UTC",
                           month="2026-04", nrr_month_to_date=Decimal("97.12"), largest=2)
    assert digest.totals == (
        KindTotal("new", 0, 0), KindTotal("reactivation", 0, 0), KindTotal("expansion", 1, 20000),
        KindTotal("contraction", 0, 0), KindTotal("churn", 2, -58000),
    )
    assert digest.net == -38000
    assert [m.customer for m in digest.largest] == ["cus_b", "cus_a"]
    text = json.dumps(render_digest_slack(digest), ensure_ascii=False)
    assert "week 2026-W16" in text and "97.1%" in text and "estimate: month to date" in text
    assert "*Churn*\\n-$580.00 (2)" in text and "*Net*\\n-$380.00" in text
