"""The metrics core: facts and a month in, a ``MonthReport`` out (METRICS.md §2-§6).

Pure: no I/O, no clock; the facts, the month, the settings, the exchange rates, the
report status and the data-as-of instant are all passed in.

Instants and months. An event at instant ``t`` belongs to the month M with
``start(M) <= t < start(M+1)`` in the reporting time zone. "MRR at the start of M" is the
MRR in force just before M's first instant (``start(M) - 1``, the state M-1 closed with)
and "MRR at the end of M" the MRR in force at M's last instant (``start(M+1) - 1``); so the
end of one month is exactly the start of the next, and a subscription starting at
00:00:00 on the 1st is new in that month, not the one before.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports.errors import BadMonth, BadSetting, ReconciliationError
from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    CustomerFacts,
    Facts,
    MrrSpan,
    PaymentFailure,
    Plan,
    RevenueKind,
    RevenueLine,
)
from reports.fx import FxTable

DISCOUNT_MODES = ("all_active", "forever_only", "none")
CHURN_RECOGNITIONS = ("period_end", "request_time")
USAGE_IN_MRR = ("none", "trailing_3m_average")
TOP_MOVERS = 5
# Top movers hide changes smaller than this share of the month's start MRR (0.5 %).
MOVER_THRESHOLD = Fraction(5, 1000)

NEW = "new"
REACTIVATION = "reactivation"
EXPANSION = "expansion"
CONTRACTION = "contraction"
CHURN = "churn"
SAME_MONTH = "same_month_start_and_cancel"
_MOVEMENT_ORDER = {k: i for i, k in enumerate((NEW, REACTIVATION, EXPANSION, CONTRACTION, CHURN, SAME_MONTH))}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MetricSettings:
    """The metric settings in force (METRICS.md); printed in every report.

    ``discount_mode``, ``usage_in_mrr`` and ``past_due_grace_days`` shape the MRR spans
    themselves (the normalizer applies them); the metrics only carry them to the report.
    """

    discount_mode: str = "all_active"
    churn_recognition: str = "period_end"
    past_due_grace_days: int = 30
    usage_in_mrr: str = "none"
    currency: str = "usd"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        _choice("DISCOUNT_MODE", self.discount_mode, DISCOUNT_MODES)
        _choice("CHURN_RECOGNITION", self.churn_recognition, CHURN_RECOGNITIONS)
        _choice("USAGE_IN_MRR", self.usage_in_mrr, USAGE_IN_MRR)
        if isinstance(self.past_due_grace_days, bool) or not isinstance(self.past_due_grace_days, int) \
                or self.past_due_grace_days < 0:
            raise BadSetting(f"PAST_DUE_GRACE_DAYS must be a whole number of days >= 0, got {self.past_due_grace_days!r}")
        if not re.fullmatch(r"[a-zA-Z]{3}", self.currency):
            raise BadSetting(f"REPORT_CURRENCY must be a three-letter ISO code like usd, got {self.currency!r}")
        zone(self.timezone)

    def metric_dict(self) -> dict[str, str | int]:
        """The four metric settings, as the JSON ``settings`` object shows them."""
        return {
            "discount_mode": self.discount_mode,
            "churn_recognition": self.churn_recognition,
            "past_due_grace_days": self.past_due_grace_days,
            "usage_in_mrr": self.usage_in_mrr,
        }


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadSetting(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a one-line ``BadSetting`` naming REPORT_TIMEZONE."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSetting(f"REPORT_TIMEZONE must be an IANA time zone like Europe/Paris, got {name!r}") from None


# --------------------------------------------------------------------------- months

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def parse_month(text: str) -> str:
    """Validate a ``--month`` value; returns it as ``YYYY-MM``."""
    cleaned = text.strip()
    m = _MONTH.fullmatch(cleaned)
    if not m or not 1970 <= int(m.group(1)) <= 9998:
        raise BadMonth(f"--month must look like 2026-04, got {text!r}")
    return cleaned


def _ym(month: str) -> tuple[int, int]:
    y, m = parse_month(month).split("-")
    return int(y), int(m)


def add_months(month: str, n: int) -> str:
    """``add_months("2026-01", -1) == "2025-12"``."""
    y, m = _ym(month)
    index = y * 12 + (m - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_range(last: str, count: int) -> list[str]:
    """The ``count`` months ending with ``last``, oldest first (13 for a trend chart)."""
    return [add_months(last, k - count + 1) for k in range(count)]


def month_bounds(month: str, tz: str) -> tuple[int, int]:
    """Epoch seconds of the first instant of ``month`` and of the month after, in ``tz``.

    ``fold=0`` picks the first occurrence of an ambiguous midnight and, for a midnight
    skipped by a DST jump, the instant the day actually begins.
    """
    zi = zone(tz)
    y, m = _ym(month)
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    start = int(datetime(y, m, 1, tzinfo=zi).timestamp())
    end = int(datetime(ny, nm, 1, tzinfo=zi).timestamp())
    return start, end


def month_of(at: int, tz: str) -> str:
    """The month (``YYYY-MM``) containing instant ``at`` in ``tz``."""
    local = datetime.fromtimestamp(at, tz=UTC).astimezone(zone(tz))
    return f"{local.year:04d}-{local.month:02d}"


def last_complete_month(now: int, tz: str) -> str:
    """The default ``--month``: the month before the one containing ``now``."""
    return add_months(month_of(now, tz), -1)


# --------------------------------------------------------------------------- MRR at an instant


def _sum_in_force(spans: Iterable[MrrSpan], at: int, *, sorted_by_start: bool = False) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in spans:
        if s.start > at:
            if sorted_by_start:
                break
            continue
        if s.mrr and (s.end is None or at < s.end):
            out[s.currency] = out.get(s.currency, 0) + s.mrr
    return out


def customer_mrr(facts: Facts, customer: str, at: int) -> dict[str, int]:
    """A customer's MRR per currency from the spans in force at ``at`` (start <= at < end)."""
    return _sum_in_force((s for s in facts.spans if s.customer == customer), at)


