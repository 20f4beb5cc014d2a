"""Segments (METRICS.md §6): a month's roll-forward and retention per plan, billing
interval, currency, country, ARR band or metadata value.

A customer belongs, for the whole month, to its segment at the month's start (the
cohort rule); a customer without MRR then (new, reactivated) to its segment at the
month's end, or, if it had none then either, when its MRR began in the month. A customer
with MRR at both ends whose segment differs at the end is counted as having moved.

What a customer's segment is, at an instant, for each dimension:

- ``plan``: its main product (the one bringing the most MRR), as the movers show it;
- ``interval``: the billing interval bringing the most MRR ("month", "year", "3 months");
- ``currency``: the currency of its MRR (the largest, for a customer paying in several);
- ``country``: its billing address's country (else its shipping address's);
- ``arr_band``: its ARR (12 × MRR, at the month-end rate) against ``arr_bands``;
- ``metadata.KEY``: the customer's metadata value, else its main subscription's (the one
  bringing the most MRR); ``customer.metadata.KEY`` and ``subscription.metadata.KEY`` read
  only one of them.

Stripe keeps only the current country and metadata, so those segments never move.

Each customer's month (``CustomerMonth``) is added into its segment's ``Tally`` exactly as
the month's total adds it; so the segments of a dimension add up to the total, to the
cent: checked, like the roll-forward, with ``ReconciliationError`` if not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal

from reports.errors import ReconciliationError
from reports.facts import Customer, MrrSpan, Plan
from reports.metrics.index import CustomerIndex
from reports.metrics.report import CHURN, NEW, REACTIVATION, Segment, SegmentDimension, pct
from reports.metrics.rollforward import CustomerMonth, Tally, add_customer, as_roll_forward

PLAN, INTERVAL, CURRENCY, COUNTRY, ARR_BAND = "plan", "interval", "currency", "country", "arr_band"
DIMENSIONS = (PLAN, INTERVAL, CURRENCY, COUNTRY, ARR_BAND)
METADATA_PREFIXES = ("metadata.", "customer.metadata.", "subscription.metadata.")
NONE = "(none)"  # the segment of a customer with no value for the dimension
SEGMENT_BY_FORM = ("use a comma-separated list of plan, interval, currency, country, arr_band, metadata.KEY, "
                   "customer.metadata.KEY or subscription.metadata.KEY (or none)")
DEFAULT_SEGMENT_BY = DIMENSIONS
DEFAULT_ARR_BANDS = (1_000, 10_000, 100_000)  # major units of the reporting currency


def parse_segment_by(text: str) -> tuple[str, ...]:
    """``"plan,metadata.tier"`` → the dimensions, in order; ``"none"`` → none.

    Raises ``ValueError`` naming the first word that is not a dimension."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if [w.lower() for w in words] == ["none"]:
        return ()
    seen: list[str] = []
    for word in words:
        if word.lower() in DIMENSIONS:
            word = word.lower()
        elif not metadata_key(word):
            raise ValueError(f"{word!r} is not a dimension; {SEGMENT_BY_FORM}")
        if word in seen:
            raise ValueError(f"{word!r} is given twice; {SEGMENT_BY_FORM}")
        seen.append(word)
    return tuple(seen)


def metadata_key(dimension: str) -> str | None:
    """The metadata key a dimension reads (``metadata.tier`` → ``tier``), None for the others.
    Keys hold no double quote (they are looked up in a JSON path)."""
    for prefix in METADATA_PREFIXES:
        if dimension.startswith(prefix):
            key = dimension[len(prefix):]
            return key if key and '"' not in key and len(key) <= 40 else None
    return None


