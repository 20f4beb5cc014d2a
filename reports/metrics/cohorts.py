"""Signup cohorts (METRICS.md §6): the customers whose first MRR fell in each month, with
their MRR and how many of them pay at the end of every month since.

A cohort is fixed by the month of a customer's first MRR, in the reporting time zone.
Its cell k is its MRR at the end of the k-th month after that one, over its MRR at the
end of its first month ("new MRR"); a customer who left and came back counts again at
its MRR then, so reactivation shows as a gain (as in ChartMogul's cohort chart). Every
amount is at the last month's end rate (constant currency), so that exchange rates do
not show as retention.

The customers whose first MRR came before the first cohort shown form one more row,
``earlier``: with it, each month's column adds up to the MRR of every customer at that
month's end, to the cent (checked; the last column is the month report's closing MRR).

Computed a batch of customers at a time, as months are (``compute``): each customer's
part needs only its own facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reports.errors import ReconciliationError
from reports.facts import CustomerFacts
from reports.fx import FxTable
from reports.metrics.index import CustomerIndex
from reports.metrics.mrr import convert, sum_in_force
from reports.metrics.report import CohortTable, SignupCohort
from reports.month import Month


def signup_cohorts(batches: Iterable[CustomerFacts], months: Sequence[str], fx: FxTable, timezone: str) -> CohortTable:
    """The signup cohorts of ``months`` (consecutive) from the facts a batch of customers
    at a time.

    Raises ``ReconciliationError`` if a month's cohorts do not add up to its MRR."""
    tally = CohortTally(months, fx, timezone)
    for batch in batches:
        tally.add(CustomerIndex(batch, {}))
    return tally.table()


class CohortTally:
    """The cohorts being added up, a batch of customers at a time (``add``), then their
    table (``table``)."""

    def __init__(self, months: Sequence[str], fx: FxTable, timezone: str) -> None:
        self.months = sorted(Month.parse(m) for m in months)
        if not self.months or self.months[-1] - self.months[0] != len(self.months) - 1:
            raise ValueError(f"signup cohorts need consecutive months, got {list(months)}")
        self.fx, self.tz = fx, timezone
        self.ends = [m.end(timezone) - 1 for m in self.months]
        self.rate_at = self.ends[-1]
        n = len(self.months)
        # Row n is ``earlier``. Each cohort's cells before its own month stay 0 and are
        # cut off in ``table``.
        self.customers = [0] * (n + 1)
        self.mrr = [[0] * n for _ in range(n + 1)]
        self.paying = [[0] * n for _ in range(n + 1)]
        # Every customer's MRR at each month's end, summed apart from the cohorts: what
        # each column must add up to.
        self.total_mrr, self.total_paying = [0] * n, [0] * n

    def add(self, index: CustomerIndex) -> None:
        n = len(self.months)
        for customer, first in index.first_positive.items():
            started = Month.containing(first, self.tz)
            if started > self.months[-1]:
                continue
            row = started - self.months[0] if started >= self.months[0] else n
            self.customers[row] += 1
            spans = index.spans[customer]
            for k in range(0 if row == n else row, n):
                mrr = convert(sum_in_force(spans, self.ends[k], sorted_by_start=True), self.fx, self.rate_at)
                if mrr > 0:
                    self.mrr[row][k] += mrr
                    self.paying[row][k] += 1
        for k, end in enumerate(self.ends):
            for native in index.mrr_of_everyone(end).values():
                self.total_mrr[k] += convert(native, self.fx, self.rate_at)
                self.total_paying[k] += 1

    def table(self) -> CohortTable:
        n = len(self.months)
        rows = tuple(SignupCohort(str(m), self.customers[i], tuple(self.mrr[i][i:]), tuple(self.paying[i][i:]))
                     for i, m in enumerate(self.months))
        earlier = SignupCohort(None, self.customers[n], tuple(self.mrr[n]), tuple(self.paying[n]))
        for k, month in enumerate(self.months):
            column = earlier.mrr[k] + sum(c.mrr[k - i] for i, c in enumerate(rows[: k + 1]))
            if column != self.total_mrr[k]:
                raise ReconciliationError(f"{month} (signup cohorts)", column - self.total_mrr[k], [])
        return CohortTable(tuple(str(m) for m in self.months), self.fx.currency, rows, earlier,
                           tuple(self.total_mrr), tuple(self.total_paying))