def mrr_by_customer(facts: Facts, at: int) -> dict[str, dict[str, int]]:
    """Every customer with MRR at ``at``: ``{customer: {currency: minor units}}``."""
    out: dict[str, dict[str, int]] = {}
    for s in facts.spans:
        if s.mrr and s.start <= at and (s.end is None or at < s.end):
            per = out.setdefault(s.customer, {})
            per[s.currency] = per.get(s.currency, 0) + s.mrr
    return out


def _convert(native: dict[str, int], fx: FxTable, at: int) -> int:
    # Convert each currency, then add integers: rounding happens per customer and
    # currency, and the roll-forward adds exactly the integers it reports.
    if not native:
        return 0
    return sum(amount if cur == fx.currency else _convert_mrr(amount, cur, fx, at) for cur, amount in native.items())


def _convert_mrr(amount: int, currency: str, fx: FxTable, at: int) -> int:
    """A positive MRR never rounds to nothing: whether a customer pays decides the customer
    counts, and a tiny MRR (one yen) that rounded to 0 at one month-end rate and to 1 cent
    at the next would leave a month ending with a customer fewer than the next began."""
    converted = fx.convert(amount, currency, at)
    return 1 if amount > 0 and converted < 1 else converted


# --------------------------------------------------------------------------- the report


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


# --------------------------------------------------------------------------- index


def _plan_label(main: str, others: int) -> str:
    return f"{main} + {others} more" if others else main


# Instants at which _Index keeps everyone's MRR: in a history, a month's closing (the
# next month's opening) and the closing a year before it (its trailing twelve months).
_MRR_INSTANTS_KEPT = 2
_NO_MRR: dict[str, int] = {}  # shared, never written to


