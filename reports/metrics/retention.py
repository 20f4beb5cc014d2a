"""Retention (METRICS.md §6): NRR, GRR and logo retention of the month's cohort, over the
trailing twelve months (signup cohorts: ``reports.metrics.cohorts``).

Amounts are in constant currency (one rate for both ends) so that FX moves do not show
as retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from reports.fx import FxTable
from reports.metrics.index import CustomerIndex
from reports.metrics.mrr import NO_MRR, convert
from reports.metrics.report import Retention
from reports.metrics.rollforward import Tally


def pct(num: int | Fraction, den: int) -> Decimal | None:
    """``num / den`` as a percentage with two decimals (half-even), None without a base."""
    if den == 0:
        return None
    hundredths = round(Fraction(num) * 10000 / den)
    return Decimal(hundredths).scaleb(-2)


@dataclass(frozen=True)
class Trailing:
    customers: int
    start: int
    end: int
    gross: int


def trailing_12m(index: CustomerIndex, fx: FxTable, year_ago: int, closing: int) -> Trailing:
    """§6: customers with MRR at the start of M-11 (``year_ago``, the instant before it),
    their MRR then vs at the end of M.

    Both ends at the month-end rate of M (constant currency); churned customers count 0
    and a customer who left and came back counts at its current MRR.
    """
    customers = start_sum = end_sum = gross = 0
    at_first, at_closing = index.mrr_of_everyone(year_ago), index.mrr_of_everyone(closing)
    for cus in index.spans:
        then = convert(at_first.get(cus, NO_MRR), fx, closing)
        if then <= 0:
            continue
        now = convert(at_closing.get(cus, NO_MRR), fx, closing)
        customers += 1
        start_sum += then
        end_sum += now
        gross += min(then, now)
    return Trailing(customers, start_sum, end_sum, gross)


def retention(t: Tally, r12: Trailing) -> Retention:
    """The month's retention from its cohort (in ``t``) and its trailing twelve months."""
    nrr = pct(t.cohort_end, t.cohort_start)
    annualized = None
    if t.cohort_start:
        # Compound the exact monthly ratio, not the rounded percentage.
        annualized = pct(Fraction(t.cohort_end, t.cohort_start) ** 12, 1)
    return Retention(
        nrr=nrr,
        grr=pct(t.cohort_gross, t.cohort_start),
        logo_retention=pct(t.cohort_kept, t.cohort),
        nrr_12m=pct(r12.end, r12.start),
        grr_12m=pct(r12.gross, r12.start),
        nrr_annualized=annualized,
        cohort_customers=t.cohort,
        cohort_start=t.cohort_start,
        cohort_end=t.cohort_end,
        cohort_12m_customers=r12.customers,
        logo_churn=pct(t.cohort - t.cohort_kept, t.cohort),
        gross_mrr_churn=pct(t.cohort_start - t.cohort_gross, t.cohort_start),
        net_mrr_churn=pct(t.cohort_start - t.cohort_end, t.cohort_start),
    )
