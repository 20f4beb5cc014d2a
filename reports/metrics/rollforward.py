"""The MRR roll-forward (METRICS.md §2): each customer's net movement in a month, added up
into buckets that must explain the month's change to the minor unit.

A customer's MRR at the start of the month is ``a`` and at its end ``b``, both in constant
currency (the month-end rate); the change of rate on ``a`` is the FX impact. A churn's
kind is read from its churn event, or asked of ``reports.churn`` when no event explains
the drop: nothing here decides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.churn import classify_drop_to_zero
from reports.errors import ReconciliationError
from reports.facts import ChurnKind
from reports.fx import FxTable
from reports.metrics.index import CustomerIndex
from reports.metrics.mrr import NO_MRR, convert, sum_in_force
from reports.metrics.report import (
    CHURN,
    CONTRACTION,
    EXPANSION,
    NEW,
    REACTIVATION,
    SAME_MONTH,
    Movement,
    MrrRollForward,
)


@dataclass
class Tally:
    """A month's buckets, summed over customers; also the month's cohort (customers with
    MRR at its start) that retention reads (§6)."""

    new: int = 0
    reactivation: int = 0
    expansion: int = 0
    contraction: int = 0
    churn: int = 0
    churn_voluntary: int = 0
    churn_involuntary: int = 0
    start: int = 0  # Σ a at the month-start rate
    end: int = 0  # Σ b at the month-end rate
    fx_impact: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    cohort: int = 0
    cohort_start: int = 0
    cohort_end: int = 0
    cohort_gross: int = 0  # Σ min(a, b) over the cohort
    cohort_kept: int = 0  # cohort customers still with MRR at the end
    end_customers: int = 0

    def net(self) -> int:
        return self.new + self.reactivation + self.expansion - self.contraction - self.churn

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


@dataclass(frozen=True, slots=True)
class CustomerMonth:
    """One customer's month as the roll-forward saw it: what segments add up again."""

    customer: str
    a_start: int  # MRR at the opening, at the opening's rate
    a: int  # the same at the month-end rate
    b: int  # MRR at the closing
    movement: Movement | None


def roll_forward(index: CustomerIndex, fx: FxTable, start: int, end: int, tally: Tally,
                 broken: list[str], rows: list[CustomerMonth] | None = None) -> list[Movement]:
    """The roll-forward of the batch's customers over the month ``[start, end)``, added to
    ``tally``; returns their movements. A customer whose buckets do not explain its change
    is added to ``broken``. With ``rows``, each customer's month is appended to it."""
    opening, closing = start - 1, end - 1
    movements: list[Movement] = []
    at_opening, at_closing = index.mrr_of_everyone(opening), index.mrr_of_everyone(closing)
    for cus in sorted(index.spans):
        a_native, b_native = at_opening.get(cus, NO_MRR), at_closing.get(cus, NO_MRR)
        a_start = convert(a_native, fx, opening)
        a, b = convert(a_native, fx, closing), convert(b_native, fx, closing)
        movement = net_movement(index, cus, a, b, start, end)
        if movement is not None:
            movements.append(movement)
        if not add_customer(tally, a_start, a, b, movement):
            broken.append(cus)
        if rows is not None:
            rows.append(CustomerMonth(cus, a_start, a, b, movement))
    return movements


def add_customer(tally: Tally, a_start: int, a: int, b: int, movement: Movement | None) -> bool:
    """One customer's month into ``tally``; False if its buckets do not explain its change."""
    tally.start += a_start
    tally.end += b
    tally.fx_impact += a - a_start
    before = tally.net()
    if movement is not None:
        add_movement(tally, movement)
    if a > 0:
        tally.cohort += 1
        tally.cohort_start += a
        tally.cohort_end += b
        tally.cohort_gross += min(a, b)
        tally.cohort_kept += b > 0
    tally.end_customers += b > 0
    # Per customer, what the buckets received must explain the whole change.
    return b == a_start + (tally.net() - before) + (a - a_start)