class _Index:
    """The facts of a batch of customers grouped once per customer, so that many months
    cost linear time."""

    def __init__(self, batch: CustomerFacts, plan_names: Mapping[str, str]) -> None:
        self.batch = batch
        self.names = {c.id: c.label for c in batch.customers}
        self.plan_names = plan_names
        self.spans: dict[str, list[MrrSpan]] = {}
        self.by_subscription: dict[str, list[MrrSpan]] = {}
        for s in batch.spans:
            self.spans.setdefault(s.customer, []).append(s)
            self.by_subscription.setdefault(s.subscription, []).append(s)
        for spans in self.spans.values():
            spans.sort(key=lambda s: (s.start, s.item))
        # The first instant each customer had MRR: tells new from reactivation.
        self.first_positive: dict[str, int] = {}
        for cus, spans in self.spans.items():
            starts = [s.start for s in spans if s.mrr > 0 and (s.end is None or s.end > s.start)]
            if starts:
                self.first_positive[cus] = min(starts)
        self.churns: dict[str, list[ChurnEvent]] = {}
        for c in batch.churns:
            self.churns.setdefault(c.customer, []).append(c)
        for events in self.churns.values():
            events.sort(key=lambda c: (c.at, c.subscription))
        self.currencies = {s.currency for s in batch.spans}
        self._mrr_at: dict[int, dict[str, dict[str, int]]] = {}

    def mrr(self, customer: str, at: int) -> dict[str, int]:
        return _sum_in_force(self.spans.get(customer, ()), at, sorted_by_start=True)

    def mrr_of_everyone(self, at: int) -> dict[str, dict[str, int]]:
        """The MRR at ``at`` of every customer who has some, kept for the next calls: in a
        history each month's opening is the last month's closing (half the MRR sums of a
        history). Only two instants are kept: an index may hold the whole account
        (``history``), and each instant kept is a dict of every customer (the trailing
        twelve months read a year back, computed afresh)."""
        cached = self._mrr_at.get(at)
        if cached is None:
            cached = {cus: mrr for cus, spans in self.spans.items() if (mrr := _sum_in_force(spans, at, sorted_by_start=True))}
            if len(self._mrr_at) >= _MRR_INSTANTS_KEPT:
                del self._mrr_at[next(iter(self._mrr_at))]  # the one computed first
            self._mrr_at[at] = cached
        return cached

    def plan(self, customer: str, at: int) -> tuple[str, int] | None:
        """The customer's main plan at ``at`` (the product bringing the most MRR) and how
        many other products it pays for; None without paying items."""
        by_name: dict[str, int] = {}
        for s in self.spans.get(customer, ()):
            if s.price and s.mrr > 0 and s.start <= at and (s.end is None or at < s.end):
                name = self.plan_names.get(s.price, s.price)
                by_name[name] = by_name.get(name, 0) + s.mrr
        if not by_name:
            return None
        main = min(by_name, key=lambda n: (-by_name[n], n))
        return main, len(by_name) - 1

    def plan_change(self, customer: str, opening: int, closing: int) -> str | None:
        """"Starter → Pro" when the main plan changed, else the plan now (or before, for a
        churn), with "+ N more" for add-ons."""
        before, after = self.plan(customer, opening), self.plan(customer, closing)
        if before is None or after is None:
            shown = after or before
            return _plan_label(*shown) if shown else None
        return _plan_label(*after) if before[0] == after[0] else f"{before[0]} → {_plan_label(*after)}"

    def positive_during(self, customer: str, start: int, end: int) -> bool:
        """Whether the customer had MRR at some instant of ``[start, end)``."""
        for s in self.spans.get(customer, ()):
            if s.start >= end:
                break
            if s.mrr > 0 and (s.end is None or (s.end > start and s.end > s.start)):
                return True
        return False

    def days_without_mrr(self, customer: str, start: int, end: int) -> int | None:
        """For a customer back in ``[start, end)`` after a gap: whole days of the gap (§2)."""
        left = [s.end for s in self.spans.get(customer, ()) if s.mrr > 0 and s.end is not None and s.end <= start]
        back = [s.start for s in self.spans.get(customer, ()) if s.mrr > 0 and start <= s.start < end]
        if not left or not back:
            return None
        return (min(back) - max(left)) // 86400

    def causes_during(self, customer: str, start: int, end: int) -> list[str]:
        """What changed the customer's spans inside ``[start, end)``, in order."""
        spans = self.spans.get(customer, [])
        begun = {(s.item, s.start) for s in spans}
        changes: list[tuple[int, str]] = []
        for s in spans:
            if start <= s.start < end:
                changes.append((s.start, _cause_word(s.cause)))
            if s.end is not None and start <= s.end < end and (s.item, s.end) not in begun:
                changes.append((s.end, "cancellation"))
        words: list[str] = []
        for _, word in sorted(changes):
            if word not in words:
                words.append(word)
        return words

    def last_zero_cause(self, customer: str, start: int, end: int) -> Cause | None:
        """The cause of the latest span inside the month that set an item to 0."""
        found: Cause | None = None
        for s in self.spans.get(customer, ()):
            if start <= s.start < end and s.mrr == 0:
                found = s.cause
        return found


