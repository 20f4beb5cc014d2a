"""Voluntary or involuntary (METRICS.md §3): every churn is classified here, and only here.

Three questions, one function each, first match wins within each:
- a subscription ended (or its cancellation is recognised): ``classify_end``, from what
  was known when it ended; normalization reads that evidence out of Stripe's objects;
- payment state alone took its MRR away (the past-due grace rule, turning ``unpaid``):
  ``classify_payment_state``; normalization finds when;
- a customer's MRR fell to 0 in a month with no churn event to say why (a pause, a 100 %
  discount, a $0 plan): ``classify_drop_to_zero``, asked by the metrics.
A churn fact carries its verdict (``ChurnEvent.kind``, ``rule``, ``derived``); the
metrics read it and decide nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reports.facts import Cause, ChurnKind


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: ChurnKind
    rule: str  # the §3 rule that decided (a churn's ``rule``, a movement's ``reason``)
    derived: bool  # inferred from payment state or circumstance rather than said by Stripe


@dataclass(frozen=True)
class EndState:
    """What the MRR timeline knows about a subscription just before it ended."""

    past_due_rule: bool  # MRR already zeroed by the grace rule (§1.2)
    unpaid: bool  # status path past_due → unpaid
    past_due: bool  # status past_due, or an unpaid failed invoice


def classify_end(cancellation_reason: str | None, state: EndState, latest_invoice_owed: bool) -> Verdict:
    """§3 rules 1-6 for a subscription's end.

    ``cancellation_reason`` is Stripe's ``cancellation_details.reason``;
    ``latest_invoice_owed``: its latest invoice was open or uncollectible.
    """
    if cancellation_reason == "payment_failed":
        return Verdict(ChurnKind.INVOLUNTARY, "payment_failed", False)
    if cancellation_reason == "payment_disputed":
        return Verdict(ChurnKind.INVOLUNTARY, "payment_disputed", False)
    if state.past_due_rule:
        return Verdict(ChurnKind.INVOLUNTARY, "past_due", False)
    if state.unpaid:
        return Verdict(ChurnKind.INVOLUNTARY, "unpaid", False)
    if cancellation_reason == "cancellation_requested":
        if state.past_due or latest_invoice_owed:
            return Verdict(ChurnKind.INVOLUNTARY, "cancellation_requested_unpaid", True)
        return Verdict(ChurnKind.VOLUNTARY, "cancellation_requested", False)
    return Verdict(ChurnKind.INVOLUNTARY, "other", True)


def classify_payment_state(rule: Literal["past_due", "unpaid"]) -> Verdict:
    """§3 rule 3: MRR taken away by the past-due grace rule (§1.2) or by turning unpaid."""
    return Verdict(ChurnKind.INVOLUNTARY, rule, False)


# Why an item fell to 0 when no churn event says so (the reason column of a churn).
_ZERO_REASONS = {
    Cause.PAST_DUE: "past_due",
    Cause.PAUSE: "paused",
    Cause.DISCOUNT_START: "discount",
    Cause.PRICE_CHANGE: "zero_price",
    Cause.QUANTITY: "zero_quantity",
}


def classify_drop_to_zero(cause: Cause | None) -> Verdict:
    """A customer's MRR fell to 0 with no churn event in the month; ``cause`` is that of
    the month's last span that set an item to 0 (None: none did).

    Rule 0 makes a pause voluntary (nobody failed to pay); rule 3 makes past due
    involuntary; anything else (a 100 % discount, a $0 plan) falls to rule 6
    (involuntary). All but the pause are flagged derived: no churn event says so.
    """
    if cause == Cause.PAUSE:
        return Verdict(ChurnKind.VOLUNTARY, _ZERO_REASONS[cause], False)
    reason = "unknown" if cause is None else _ZERO_REASONS.get(cause, str(cause))
    return Verdict(ChurnKind.INVOLUNTARY, reason, True)