def net_movement(index: CustomerIndex, cus: str, a: int, b: int, start: int, end: int) -> Movement | None:
    """METRICS.md §2: one customer's net movement from a (start) to b (end)."""
    name = index.names.get(cus)
    if a == 0 and b == 0:
        if index.positive_during(cus, start, end):
            return Movement(cus, name, SAME_MONTH, 0, 0, 0, reason=_reason(index, cus, start, end))
        return None
    if a == b:
        return None
    if a == 0:
        if index.first_positive.get(cus, start) >= start:
            return Movement(cus, name, NEW, 0, b, b, reason=_reason(index, cus, start, end))
        return Movement(cus, name, REACTIVATION, 0, b, b, reason=_reason(index, cus, start, end),
                        days_since_churn=index.days_without_mrr(cus, start, end))
    if b > a:
        return Movement(cus, name, EXPANSION, a, b, b - a, reason=_reason(index, cus, start, end))
    event = index.latest_churn(cus, start, end)
    if b > 0:
        kind = None if event is None else str(event.kind)
        return Movement(cus, name, CONTRACTION, a, b, b - a, churn_kind=kind, reason=_reason(index, cus, start, end),
                        derived=bool(event and event.derived))
    if event is not None:
        return Movement(cus, name, CHURN, a, 0, -a, churn_kind=str(event.kind), reason=event.rule,
                        derived=event.derived)
    # No churn event: the drop came from the spans themselves (past-due rule, pause,
    # 100 % discount, $0 plan).
    verdict = classify_drop_to_zero(index.last_zero_cause(cus, start, end))
    return Movement(cus, name, CHURN, a, 0, -a, churn_kind=str(verdict.kind), reason=verdict.rule,
                    derived=verdict.derived)


def _reason(index: CustomerIndex, cus: str, start: int, end: int) -> str | None:
    words = index.causes_during(cus, start, end)
    return "+".join(words) if words else None


def add_movement(tally: Tally, m: Movement) -> None:
    """One movement into its bucket (and a churn into its kind's)."""
    tally.count(m.movement)
    if m.movement == NEW:
        tally.new += m.delta
    elif m.movement == REACTIVATION:
        tally.reactivation += m.delta
    elif m.movement == EXPANSION:
        tally.expansion += m.delta
    elif m.movement == CONTRACTION:
        tally.contraction -= m.delta
    elif m.movement == CHURN:
        tally.churn -= m.delta
        # A churn always carries its kind (``net_movement``); one without it would fail
        # the reconciliation (churn = voluntary + involuntary) rather than be guessed.
        if m.churn_kind == ChurnKind.VOLUNTARY:
            tally.churn_voluntary -= m.delta
            tally.count("churn_voluntary")
        elif m.churn_kind == ChurnKind.INVOLUNTARY:
            tally.churn_involuntary -= m.delta
            tally.count("churn_involuntary")


def as_roll_forward(t: Tally) -> MrrRollForward:
    """A tally's buckets as a report shows them."""
    return MrrRollForward(
        start=t.start, new=t.new, reactivation=t.reactivation, expansion=t.expansion, contraction=t.contraction,
        churn=t.churn, churn_voluntary=t.churn_voluntary, churn_involuntary=t.churn_involuntary,
        fx_impact=t.fx_impact, end=t.end,
    )


def reconcile(month: str, t: Tally, broken: list[str]) -> None:
    """The §2 identity, to the minor unit; a report that does not reconcile is an error."""
    rolled = t.start + t.new + t.reactivation + t.expansion - t.contraction - t.churn + t.fx_impact
    if rolled != t.end or broken or t.churn != t.churn_voluntary + t.churn_involuntary:
        raise ReconciliationError(month, t.end - rolled, broken)


def pending_churn(index: CustomerIndex, fx: FxTable, start: int, end: int) -> tuple[int, int]:
    """Customers (and the MRR) with a cancellation asked for but not yet effective (§1.10)."""
    closing = end - 1
    customers: set[str] = set()
    amount = 0
    seen: set[str] = set()
    for cus, events in index.churns.items():
        for e in events:
            if e.requested_at is None or not (e.requested_at <= closing < e.at) or e.subscription in seen:
                continue
            seen.add(e.subscription)
            mrr = convert(sum_in_force(index.by_subscription.get(e.subscription, ()), closing), fx, closing)
            if mrr > 0:
                customers.add(cus)
                amount += mrr
    return len(customers), amount