def _cause_word(cause: Cause) -> str:
    # METRICS.md §1.11: movements caused by a pause carry reason=paused.
    return {Cause.PAUSE: "paused", Cause.RESUME: "resumed"}.get(cause, str(cause))


# --------------------------------------------------------------------------- computing months


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
) -> list[MonthReport]:
    """A report for each ``(month, status)``, from the facts a batch of customers at a time.

    Every number of a month is a sum over customers, and each customer's part needs only
    that customer's facts (its whole history: new or reactivated, days since churn, the
    trailing twelve months); so each batch is read once, added to every month, and
    dropped: memory holds one batch and what the reports keep (their movements), however
    large the account. The batches must hold each customer's facts whole, in one batch;
    the result does not depend on how customers are split (tested). ``revenue`` and
    ``plans`` are account-wide.
    """
    work = [_Month(parse_month(m), status, settings) for m, status in months]
    plan_names = {p.price: p.name for p in plans}
    currencies: set[str] = set()
    for batch in batches:
        index = _Index(batch, plan_names)
        currencies |= index.currencies
        for month in work:
            month.add(index, fx)
    billed = _billed(revenue, work, fx)
    return [month.report(billed[month.month], fx, currencies, account_name, data_as_of) for month in work]


@dataclass
class _Tally:
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


_Summable = TypeVar("_Summable", "Collections", "_Trailing")


def _plus(a: _Summable, b: _Summable) -> _Summable:
    """Two tallies of integers added field by field."""
    return replace(a, **{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a)})


