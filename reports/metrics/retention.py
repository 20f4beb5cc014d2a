"""Retention (METRICS.md §6): NRR, GRR and logo retention of the month's cohort, over the
trailing twelve months (signup cohorts: ``reports.metrics.cohorts``).

Amounts are in constant currency (one rate for both ends) so that FX moves do not show
as retention.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import TypeVar

from reports.fx import FxTable
from reports.metrics.index import CustomerIndex
from reports.metrics.mrr import NO_MRR, convert
from reports.metrics.report import Collections, Retention, pct
from reports.metrics.rollforward import Tally


@dataclass(frozen=True)
class Trailing:
    """The retention of the customers who had MRR at an opening instant, at a closing one."""

    customers: int
    start: int
    end: int
    gross: int
    kept: int = 0  # of ``customers``, those with MRR at the closing instant


def cohort_over(index: CustomerIndex, fx: FxTable, opening: int, closing: int) -> Trailing:
    """§6: the customers with MRR at ``opening``, their MRR then vs at ``closing``: the
    trailing twelve months (``opening`` the instant before M-11), or a quarter.

    Both ends at the rate of ``closing`` (constant currency); churned customers count 0
    and a customer who left and came back counts at its MRR at ``closing``.
    """
    customers = start_sum = end_sum = gross = kept = 0
    at_first, at_closing = index.mrr_of_everyone(opening), index.mrr_of_everyone(closing)
    for cus in index.spans:
        then = convert(at_first.get(cus, NO_MRR), fx, closing)
        if then <= 0:
            continue
        now = convert(at_closing.get(cus, NO_MRR), fx, closing)
        customers += 1
        start_sum += then
        end_sum += now
        gross += min(then, now)
        kept += now > 0
    return Trailing(customers, start_sum, end_sum, gross, kept)


class PeriodRetention:
    """``cohort_over`` added up a batch of customers at a time (``total``)."""

    def __init__(self, opening: int, closing: int, fx: FxTable) -> None:
        self.opening, self.closing, self.fx = opening, closing, fx
        self.total = Trailing(0, 0, 0, 0, 0)

    def add(self, index: CustomerIndex) -> None:
        self.total = plus(self.total, cohort_over(index, self.fx, self.opening, self.closing))


_Summable = TypeVar("_Summable", Collections, Trailing)


def plus(a: _Summable, b: _Summable) -> _Summable:
    """Two tallies of integers added field by field."""
    return replace(a, **{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a)})


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
