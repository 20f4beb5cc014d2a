"""The metrics core: facts and a month in, a ``MonthReport`` out (METRICS.md §2-§6).

Pure: no I/O, no clock; the facts, the month, the settings, the exchange rates, the
report status and the data-as-of instant are all passed in.

Instants and months. An event at instant ``t`` belongs to the month M with
``start(M) <= t < start(M+1)`` in the reporting time zone. "MRR at the start of M" is the
MRR in force just before M's first instant (``start(M) - 1``, the state M-1 closed with)
and "MRR at the end of M" the MRR in force at M's last instant (``start(M+1) - 1``); so the
end of one month is exactly the start of the next, and a subscription starting at
00:00:00 on the 1st is new in that month, not the one before.

One module per concern: ``compute`` (months computed a batch of customers at a time),
``rollforward`` (§2), ``retention`` (§6), ``cohorts`` (§6's signup cohorts), ``segments``
(§6's segments), ``revenue`` (§4), ``collections`` (§3 tracking), ``movers`` (top movers); under them ``index`` (the facts
per customer), ``mrr`` (MRR at an instant) and ``report`` (what a report holds). Month
arithmetic is ``reports.month``, the settings ``reports.options``, the churn kind
``reports.churn``.
"""

from reports.metrics.cohorts import CohortTally, signup_cohorts
from reports.metrics.compute import BatchTally, compute_month, compute_months, history
from reports.metrics.movers import MOVER_THRESHOLD, TOP_MOVERS
from reports.metrics.mrr import customer_mrr, mrr_by_customer
from reports.metrics.report import (
    CHURN,
    CONTRACTION,
    EXPANSION,
    NEW,
    REACTIVATION,
    SAME_MONTH,
    Arr,
    CohortTable,
    Collections,
    CustomerCounts,
    MonthReport,
    Movement,
    Mover,
    MrrRollForward,
    Retention,
    Revenue,
    SignupCohort,
)
from reports.options import MetricSettings

__all__ = [
    "CHURN",
    "CONTRACTION",
    "EXPANSION",
    "MOVER_THRESHOLD",
    "NEW",
    "REACTIVATION",
    "SAME_MONTH",
    "TOP_MOVERS",
    "Arr",
    "BatchTally",
    "CohortTable",
    "CohortTally",
    "Collections",
    "CustomerCounts",
    "MetricSettings",
    "MonthReport",
    "Movement",
    "Mover",
    "MrrRollForward",
    "Retention",
    "Revenue",
    "SignupCohort",
    "compute_month",
    "compute_months",
    "customer_mrr",
    "history",
    "mrr_by_customer",
    "signup_cohorts",
]