class _Month:
    """One month being computed: what the batches of customers add up to, then its report."""

    def __init__(self, month: str, status: str, settings: MetricSettings) -> None:
        if status not in ("final", "preliminary"):
            raise ValueError(f"status must be final or preliminary, got {status!r}")
        self.month, self.status, self.settings = month, status, settings
        self.start, self.end = month_bounds(month, settings.timezone)
        self.opening, self.closing = self.start - 1, self.end - 1
        # The trailing twelve months start at the opening of M-11 (§6).
        self.year_ago = month_bounds(add_months(month, -11), settings.timezone)[0] - 1
        self.tally = _Tally()
        self.movements: list[Movement] = []
        self.broken: list[str] = []
        self.pending_customers = self.pending_mrr = 0
        self.r12 = _Trailing(0, 0, 0, 0)
        self.collections = Collections(0, 0, 0, 0, 0)
        # The batches' largest movements, for the top movers: the 0.5 % threshold needs
        # the whole month's start MRR, known only once every batch is in.
        self.ups: list[Mover] = []
        self.downs: list[Mover] = []

    def add(self, index: _Index, fx: FxTable) -> None:
        """Add one batch of customers."""
        movements = self._add_customers(index, fx)
        customers, mrr = _pending_churn(index, fx, self.start, self.end)
        self.pending_customers += customers
        self.pending_mrr += mrr
        self.r12 = _plus(self.r12, _trailing_12m(index, fx, self.year_ago, self.closing))
        self.collections = _plus(self.collections, _collections(index, fx, self.start, self.end))
        ups, downs = _largest_moves(movements)
        self.ups = sorted([*self.ups, *(self._mover(index, m) for m in ups)], key=_largest_up)[:TOP_MOVERS]
        self.downs = sorted([*self.downs, *(self._mover(index, m) for m in downs)], key=_largest_down)[:TOP_MOVERS]
        self.movements += movements

    def _add_customers(self, index: _Index, fx: FxTable) -> list[Movement]:
        """The §2 roll-forward of the batch's customers; returns their movements."""
        tally, start, end, opening, closing = self.tally, self.start, self.end, self.opening, self.closing
        movements: list[Movement] = []
        at_opening, at_closing = index.mrr_of_everyone(opening), index.mrr_of_everyone(closing)
        for cus in sorted(index.spans):
            a_native, b_native = at_opening.get(cus, _NO_MRR), at_closing.get(cus, _NO_MRR)
            a_start = _convert(a_native, fx, opening)
            a, b = _convert(a_native, fx, closing), _convert(b_native, fx, closing)
            tally.start += a_start
            tally.end += b
            tally.fx_impact += a - a_start
            movement = _classify(index, cus, a, b, start, end)
            before = tally.net()
            if movement is not None:
                movements.append(movement)
                _add(tally, movement)
            if a > 0:
                tally.cohort += 1
                tally.cohort_start += a
                tally.cohort_end += b
                tally.cohort_gross += min(a, b)
                tally.cohort_kept += b > 0
            tally.end_customers += b > 0
            # Per customer, what the buckets received must explain the whole change.
            if b != a_start + (tally.net() - before) + (a - a_start):
                self.broken.append(cus)
        return movements

    def _mover(self, index: _Index, m: Movement) -> Mover:
        return Mover(m.customer, m.name, m.movement, m.from_mrr, m.to_mrr, m.delta,
                     plan=index.plan_change(m.customer, self.opening, self.closing))

    def report(
        self, billed: Revenue, fx: FxTable, currencies: set[str], account_name: str | None, data_as_of: int | None
    ) -> MonthReport:
        tally, opening, closing = self.tally, self.opening, self.closing
        _reconcile(self.month, tally, sorted(self.broken))
        ordered = tuple(sorted(self.movements, key=lambda m: (_MOVEMENT_ORDER[m.movement], -abs(m.delta), m.customer)))
        return MonthReport(
            month=self.month,
            currency=fx.currency,
            timezone=self.settings.timezone,
            status=self.status,
            data_as_of=data_as_of,
            account_name=account_name,
            period_start=self.start,
            period_end=self.end,
            mrr=MrrRollForward(
                start=tally.start, new=tally.new, reactivation=tally.reactivation, expansion=tally.expansion,
                contraction=tally.contraction, churn=tally.churn, churn_voluntary=tally.churn_voluntary,
                churn_involuntary=tally.churn_involuntary, fx_impact=tally.fx_impact, end=tally.end,
            ),
            arr=Arr(start=tally.start * 12, end=tally.end * 12),
            customers=CustomerCounts(
                start=tally.cohort, new=tally.counts.get(NEW, 0), reactivated=tally.counts.get(REACTIVATION, 0),
                expanded=tally.counts.get(EXPANSION, 0), contracted=tally.counts.get(CONTRACTION, 0),
                churned=tally.counts.get(CHURN, 0), churned_voluntary=tally.counts.get("churn_voluntary", 0),
                churned_involuntary=tally.counts.get("churn_involuntary", 0), end=tally.end_customers,
                same_month_start_and_cancel=tally.counts.get(SAME_MONTH, 0), pending_churn=self.pending_customers,
            ),
            retention=_retention(tally, self.r12),
            revenue=billed,
            collections=self.collections,
            top_movers=_top_movers(self.ups, self.downs, tally.start),
            movements=ordered,
            settings=self.settings,
            pending_churn_mrr=self.pending_mrr,
            fx_rates=tuple((c, _rate_or_zero(fx, c, opening), _rate_or_zero(fx, c, closing))
                           for c in sorted(currencies - {fx.currency})),
        )


