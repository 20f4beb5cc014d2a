"""A quarter (``nrr report --quarter 2026-Q3``): its MRR roll-forward, the sum of its
months', and the retention of the customers who had MRR at its start (METRICS.md §6,
the cohort taken over three months), beside the year-over-year figures at its end.

The months' roll-forwards chain (a month starts at the rate the one before ended at), so
their sum starts at the quarter's start, ends at its end and reconciles to the cent,
checked like each month's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from reports.errors import ReconciliationError
from reports.metrics.report import MonthReport, MrrRollForward, QuarterReport, QuarterRetention, pct
from reports.metrics.retention import Trailing

# The roll-forward's flows: added up over the months (start and end are the ends').
_FLOWS = tuple(f.name for f in fields(MrrRollForward) if f.name not in ("start", "end"))


def quarter_report(quarter: str, months: Sequence[MonthReport], cohort: Trailing) -> QuarterReport:
    """The quarter from its months' reports (oldest first) and the retention of the
    customers with MRR at its start (``PeriodRetention`` over it).

    Raises ``ReconciliationError`` if the summed roll-forward does not add up."""
    if not months:
        raise ValueError("a quarter needs at least one month")
    first, last = months[0], months[-1]
    flows = {name: sum(getattr(m.mrr, name) for m in months) for name in _FLOWS}
    mrr = MrrRollForward(start=first.mrr.start, end=last.mrr.end, **flows)
    moved = mrr.start + mrr.new + mrr.reactivation + mrr.expansion - mrr.contraction - mrr.churn + mrr.fx_impact
    if moved != mrr.end:
        raise ReconciliationError(quarter, moved - mrr.end, [])
    return QuarterReport(
        quarter=quarter, months=tuple(m.month for m in months), currency=last.currency, timezone=last.timezone,
        status=last.status, data_as_of=last.data_as_of, mrr=mrr,
        customers_start=first.customers.start, customers_end=last.customers.end,
        retention=QuarterRetention(
            nrr=pct(cohort.end, cohort.start), grr=pct(cohort.gross, cohort.start),
            logo_retention=pct(cohort.kept, cohort.customers), cohort_customers=cohort.customers,
            cohort_start=cohort.start, cohort_end=cohort.end,
        ),
        nrr_yoy=last.retention.nrr_12m, grr_yoy=last.retention.grr_12m,
    )