def metadata_keys(dimensions: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The customer metadata keys and the subscription metadata keys ``dimensions`` read."""
    of_customers = [metadata_key(d) for d in dimensions if not d.startswith("subscription.")]
    of_subscriptions = [metadata_key(d) for d in dimensions if not d.startswith("customer.")]
    return (tuple(sorted({k for k in of_customers if k})), tuple(sorted({k for k in of_subscriptions if k})))


def parse_arr_bands(text: str) -> tuple[int, ...]:
    """``"1000,10000,100000"``: the ARR bands' bounds in major units, increasing."""
    form = "use increasing whole amounts above 0 in the reporting currency, like 1000,10000,100000"
    words = [w.strip() for w in text.split(",") if w.strip()]
    bad = next((w for w in words if not w.isascii() or not w.isdigit()), None)
    if bad is not None:
        raise ValueError(f"{bad[:20]!r} is not a whole amount; {form}")
    bounds = tuple(int(w) for w in words)
    if not bounds or any(b <= 0 for b in bounds) or list(bounds) != sorted(set(bounds)):
        raise ValueError(f"the bounds are not increasing amounts above 0; {form}")
    return bounds


def band_labels(bounds: Sequence[int]) -> tuple[str, ...]:
    """The band names, lowest first: "under 1k", "1k–10k", …, "100k and over"."""
    if not bounds:
        return ("all",)
    short = [_short_amount(b) for b in bounds]
    return (f"under {short[0]}", *(f"{lo}–{hi}" for lo, hi in zip(short, short[1:], strict=False)),
            f"{short[-1]} and over")


def _short_amount(amount: int) -> str:
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if amount >= size and amount % (size // 10) == 0:
            return f"{Decimal(amount) / size:f}".removesuffix(".0") + suffix
    return f"{amount:,}"


@dataclass(frozen=True)
class SegmentSpec:
    """What to segment by: the dimensions and the ARR bands' bounds, in minor units of
    the reporting currency (ARR, not MRR)."""

    dimensions: tuple[str, ...]
    arr_bounds: tuple[int, ...]
    arr_labels: tuple[str, ...]


def segment_spec(dimensions: Sequence[str], bands_major: Sequence[int], minor_digits: int) -> SegmentSpec:
    return SegmentSpec(tuple(dimensions), tuple(b * 10**minor_digits for b in bands_major), band_labels(bands_major))


class SegmentTally:
    """One month's segments being added up, a batch of customers at a time (``add``, given
    the rows its roll-forward produced), then their table (``table``)."""

    def __init__(self, spec: SegmentSpec, plans: Iterable[Plan], month: str, opening: int, closing: int) -> None:
        self.spec, self.month, self.opening, self.closing = spec, month, opening, closing
        plans = tuple(plans)
        self.plan_names = {p.price: p.name for p in plans}
        self.intervals = {p.price: p.interval for p in plans if p.interval}
        self.tallies: dict[str, dict[str, Tally]] = {d: {} for d in spec.dimensions}
        self.moved = dict.fromkeys(spec.dimensions, 0)
        self.broken: list[str] = []

    def add(self, index: CustomerIndex, rows: Sequence[CustomerMonth]) -> None:
        if not self.spec.dimensions:
            return
        customers = {c.id: c for c in index.batch.customers}
        subscriptions = {s.subscription: dict(s.metadata) for s in index.batch.subscriptions}
        for row in rows:
            if row.movement is None and not (row.a_start or row.a or row.b):
                continue  # no MRR in the month: in no segment
            spans = index.spans[row.customer]
            at_start, at_end = _paying(spans, self.opening), _paying(spans, self.closing)
            held = at_start or at_end or _first_paying_in(spans, self.opening, self.closing)
            arr = 12 * (row.a if at_start else row.b)
            where = _Where(customers.get(row.customer), subscriptions, held, arr, self)
            moved_to = _Where(customers.get(row.customer), subscriptions, at_end, 12 * row.b, self) \
                if at_start and at_end else None
            for dimension, tallies in self.tallies.items():
                value = where.value(dimension)
                tally = tallies.get(value)
                if tally is None:
                    tally = tallies[value] = Tally()
                if not add_customer(tally, row.a_start, row.a, row.b, row.movement):
                    self.broken.append(row.customer)
                if moved_to is not None and moved_to.value(dimension) != value:
                    self.moved[dimension] += 1

    def table(self, total: Tally) -> tuple[SegmentDimension, ...]:
        """Each dimension's segments, the largest (by MRR at the month's start, then at its
        end) first, ARR bands in their order. Raises ``ReconciliationError`` if a dimension's segments do not add up
        to ``total`` (the month's own tally)."""
        out = []
        for dimension, tallies in self.tallies.items():
            _check_sum(f"{self.month} (segments by {dimension})", tallies.values(), total, self.broken)
            segments = sorted((_segment(value, t, total) for value, t in tallies.items()), key=self._order(dimension))
            out.append(SegmentDimension(dimension, tuple(segments), self.moved[dimension]))
        return tuple(out)

    def _order(self, dimension: str) -> Callable[[Segment], tuple[int, int, str]]:
        """ARR bands from the lowest; other segments the largest first."""
        if dimension == ARR_BAND:
            labels = self.spec.arr_labels
            return lambda s: (labels.index(s.value), 0, "")
        return lambda s: (-s.mrr.start, -s.mrr.end, s.value)


class _Where:
    """A customer's segment values from the spans it paid through at one instant."""

    def __init__(self, customer: Customer | None, subscriptions: Mapping[str, Mapping[str, str]],
                 spans: Sequence[MrrSpan], arr: int, tally: SegmentTally) -> None:
        self.customer, self.subscriptions, self.spans, self.arr, self.tally = customer, subscriptions, spans, arr, tally

    def value(self, dimension: str) -> str:
        spans, tally = self.spans, self.tally
        if dimension == PLAN:
            return _largest(spans, lambda s: tally.plan_names.get(s.price, s.price) if s.price else "") or NONE
        if dimension == INTERVAL:
            return _largest(spans, lambda s: tally.intervals.get(s.price or "", "")) or NONE
        if dimension == CURRENCY:
            return (_largest(spans, lambda s: s.currency) or NONE).upper()
        if dimension == COUNTRY:
            return (self.customer.country if self.customer else None) or NONE
        if dimension == ARR_BAND:
            return tally.spec.arr_labels[sum(self.arr >= b for b in tally.spec.arr_bounds)]
        key = metadata_key(dimension) or ""
        if not dimension.startswith("subscription."):
            found = dict(self.customer.metadata).get(key) if self.customer else None
            if found or dimension.startswith("customer."):
                return found or NONE
        main = _largest(spans, lambda s: s.subscription)
        return (self.subscriptions.get(main or "", {}).get(key)) or NONE


def _paying(spans: Sequence[MrrSpan], at: int) -> list[MrrSpan]:
    """The spans with MRR in force at ``at`` (spans sorted by start)."""
    out = []
    for s in spans:
        if s.start > at:
            break
        if s.mrr > 0 and (s.end is None or at < s.end):
            out.append(s)
    return out


def _first_paying_in(spans: Sequence[MrrSpan], opening: int, closing: int) -> list[MrrSpan]:
    """For a customer whose MRR began and ended inside the month: the spans in force when
    it began."""
    starts = [s.start for s in spans if s.mrr > 0 and opening < s.start <= closing and (s.end is None or s.end > s.start)]
    return _paying(spans, min(starts)) if starts else []


def _largest(spans: Sequence[MrrSpan], key: Callable[[MrrSpan], str]) -> str | None:
    """The value of ``key`` (a function of a span) bringing the most MRR; ties go to the
    first in alphabetical order, so the answer does not depend on the spans' order."""
    by: dict[str, int] = {}
    for s in spans:
        value = key(s)
        if value:
            by[value] = by.get(value, 0) + s.mrr
    return min(by, key=lambda v: (-by[v], v)) if by else None


_SUMMED = tuple(f.name for f in fields(Tally) if f.name != "counts")


def _check_sum(label: str, parts: Iterable[Tally], total: Tally, broken: list[str]) -> None:
    summed = Tally()
    for t in parts:
        for name in _SUMMED:
            setattr(summed, name, getattr(summed, name) + getattr(t, name))
        for key, n in t.counts.items():
            summed.counts[key] = summed.counts.get(key, 0) + n
    if broken or any(getattr(summed, n) != getattr(total, n) for n in _SUMMED) or summed.counts != total.counts:
        raise ReconciliationError(label, total.end - summed.end, sorted(set(broken)))


def _segment(value: str, t: Tally, total: Tally) -> Segment:
    return Segment(
        value=value,
        mrr=as_roll_forward(t),
        customers_start=t.cohort,
        customers_end=t.end_customers,
        new=t.counts.get(NEW, 0),
        reactivated=t.counts.get(REACTIVATION, 0),
        churned=t.counts.get(CHURN, 0),
        nrr=pct(t.cohort_end, t.cohort_start),
        grr=pct(t.cohort_gross, t.cohort_start),
        logo_retention=pct(t.cohort_kept, t.cohort),
        cohort_start=t.cohort_start,
        cohort_end=t.cohort_end,
        nrr_points=pct(t.cohort_end - t.cohort_start, total.cohort_start),
    )