def _rate_or_zero(fx: FxTable, currency: str, at: int) -> Decimal:
    # Only for the footer: a currency with no rate and no MRR this month is not an error.
    return fx.rate(currency, at) if currency in fx.currencies() else Decimal(0)


def _classify(index: _Index, cus: str, a: int, b: int, start: int, end: int) -> Movement | None:
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
    event = _latest_churn(index, cus, start, end)
    if b > 0:
        kind = None if event is None else str(event.kind)
        return Movement(cus, name, CONTRACTION, a, b, b - a, churn_kind=kind, reason=_reason(index, cus, start, end),
                        derived=bool(event and event.derived))
    if event is not None:
        return Movement(cus, name, CHURN, a, 0, -a, churn_kind=str(event.kind), reason=event.rule,
                        derived=event.derived)
    # No churn event: the drop came from the spans themselves (past-due rule, pause,
    # 100 % discount, $0 plan). Rule 0 of §3 makes a pause voluntary (nobody failed to
    # pay); rule 3 makes past due involuntary; anything else falls to rule 6
    # (involuntary, derived).
    cause = index.last_zero_cause(cus, start, end)
    if cause == Cause.PAUSE:
        return Movement(cus, name, CHURN, a, 0, -a, churn_kind=str(ChurnKind.VOLUNTARY),
                        reason=_ZERO_REASONS[cause])
    reason = "unknown" if cause is None else _ZERO_REASONS.get(cause, str(cause))
    return Movement(cus, name, CHURN, a, 0, -a, churn_kind=str(ChurnKind.INVOLUNTARY), reason=reason,
                    derived=True)


# Why an item fell to 0 when no churn event says so (the reason column of a churn).
_ZERO_REASONS = {
    Cause.PAST_DUE: "past_due",
    Cause.PAUSE: "paused",
    Cause.DISCOUNT_START: "discount",
    Cause.PRICE_CHANGE: "zero_price",
    Cause.QUANTITY: "zero_quantity",
}


def _reason(index: _Index, cus: str, start: int, end: int) -> str | None:
    words = index.causes_during(cus, start, end)
    return "+".join(words) if words else None


def _latest_churn(index: _Index, cus: str, start: int, end: int) -> ChurnEvent | None:
    found: ChurnEvent | None = None
    for event in index.churns.get(cus, ()):
        if start <= event.at < end:
            found = event
    return found


def _add(tally: _Tally, m: Movement) -> None:
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
        if m.churn_kind == ChurnKind.VOLUNTARY:
            tally.churn_voluntary -= m.delta
            tally.count("churn_voluntary")
        else:
            tally.churn_involuntary -= m.delta
            tally.count("churn_involuntary")


def _reconcile(month: str, t: _Tally, broken: list[str]) -> None:
    """The §2 identity, to the minor unit; a report that does not reconcile is an error."""
    rolled = t.start + t.new + t.reactivation + t.expansion - t.contraction - t.churn + t.fx_impact
    if rolled != t.end or broken or t.churn != t.churn_voluntary + t.churn_involuntary:
        raise ReconciliationError(month, t.end - rolled, broken)


def _pending_churn(index: _Index, fx: FxTable, start: int, end: int) -> tuple[int, int]:
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
            mrr = _convert(_sum_in_force(index.by_subscription.get(e.subscription, ()), closing), fx, closing)
            if mrr > 0:
                customers.add(cus)
                amount += mrr
    return len(customers), amount


# --------------------------------------------------------------------------- retention


def _pct(num: int | Fraction, den: int) -> Decimal | None:
    """``num / den`` as a percentage with two decimals (half-even), None without a base."""
    if den == 0:
        return None
    hundredths = round(Fraction(num) * 10000 / den)
    return Decimal(hundredths).scaleb(-2)


