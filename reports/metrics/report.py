"""What a month's report holds (METRICS.md §2-§6), amounts in reporting minor units."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from reports.options import MetricSettings

# A customer's net movement in a month (§2), in the order a report lists them.
NEW = "new"
REACTIVATION = "reactivation"
EXPANSION = "expansion"
CONTRACTION = "contraction"
CHURN = "churn"
SAME_MONTH = "same_month_start_and_cancel"
MOVEMENT_ORDER = {k: i for i, k in enumerate((NEW, REACTIVATION, EXPANSION, CONTRACTION, CHURN, SAME_MONTH))}


@dataclass(frozen=True)
class MrrRollForward:
    start: int
    new: int
    reactivation: int
    expansion: int
    contraction: int
    churn: int
    churn_voluntary: int
    churn_involuntary: int
    fx_impact: int
    end: int


@dataclass(frozen=True)
class Arr:
    start: int
    end: int


@dataclass(frozen=True)
class CustomerCounts:
    start: int
    new: int
    reactivated: int
    expanded: int
    contracted: int
    churned: int
    churned_voluntary: int
    churned_involuntary: int
    end: int
    same_month_start_and_cancel: int
    pending_churn: int


@dataclass(frozen=True)
class Retention:
    """Percentages with two decimals; None when there is no cohort (METRICS.md §6)."""

    nrr: Decimal | None
    grr: Decimal | None
    logo_retention: Decimal | None
    nrr_12m: Decimal | None
    grr_12m: Decimal | None
    nrr_annualized: Decimal | None
    cohort_customers: int = 0
    cohort_start: int = 0  # the cohort's start MRR at the month-end rate (constant currency)
    cohort_end: int = 0
    cohort_12m_customers: int = 0
    logo_churn: Decimal | None = None
    gross_mrr_churn: Decimal | None = None
    net_mrr_churn: Decimal | None = None


@dataclass(frozen=True)
class Revenue:
    recurring: int
    usage: int
    one_time: int
    refunds: int
    credit_notes: int


@dataclass(frozen=True)
class Collections:
    failed_invoices: int
    failed_amount: int
    recovered_amount: int
    past_due_mrr: int
    recovered_invoices: int = 0


@dataclass(frozen=True, slots=True)
class Mover:
    customer: str
    name: str | None
    movement: str
    from_mrr: int
    to_mrr: int
    delta: int
    plan: str | None = None  # "Starter → Pro", or "Pro" when the plans did not change


# Slots: a report keeps every month's movements (180,000 in 36 months at size L).
@dataclass(frozen=True, slots=True)
class Movement:
    """One customer's net movement in the month, for drill-down and the CSV."""

    customer: str
    name: str | None
    movement: str  # new, reactivation, expansion, contraction, churn, same_month_start_and_cancel
    from_mrr: int  # constant currency: both ends at the month-end rate
    to_mrr: int
    delta: int
    churn_kind: str | None = None  # voluntary | involuntary, for churn (and contraction by a cancellation)
    reason: str | None = None  # the §3 rule for a churn, else what changed (quantity, paused, ...)
    derived: bool = False  # the churn kind was inferred from payment state
    days_since_churn: int | None = None  # reactivation: whole days without MRR before it came back


@dataclass(frozen=True)
class SignupCohort:
    """The customers whose first MRR fell in ``month`` (None: before the table's first
    month). ``mrr[k]`` and ``paying[k]``: their MRR, and how many had some, at the end of
    the k-th month from ``month`` (from the table's first month for ``earlier``)."""

    month: str | None
    customers: int
    mrr: tuple[int, ...]
    paying: tuple[int, ...]

    @property
    def new_mrr(self) -> int:
        return self.mrr[0] if self.mrr else 0

    @property
    def net_retention(self) -> tuple[Decimal | None, ...]:
        """Each month's MRR as a percentage of the new MRR (None without new MRR)."""
        return tuple(pct(m, self.new_mrr) for m in self.mrr)

    @property
    def logo_retention(self) -> tuple[Decimal | None, ...]:
        """Each month's paying customers as a percentage of the cohort's customers."""
        return tuple(pct(p, self.customers) for p in self.paying)


