"""Voluntary or involuntary (METRICS.md §3 rules 1-6) and payment failures."""

from __future__ import annotations

from typing import Any

import pytest

from reports.facts import ChurnKind
from tests.syncer.normalize.builders import (
    DAY,
    HOUR,
    T0,
    charge,
    cycle_invoice,
    event,
    facts_of,
    invoice_payment,
    item,
    month,
    price,
    subscription,
)

PRO = price("price_pro", 9900)
ENDED = month(1) + 5 * DAY
NOW = month(4)


def _ended(reason: str | None, latest_status: str, **kw: Any) -> Any:
    sub = subscription([item("si_1", PRO)], status="canceled", ended_at=ENDED, canceled_at=ENDED,
                       reason=reason, feedback="too_expensive", comment="Budget cuts",
                       latest_invoice="in_2")
    paid = latest_status == "paid"
    invoices = [cycle_invoice("in_1", T0, [("si_1", PRO, 1)], reason="subscription_create"),
                cycle_invoice("in_2", month(1), [("si_1", PRO, 1)], status=latest_status,
                              attempted=True, attempt_count=1)]
    charges = [] if paid else [charge("ch_f", 9900, created=month(1) + HOUR, pi="pi_2",
                                      status="failed")]
    return facts_of(now=NOW, subscriptions=[sub], invoices=invoices, charges=charges,
                    invoice_payments=[invoice_payment("inpay_2", "in_2", "pi_2")], **kw)


@pytest.mark.parametrize(
    ("reason", "latest", "kind", "rule", "derived"),
    [
        ("payment_failed", "open", ChurnKind.INVOLUNTARY, "payment_failed", False),  # 1
        ("payment_disputed", "paid", ChurnKind.INVOLUNTARY, "payment_disputed", False),  # 2
        ("cancellation_requested", "paid", ChurnKind.VOLUNTARY, "cancellation_requested",
         False),  # 4
        ("cancellation_requested", "open", ChurnKind.INVOLUNTARY,
         "cancellation_requested_unpaid", True),  # 5
        ("cancellation_requested", "uncollectible", ChurnKind.INVOLUNTARY,
         "cancellation_requested_unpaid", True),  # 5
        ("canceled_by_retention_policy", "paid", ChurnKind.INVOLUNTARY, "other", True),  # 6
        (None, "paid", ChurnKind.INVOLUNTARY, "other", True),  # 6
    ],
)
def test_churn_rules(reason: str | None, latest: str, kind: ChurnKind, rule: str,
                     derived: bool) -> None:
    [churn] = _ended(reason, latest).churns
    assert (churn.kind, churn.rule, churn.derived) == (kind, rule, derived)
    assert (churn.at, churn.reason) == (ENDED, reason)
    assert (churn.feedback, churn.comment) == ("too_expensive", "Budget cuts")


def test_rule_3_past_due_rule_wins_over_the_reason() -> None:
    ended = month(1) + 40 * DAY  # after the 30-day grace
    sub = subscription([item("si_1", PRO)], status="canceled", ended_at=ended, canceled_at=ended,
                       reason="cancellation_requested", latest_invoice="in_2")
    facts = facts_of(now=NOW, subscriptions=[sub],
                     invoices=[cycle_invoice("in_2", month(1), [("si_1", PRO, 1)],
                                             status="open", attempt_count=4)],
                     invoice_payments=[invoice_payment("inpay_2", "in_2", "pi_2")],
                     charges=[charge("ch_f", 9900, created=month(1) + HOUR, pi="pi_2",
                                     status="failed")])
    rules = [(c.at, c.rule, c.kind) for c in facts.churns]
    assert rules == [(month(1) + HOUR + 30 * DAY, "past_due", ChurnKind.INVOLUNTARY),
                     (ended, "past_due", ChurnKind.INVOLUNTARY)]


def test_rule_3_status_path_past_due_to_unpaid() -> None:
    unpaid_at = month(1) + 15 * DAY
    base = subscription([item("si_1", PRO)])
    events = [event("evt_1", "customer.subscription.updated", month(1) + HOUR,
                    dict(base, status="past_due"), {"status": "active"}),
              event("evt_2", "customer.subscription.updated", unpaid_at,
                    dict(base, status="unpaid"), {"status": "past_due"})]
    sub = dict(base, status="canceled", ended_at=ENDED + 20 * DAY, canceled_at=ENDED + 20 * DAY,
               cancellation_details={"reason": "cancellation_requested", "feedback": None,
                                     "comment": None})
    facts = facts_of(now=NOW, subscriptions=[sub], events=events)
    assert [(c.at, c.rule) for c in facts.churns] == [(unpaid_at, "unpaid"),
                                                      (ENDED + 20 * DAY, "unpaid")]
    assert [s.end for s in facts.spans] == [unpaid_at, ENDED + 20 * DAY]
    assert [s.mrr for s in facts.spans] == [9900, 0]


# ---- payment failures ----------------------------------------------------------------------------


def test_failure_recovered_after_retries() -> None:
    paid = month(1) + 8 * DAY
    inv = cycle_invoice("in_2", month(1), [("si_1", PRO, 1)], paid_at=paid, attempt_count=3)
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", PRO)])], invoices=[inv],
                     invoice_payments=[invoice_payment("inpay_2", "in_2", "pi_2", paid_at=paid)],
                     charges=[charge("ch_1", 9900, created=month(1) + HOUR, pi="pi_2",
                                     status="failed"),
                              charge("ch_2", 9900, created=month(1) + 3 * DAY, pi="pi_2",
                                     status="failed"),
                              charge("ch_3", 9900, created=paid, pi="pi_2")])
    [f] = facts.failures
    assert (f.invoice, f.subscription, f.amount) == ("in_2", "sub_1", 9900)
    assert (f.first_failed_at, f.attempts, f.recovered_at, f.closed_at) == (
        month(1) + HOUR, 3, paid, None)


def test_failure_closed_without_payment() -> None:
    closed = month(1) + 20 * DAY
    inv = cycle_invoice("in_2", month(1), [("si_1", PRO, 1)], status="uncollectible",
                        uncollectible_at=closed, attempt_count=1)
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", PRO)])], invoices=[inv])
    [f] = facts.failures  # no charges synced: attempted and unpaid, failed at finalization
    assert (f.first_failed_at, f.recovered_at, f.closed_at) == (month(1), None, closed)


def test_invoice_paid_at_first_attempt_is_no_failure() -> None:
    inv = cycle_invoice("in_2", month(1), [("si_1", PRO, 1)])
    facts = facts_of(now=NOW, subscriptions=[subscription([item("si_1", PRO)])], invoices=[inv],
                     invoice_payments=[invoice_payment("inpay_2", "in_2", "pi_2",
                                                       paid_at=month(1))],
                     charges=[charge("ch_1", 9900, created=month(1), pi="pi_2")])
    assert facts.failures == ()