@dataclass(frozen=True)
class _Trailing:
    customers: int
    start: int
    end: int
    gross: int


def _trailing_12m(index: _Index, fx: FxTable, year_ago: int, closing: int) -> _Trailing:
    """§6: customers with MRR at the start of M-11 (``year_ago``, the instant before it),
    their MRR then vs at the end of M.

    Both ends at the month-end rate of M (constant currency); churned customers count 0
    and a customer who left and came back counts at its current MRR.
    """
    customers = start_sum = end_sum = gross = 0
    at_first, at_closing = index.mrr_of_everyone(year_ago), index.mrr_of_everyone(closing)
    for cus in index.spans:
        then = _convert(at_first.get(cus, _NO_MRR), fx, closing)
        if then <= 0:
            continue
        now = _convert(at_closing.get(cus, _NO_MRR), fx, closing)
        customers += 1
        start_sum += then
        end_sum += now
        gross += min(then, now)
    return _Trailing(customers, start_sum, end_sum, gross)


def _retention(t: _Tally, r12: _Trailing) -> Retention:
    nrr = _pct(t.cohort_end, t.cohort_start)
    annualized = None
    if t.cohort_start:
        # Compound the exact monthly ratio, not the rounded percentage.
        annualized = _pct(Fraction(t.cohort_end, t.cohort_start) ** 12, 1)
    return Retention(
        nrr=nrr,
        grr=_pct(t.cohort_gross, t.cohort_start),
        logo_retention=_pct(t.cohort_kept, t.cohort),
        nrr_12m=_pct(r12.end, r12.start),
        grr_12m=_pct(r12.gross, r12.start),
        nrr_annualized=annualized,
        cohort_customers=t.cohort,
        cohort_start=t.cohort_start,
        cohort_end=t.cohort_end,
        cohort_12m_customers=r12.customers,
        logo_churn=_pct(t.cohort - t.cohort_kept, t.cohort),
        gross_mrr_churn=_pct(t.cohort_start - t.cohort_gross, t.cohort_start),
        net_mrr_churn=_pct(t.cohort_start - t.cohort_end, t.cohort_start),
    )


# --------------------------------------------------------------------------- revenue, collections, movers


def _billed(lines: Iterable[RevenueLine], months: Sequence[_Month], fx: FxTable) -> dict[str, Revenue]:
    """§4, billed basis: each month's lines (``start <= at < end``) by kind, each at its
    own instant's rate. One pass over the lines, in any order, holding none of them: at
    size L, the lines in a foreign currency alone are 150,000 (those in the report's
    currency come summed by the database)."""
    bounds = sorted({(m.start, m.end, m.month) for m in months})
    starts = [start for start, _, _ in bounds]
    sums: dict[str, dict[RevenueKind, int]] = {month: dict.fromkeys(RevenueKind, 0) for _, _, month in bounds}
    for line in lines:
        i = bisect_right(starts, line.at) - 1
        if i >= 0 and line.at < bounds[i][1]:
            sums[bounds[i][2]][line.kind] += fx.convert(line.amount, line.currency, line.at)
    return {
        month: Revenue(recurring=k[RevenueKind.RECURRING], usage=k[RevenueKind.USAGE],
                       one_time=k[RevenueKind.ONE_TIME], refunds=k[RevenueKind.REFUND],
                       credit_notes=k[RevenueKind.CREDIT_NOTE])
        for month, k in sums.items()
    }


def _open_at(f: PaymentFailure, at: int) -> bool:
    return f.first_failed_at <= at and (f.recovered_at is None or f.recovered_at > at) and (
        f.closed_at is None or f.closed_at > at
    )