@dataclass(frozen=True)
class CohortTable:
    """The cohorts of ``months`` (oldest first, the last the month reported), amounts in
    reporting minor units at the end rate of the last month."""

    months: tuple[str, ...]
    currency: str
    cohorts: tuple[SignupCohort, ...]
    earlier: SignupCohort
    total_mrr: tuple[int, ...]  # every customer's MRR at the end of each of ``months``
    total_paying: tuple[int, ...]


@dataclass(frozen=True)
class Segment:
    """One value of a dimension (a plan, a country, …): the roll-forward and retention of
    the customers in it at the month's start (METRICS.md §6)."""

    value: str
    mrr: MrrRollForward
    customers_start: int  # with MRR at the month's start: the segment's cohort
    customers_end: int
    new: int
    reactivated: int
    churned: int
    nrr: Decimal | None
    grr: Decimal | None
    logo_retention: Decimal | None
    cohort_start: int
    cohort_end: int
    # The segment's share of the month's NRR change, in points: its cohort's net change
    # over the whole cohort's start MRR. A dimension's points add up to NRR − 100.
    nrr_points: Decimal | None


@dataclass(frozen=True)
class SegmentDimension:
    """A dimension's segments, the largest first; they add up to the month's totals."""

    dimension: str  # plan, interval, currency, country, arr_band, metadata.KEY, …
    segments: tuple[Segment, ...]
    moved: int  # customers with MRR at both ends whose segment differs at the end


@dataclass(frozen=True)
class QuarterRetention:
    """Percentages with two decimals; None without a cohort."""

    nrr: Decimal | None
    grr: Decimal | None
    logo_retention: Decimal | None
    cohort_customers: int
    cohort_start: int  # at the quarter's end rate (constant currency)
    cohort_end: int


@dataclass(frozen=True)
class QuarterReport:
    """A quarter, or the part of it begun (its last month then preliminary)."""

    quarter: str
    months: tuple[str, ...]
    currency: str
    timezone: str
    status: str  # the last month's: final | preliminary
    data_as_of: int | None
    mrr: MrrRollForward
    customers_start: int
    customers_end: int
    retention: QuarterRetention
    # The trailing twelve months at the quarter's end: the year-over-year figures.
    nrr_yoy: Decimal | None
    grr_yoy: Decimal | None


def pct(num: int | Fraction, den: int) -> Decimal | None:
    """``num / den`` as a percentage with two decimals (half-even), None without a base."""
    if den == 0:
        return None
    hundredths = round(Fraction(num) * 10000 / den)
    return Decimal(hundredths).scaleb(-2)


@dataclass(frozen=True)
class MonthReport:
    """One month, everything ``nrr report`` shows, amounts in reporting minor units."""

    month: str
    currency: str
    timezone: str
    status: str  # final | preliminary
    data_as_of: int | None
    account_name: str | None
    period_start: int
    period_end: int
    mrr: MrrRollForward
    arr: Arr
    customers: CustomerCounts
    retention: Retention
    revenue: Revenue
    collections: Collections
    top_movers: tuple[Mover, ...]
    movements: tuple[Movement, ...]
    settings: MetricSettings
    pending_churn_mrr: int = 0
    fx_rates: tuple[tuple[str, Decimal, Decimal], ...] = field(default=())  # (currency, start rate, end rate)
    # The signup cohorts of the year to the month, when asked (the email's heatmap).
    cohorts: CohortTable | None = None
    # The month's segments (SEGMENT_BY), when asked: the report of a month on its own.
    segments: tuple[SegmentDimension, ...] | None = None
    # The quarter the month closes (March, June, …), when asked: what the email shows.
    quarter: QuarterReport | None = None
    # Set for a report of other accounts than the key's own: a connected account's id, or
    # ``all`` (every account consolidated); its subject then names it.
    scope: str | None = None
