"""Computing months: the facts a batch of customers at a time, added to every month asked,
then each month's report (METRICS.md §2-§6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

from reports.facts import CustomerFacts, Facts, Plan, RevenueLine
from reports.fx import FxTable
from reports.metrics.collections import collections
from reports.metrics.index import CustomerIndex
from reports.metrics.movers import LargestMoves
from reports.metrics.report import (
    CHURN,
    CONTRACTION,
    EXPANSION,
    MOVEMENT_ORDER,
    NEW,
    REACTIVATION,
    SAME_MONTH,
    Arr,
    Collections,
    CustomerCounts,
    MonthReport,
    Movement,
    Revenue,
)
from reports.metrics.retention import Trailing, cohort_over, plus, retention
from reports.metrics.revenue import billed
from reports.metrics.rollforward import (
    CustomerMonth,
    Tally,
    as_roll_forward,
    pending_churn,
    reconcile,
    roll_forward,
)
from reports.metrics.segments import SegmentSpec, SegmentTally
from reports.month import Month
from reports.options import MetricSettings


def compute_month(
    facts: Facts,
    month: str,
    settings: MetricSettings,
    fx: FxTable,
    *,
    status: str = "final",
    data_as_of: int | None = None,
) -> MonthReport:
    """The month's roll-forward, retention, revenue and collections (METRICS.md §2-§6).

    Raises ``ReconciliationError`` if the roll-forward does not add up to the cent, and
    ``MissingRate`` if a currency in play has no rate.
    """
    return history(facts, [month], settings, fx, status=status, data_as_of=data_as_of)[0]


def history(
    facts: Facts,
    months: Sequence[str],
    settings: MetricSettings,
    fx: FxTable,
    *,
    status: str = "final",
    data_as_of: int | None = None,
) -> list[MonthReport]:
    """One report per month (a 13-month trend), sharing one index of the facts."""
    return compute_months([facts.of_customers()], [(m, status) for m in months], settings, fx,
                          revenue=facts.revenue, plans=facts.plans, account_name=facts.account_name,
                          data_as_of=data_as_of)


def compute_months(
    batches: Iterable[CustomerFacts],
    months: Sequence[tuple[str, str]],
    settings: MetricSettings,
    fx: FxTable,
    *,
    revenue: Iterable[RevenueLine],
    plans: Iterable[Plan],
    account_name: str | None,
    data_as_of: int | None,
    tallies: Sequence[BatchTally] = (),
    segments: SegmentSpec | None = None,
) -> list[MonthReport]:
    """A report for each ``(month, status)``, from the facts a batch of customers at a time;
    each of ``tallies`` (signup cohorts, a quarter's retention) is given every batch too.
    With ``segments``, the last month's report holds its segments.

    Every number of a month is a sum over customers, and each customer's part needs only
    that customer's facts (its whole history: new or reactivated, days since churn, the
    trailing twelve months); so each batch is read once, added to every month, and
    dropped: memory holds one batch and what the reports keep (their movements), however
    large the account. The batches must hold each customer's facts whole, in one batch;
    the result does not depend on how customers are split (tested). ``revenue`` and
    ``plans`` are account-wide.
    """
    plans = tuple(plans)
    work = [_MonthWork(Month.parse(m), status, settings) for m, status in months]
    if segments is not None and work:
        last = work[-1]
        last.segments = SegmentTally(segments, plans, last.month, last.opening, last.closing)
    plan_names = {p.price: p.name for p in plans}
    currencies: set[str] = set()
    for batch in batches:
        index = CustomerIndex(batch, plan_names)
        currencies |= index.currencies
        for month in work:
            month.add(index, fx)
        for tally in tallies:
            tally.add(index)
    revenue_by_month = billed(revenue, [(m.start, m.end, m.month) for m in work], fx)
    return [month.report(revenue_by_month[month.month], fx, currencies, account_name, data_as_of) for month in work]


class BatchTally(Protocol):
    """What adds up, a batch of customers at a time, beside the months."""

    def add(self, index: CustomerIndex) -> None: ...


class _MonthWork:
    """One month being computed: what the batches of customers add up to, then its report."""

    def __init__(self, month: Month, status: str, settings: MetricSettings) -> None:
        if status not in ("final", "preliminary"):
            raise ValueError(f"status must be final or preliminary, got {status!r}")
        self.month, self.status, self.settings = str(month), status, settings
        self.start, self.end = month.bounds(settings.timezone)
        self.opening, self.closing = self.start - 1, self.end - 1
        # The trailing twelve months start at the opening of M-11 (§6).
        self.year_ago = (month - 11).start(settings.timezone) - 1
        self.tally = Tally()
        self.movements: list[Movement] = []
        self.broken: list[str] = []
        self.pending_customers = self.pending_mrr = 0
        self.r12 = Trailing(0, 0, 0, 0, 0)
        self.collections = Collections(0, 0, 0, 0, 0)
        self.movers = LargestMoves(self.opening, self.closing)
        self.segments: SegmentTally | None = None

    def add(self, index: CustomerIndex, fx: FxTable) -> None:
        """Add one batch of customers."""
        rows: list[CustomerMonth] | None = [] if self.segments is not None else None
        movements = roll_forward(index, fx, self.start, self.end, self.tally, self.broken, rows)
        if self.segments is not None and rows is not None:
            self.segments.add(index, rows)
        customers, mrr = pending_churn(index, fx, self.start, self.end)
        self.pending_customers += customers
        self.pending_mrr += mrr
        self.r12 = plus(self.r12, cohort_over(index, fx, self.year_ago, self.closing))
        self.collections = plus(self.collections, collections(index, fx, self.start, self.end))
        self.movers.add(index, movements)
        self.movements += movements

    def report(
        self, revenue: Revenue, fx: FxTable, currencies: set[str], account_name: str | None, data_as_of: int | None
    ) -> MonthReport:
        tally, opening, closing = self.tally, self.opening, self.closing
        reconcile(self.month, tally, sorted(self.broken))
        ordered = tuple(sorted(self.movements, key=lambda m: (MOVEMENT_ORDER[m.movement], -abs(m.delta), m.customer)))
        return MonthReport(
            month=self.month,
            currency=fx.currency,
            timezone=self.settings.timezone,
            status=self.status,
            data_as_of=data_as_of,
            account_name=account_name,
            period_start=self.start,
            period_end=self.end,
            mrr=as_roll_forward(tally),
            arr=Arr(start=tally.start * 12, end=tally.end * 12),
            customers=CustomerCounts(
                start=tally.cohort, new=tally.counts.get(NEW, 0), reactivated=tally.counts.get(REACTIVATION, 0),
                expanded=tally.counts.get(EXPANSION, 0), contracted=tally.counts.get(CONTRACTION, 0),
                churned=tally.counts.get(CHURN, 0), churned_voluntary=tally.counts.get("churn_voluntary", 0),
                churned_involuntary=tally.counts.get("churn_involuntary", 0), end=tally.end_customers,
                same_month_start_and_cancel=tally.counts.get(SAME_MONTH, 0), pending_churn=self.pending_customers,
            ),
            retention=retention(tally, self.r12),
            revenue=revenue,
            collections=self.collections,
            top_movers=self.movers.top(tally.start),
            movements=ordered,
            settings=self.settings,
            pending_churn_mrr=self.pending_mrr,
            fx_rates=tuple((c, _rate_or_zero(fx, c, opening), _rate_or_zero(fx, c, closing))
                           for c in sorted(currencies - {fx.currency})),
            segments=None if self.segments is None else self.segments.table(tally),
        )


def _rate_or_zero(fx: FxTable, currency: str, at: int) -> Decimal:
    # Only for the footer: a currency with no rate and no MRR this month is not an error.
    return fx.rate(currency, at) if currency in fx.currencies() else Decimal(0)