def _collections(index: _Index, fx: FxTable, start: int, end: int) -> Collections:
    """§3 tracking: failed and recovered in the month, past-due MRR at its end."""
    closing = end - 1
    failed = failed_amount = recovered = recovered_amount = 0
    past_due_subs: set[str] = set()
    for f in index.batch.failures:
        if start <= f.first_failed_at < end:
            failed += 1
            failed_amount += fx.convert(f.amount, f.currency, f.first_failed_at)
        if f.recovered_at is not None and start <= f.recovered_at < end:
            recovered += 1
            recovered_amount += fx.convert(f.amount, f.currency, f.recovered_at)
        if f.subscription is not None and _open_at(f, closing):
            past_due_subs.add(f.subscription)
    past_due = sum(
        _convert(_sum_in_force(index.by_subscription.get(sub, ()), closing), fx, closing) for sub in sorted(past_due_subs)
    )
    return Collections(failed_invoices=failed, failed_amount=failed_amount, recovered_amount=recovered_amount,
                       past_due_mrr=past_due, recovered_invoices=recovered)


def _largest_up(m: Movement | Mover) -> tuple[int, str]:
    """Sort key: the largest expansion first (ties by customer id)."""
    return -m.delta, m.customer


def _largest_down(m: Movement | Mover) -> tuple[int, str]:
    """Sort key: the largest drop first (deltas are negative; ties by customer id)."""
    return m.delta, m.customer


def _largest_moves(movements: Sequence[Movement]) -> tuple[list[Movement], list[Movement]]:
    """A batch's 5 largest expansions and 5 largest contractions or churns."""
    ups = sorted((m for m in movements if m.movement == EXPANSION), key=_largest_up)
    downs = sorted((m for m in movements if m.movement in (CONTRACTION, CHURN)), key=_largest_down)
    return ups[:TOP_MOVERS], downs[:TOP_MOVERS]


def _top_movers(ups: Sequence[Mover], downs: Sequence[Mover], start_mrr: int) -> tuple[Mover, ...]:
    """The 5 largest expansions, then the 5 largest contractions or churns (by |delta|),
    leaving out changes under 0.5 % of the month's start MRR.

    ``ups`` and ``downs`` are the month's 5 largest, in order: the changes left out are
    the smallest, so the largest 5 of those kept are among them."""

    def visible(m: Mover) -> bool:
        return abs(m.delta) >= MOVER_THRESHOLD * start_mrr

    return tuple(m for m in [*ups, *downs] if visible(m))


# --------------------------------------------------------------------------- signup cohorts


@dataclass(frozen=True)
class SignupCohort:
    """Customers whose first MRR fell in ``month``; ``cells[k]`` = their MRR k months later
    as a percentage of their new MRR (None when they brought no MRR)."""

    month: str
    customers: int
    new_mrr: int
    cells: tuple[Decimal | None, ...]


def cohorts(facts: Facts, months: Sequence[str], settings: MetricSettings, fx: FxTable) -> list[SignupCohort]:
    """Signup cohorts for ``months`` (§6), each followed up to the last of ``months``.

    All amounts at the last month's end rate, so that FX moves do not show as retention.
    """
    if not months:
        return []
    ordered = sorted(parse_month(m) for m in months)
    index = _Index(facts.of_customers(), {})
    last = ordered[-1]
    rate_at = month_bounds(last, settings.timezone)[1] - 1
    by_month: dict[str, list[str]] = {}
    for cus, first in index.first_positive.items():
        by_month.setdefault(month_of(first, settings.timezone), []).append(cus)
    rows: list[SignupCohort] = []
    for m in ordered:
        members = by_month.get(m, [])
        later = month_range(last, _months_between(m, last) + 1)
        totals = [
            sum(_convert(index.mrr(c, month_bounds(k, settings.timezone)[1] - 1), fx, rate_at) for c in members)
            for k in later
        ]
        new_mrr = totals[0]
        rows.append(SignupCohort(m, len(members), new_mrr, tuple(_pct(v, new_mrr) for v in totals)))
    return rows


def _months_between(first: str, last: str) -> int:
    (y1, m1), (y2, m2) = _ym(first), _ym(last)
    return (y2 - y1) * 12 + (m2 - m1)
