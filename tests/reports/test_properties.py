"""Properties of the metrics on generated span histories (METRICS.md §2, §6)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    Customer,
    CustomerFacts,
    Facts,
    MrrSpan,
    PaymentFailure,
    Plan,
    SubscriptionLabels,
)
from reports.fx import FxTable
from reports.metrics import (
    MetricSettings,
    compute_month,
    compute_months,
    customer_mrr,
    history,
    mrr_by_customer,
    signup_cohorts,
)
from reports.metrics.mrr import convert
from reports.metrics.segments import DIMENSIONS, segment_spec
from reports.month import add_months, month_bounds
from tests.reports.builders import assert_identity, make_facts, ts

DAY = 86400
ORIGIN = ts(2025, 9, 1)
MONTHS = [add_months("2025-10", k) for k in range(10)]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
CURRENCIES = ["usd", "usd", "eur", "jpy"]


@st.composite
def histories(draw: st.DrawFn) -> Facts:
    spans: list[MrrSpan] = []
    churns: list[ChurnEvent] = []
    for c in range(draw(st.integers(1, 8))):
        cus = f"cus_{c}"
        for k in range(draw(st.integers(1, 4))):
            start = ORIGIN + draw(st.integers(0, 330 * DAY))
            length = draw(st.one_of(st.none(), st.integers(1, 200 * DAY)))
            end = None if length is None else start + length
            mrr = draw(st.one_of(st.just(0), st.integers(1, 300_000)))
            sub = f"sub_{c}_{k}"
            spans.append(MrrSpan(cus, sub, f"si_{c}_{k}", None, draw(st.sampled_from(CURRENCIES)), start, end, mrr, mrr,
                                 draw(st.sampled_from(list(Cause)))))
            if end is not None and draw(st.booleans()):
                requested = draw(st.one_of(st.none(), st.integers(start, end)))
                churns.append(ChurnEvent(cus, sub, end, requested, draw(st.sampled_from(list(ChurnKind))), "rule",
                                         False, None, None, None))
    return make_facts(spans, churns)


@st.composite
def fx_tables(draw: st.DrawFn) -> FxTable:
    observed = []
    for cur, lo, hi in (("eur", 5000, 20000), ("jpy", 10, 200)):
        for _ in range(draw(st.integers(1, 6))):
            rate = Decimal(draw(st.integers(lo, hi))).scaleb(-4)
            observed.append((cur, ORIGIN + draw(st.integers(0, 330 * DAY)), rate))
    return FxTable("usd", observed=observed)


@settings(max_examples=150, deadline=None)
@given(histories(), fx_tables(), st.sampled_from(MONTHS), st.sampled_from(ZONES))
def test_every_month_reconciles_and_retention_is_consistent(facts: Facts, fx: FxTable, month: str, tz: str) -> None:
    r = compute_month(facts, month, MetricSettings(timezone=tz), fx)
    assert_identity(r)
    c, m, t = r.customers, r.mrr, r.retention
    assert c.end == c.start + c.new + c.reactivated - c.churned
    assert c.churned == c.churned_voluntary + c.churned_involuntary
    assert min(m.new, m.reactivation, m.expansion, m.contraction, m.churn) >= 0
    if t.cohort_start == 0:
        assert t.nrr is None and t.grr is None
        return
    # NRR is a cohort figure: new and reactivated MRR are outside it.
    exact = Fraction(t.cohort_start + m.expansion - m.contraction - m.churn, t.cohort_start) * 100
    assert t.nrr == Decimal(round(exact * 100)).scaleb(-2)
    assert t.grr is not None and t.nrr is not None and t.logo_retention is not None
    assert 0 <= t.grr <= 100
    assert t.grr <= t.nrr
    assert 0 <= t.logo_retention <= 100
    if t.grr_12m is not None:
        assert t.nrr_12m is not None and 0 <= t.grr_12m <= 100 and t.grr_12m <= t.nrr_12m


@settings(max_examples=60, deadline=None)
@given(histories(), fx_tables(), st.sampled_from(ZONES))
def test_each_month_starts_where_the_last_ended(facts: Facts, fx: FxTable, tz: str) -> None:
    reports = history(facts, MONTHS, MetricSettings(timezone=tz), fx)
    for before, after in pairwise(reports):
        assert before.mrr.end == after.mrr.start
        assert before.customers.end == after.customers.start


def test_a_tiny_foreign_mrr_keeps_its_customer_counted_whatever_the_rate() -> None:
    # Found by the property above: 1 yen a month is 0.1 cent at one month-end rate and
    # 0.51 cent at the next; rounded to 0 then to 1, the first month ended with no
    # customer and the next began with one.
    facts = make_facts([MrrSpan("cus_0", "sub_0", "si_0", None, "jpy", ORIGIN, None, 1, 1, Cause.NEW_ITEM)], [])
    fx = FxTable("usd", observed=[("jpy", ORIGIN, Decimal("0.0010")), ("jpy", ts(2025, 11, 15), Decimal("0.0051"))])
    october, november = history(facts, ["2025-10", "2025-11"], MetricSettings(), fx)
    assert (october.customers.end, november.customers.start) == (1, 1)
    assert (october.mrr.end, november.mrr.start) == (1, 1)


@settings(max_examples=100, deadline=None)
@given(histories(), st.integers(ORIGIN, ORIGIN + 400 * DAY))
def test_customer_mrr_agrees_with_mrr_by_customer(facts: Facts, at: int) -> None:
    everyone = mrr_by_customer(facts, at)
    for cus in {s.customer for s in facts.spans}:
        assert customer_mrr(facts, cus, at) == everyone.get(cus, {})


@st.composite
def accounts(draw: st.DrawFn) -> Facts:
    """A span history with what else a report reads per customer: names, plans, payment
    failures (some recovered, some of no subscription, some of a customer with no span)."""
    facts = draw(histories())
    customers = sorted({s.customer for s in facts.spans} | {"cus_nospan"})
    subs = sorted({(s.customer, s.subscription) for s in facts.spans})
    failures = []
    for k in range(draw(st.integers(0, 6))):
        cus, sub = draw(st.sampled_from([*subs, ("cus_nospan", None)]))
        failed = ORIGIN + draw(st.integers(0, 330 * DAY))
        recovered = draw(st.one_of(st.none(), st.integers(failed, failed + 60 * DAY)))
        failures.append(PaymentFailure(f"in_{k}", cus, draw(st.sampled_from([sub, None])), "usd",
                                       draw(st.integers(1, 50_000)), failed, 1, recovered, None))
    # A price per span, named or not, so that movers show plans and plan changes.
    spans = tuple(replace(s, price=draw(st.sampled_from(["price_a", "price_b", None]))) for s in facts.spans)
    return replace(facts, spans=spans, failures=tuple(failures),
                   customers=tuple(Customer(c, f"Name {c}", None) for c in customers),
                   plans=(Plan("price_a", "Starter"), Plan("price_b", "Pro")))


def _split(facts: Facts, cuts: list[int]) -> list[CustomerFacts]:
    """The facts cut into batches of whole customers at the given places of the sorted ids."""
    ids = sorted({c.id for c in facts.customers} | {s.customer for s in facts.spans})
    groups: list[set[str]] = [set()]
    for i, cus in enumerate(ids):
        if i in cuts:
            groups.append(set())
        groups[-1].add(cus)
    return [CustomerFacts(tuple(c for c in facts.customers if c.id in g), tuple(s for s in facts.spans if s.customer in g),
                          tuple(c for c in facts.churns if c.customer in g),
                          tuple(f for f in facts.failures if f.customer in g),
                          tuple(s for s in facts.subscriptions if s.customer in g)) for g in groups]


@settings(max_examples=150, deadline=None)
@given(accounts(), fx_tables(), st.sampled_from(ZONES), st.lists(st.integers(1, 8), max_size=8))
def test_batches_of_customers_give_the_reports_of_the_whole_account(
    facts: Facts, fx: FxTable, tz: str, cuts: list[int]
) -> None:
    # A report streams the account a batch of customers at a time: however the
    # customers are cut, every figure, movement and top mover must be the same.
    settings_ = MetricSettings(timezone=tz)
    months = [(m, "final") for m in MONTHS[:-1]] + [(MONTHS[-1], "preliminary")]
    whole = history(facts, MONTHS[:-1], settings_, fx) + [
        compute_month(facts, MONTHS[-1], settings_, fx, status="preliminary")]
    batches = _split(facts, cuts)
    streamed = compute_months(iter(batches), months, settings_, fx, revenue=facts.revenue, plans=facts.plans,
                              account_name=facts.account_name, data_as_of=None)
    assert streamed == whole


@settings(max_examples=100, deadline=None)
@given(histories(), fx_tables(), st.sampled_from(ZONES), st.lists(st.integers(1, 8), max_size=8),
       st.integers(1, len(MONTHS)))
def test_signup_cohorts_add_up_to_each_months_mrr_however_the_customers_are_cut(
    facts: Facts, fx: FxTable, tz: str, cuts: list[int], count: int
) -> None:
    months = MONTHS[-count:]
    table = signup_cohorts(iter(_split(facts, cuts)), months, fx, tz)
    assert table == signup_cohorts([facts.of_customers()], months, fx, tz)
    rate_at = month_bounds(months[-1], tz)[1] - 1
    for k, month in enumerate(months):
        end = month_bounds(month, tz)[1] - 1
        everyone = {c: convert(m, fx, rate_at) for c, m in mrr_by_customer(facts, end).items()}
        column = [table.earlier.mrr[k]] + [c.mrr[k - i] for i, c in enumerate(table.cohorts[: k + 1])]
        assert sum(column) == table.total_mrr[k] == sum(everyone.values())
        assert table.total_paying[k] == len(everyone)
    # Every customer with MRR by the last month is in exactly one row.
    assert sum(c.customers for c in (table.earlier, *table.cohorts)) == len(
        {s.customer for s in facts.spans if s.mrr > 0 and s.start <= rate_at and (s.end is None or s.end > s.start)})
    closing = compute_month(facts, months[-1], MetricSettings(timezone=tz), fx)
    assert table.total_mrr[-1] == closing.mrr.end


@st.composite
def labelled_accounts(draw: st.DrawFn) -> Facts:
    """``accounts`` with what segments read: countries, customer and subscription metadata
    (some missing), and billing intervals."""
    facts = draw(accounts())
    maybe = st.sampled_from([None, "a", "b"])
    customers = tuple(replace(c, country=draw(st.sampled_from([None, "US", "FR"])),
                              metadata=tuple((k, v) for k in ("tier",) if (v := draw(maybe)))) for c in facts.customers)
    subscriptions = tuple(SubscriptionLabels(cus, sub, tuple(("tier", v) for v in [draw(maybe)] if v))
                          for cus, sub in sorted({(s.customer, s.subscription) for s in facts.spans}))
    plans = (Plan("price_a", "Starter", "month"), Plan("price_b", "Pro", draw(st.sampled_from(["month", "year"]))))
    return replace(facts, customers=customers, subscriptions=subscriptions, plans=plans)


@settings(max_examples=120, deadline=None)
@given(labelled_accounts(), fx_tables(), st.sampled_from(ZONES), st.lists(st.integers(1, 8), max_size=8),
       st.sampled_from(MONTHS))
def test_the_segments_of_each_dimension_add_up_to_the_month_however_the_customers_are_cut(
    facts: Facts, fx: FxTable, tz: str, cuts: list[int], month: str
) -> None:
    spec = segment_spec((*DIMENSIONS, "metadata.tier", "subscription.metadata.tier"), (100, 1000), 2)
    settings_ = MetricSettings(timezone=tz)
    whole = compute_months([facts.of_customers()], [(month, "final")], settings_, fx, revenue=(), plans=facts.plans,
                           account_name=None, data_as_of=None, segments=spec)[-1]
    cut = compute_months(iter(_split(facts, cuts)), [(month, "final")], settings_, fx, revenue=(),
                         plans=facts.plans, account_name=None, data_as_of=None, segments=spec)[-1]
    assert cut == whole
    assert whole.segments is not None and [d.dimension for d in whole.segments] == list(spec.dimensions)
    m, r = whole.mrr, whole.retention
    for dimension in whole.segments:
        for bucket in ("start", "new", "reactivation", "expansion", "contraction", "churn", "churn_voluntary",
                       "churn_involuntary", "fx_impact", "end"):
            assert sum(getattr(s.mrr, bucket) for s in dimension.segments) == getattr(m, bucket)
        assert sum(s.customers_start for s in dimension.segments) == whole.customers.start
        assert sum(s.customers_end for s in dimension.segments) == whole.customers.end
        assert sum(s.churned for s in dimension.segments) == whole.customers.churned
        assert sum(s.cohort_start for s in dimension.segments) == r.cohort_start
        assert sum(s.cohort_end for s in dimension.segments) == r.cohort_end
        if r.nrr is not None:
            # Each segment's points are rounded apart: their sum is NRR − 100 to within that.
            points = sum(s.nrr_points or 0 for s in dimension.segments)
            assert abs(points - (r.nrr - 100)) <= Decimal("0.005") * (len(dimension.segments) + 1)
        assert 0 <= dimension.moved <= whole.customers.start
