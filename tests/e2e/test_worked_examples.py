"""METRICS.md §7 worked examples, reproduced from Stripe-shaped accounts end to end.

Each account is a set of subscription stories told the way Stripe records them: cycle
invoices for every billed period, proration invoices (credit for the unused time on the
old state, charge for the remaining time on the new one) for mid-period changes,
cancellations asked for in one month (``canceled_at``, ``cancel_at_period_end``) that
end at period end in the next (``ended_at``), annual and quarterly plans, and
``customer.subscription.*`` events for the recent changes the daemon saw. The objects go
through ``syncer.normalize.normalize`` and then ``reports.metrics.compute_month``; the
figures of §7 must come out exactly. Amounts in METRICS.md are dollars; here cents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from reports.facts import ChurnKind, Facts
from reports.fx import FxTable
from reports.metrics import (
    MetricSettings,
    MonthReport,
    compute_month,
    customer_mrr,
)
from reports.month import add_months as shift_month
from reports.month import add_months_to_instant as add_months
from reports.month import month_bounds
from syncer.normalize import NormalizeSettings, RawAccount, normalize
from tests.syncer.normalize.builders import (
    DAY,
    HOUR,
    JSON,
    charge,
    customer,
    cycle_invoice,
    event,
    invoice,
    invoice_payment,
    item,
    line,
    price,
    subscription,
)

USD = 100  # cents per dollar: METRICS.md amounts are major units


def at(y: int, m: int, d: int = 1, h: int = 0) -> int:
    return int(datetime(y, m, d, h, tzinfo=UTC).timestamp())


def plan(pid: str, dollars: int, *, interval: str = "month", count: int = 1) -> JSON:
    return price(pid, dollars * USD, interval=interval, count=count)


# ---- subscription stories -------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A plan or quantity change at ``at``. Mid-period it is prorated: ``invoice_now`` bills
    the proration at once, else it rides on the next cycle invoice. At a period start
    (a renewal) it is simply billed by that period's cycle invoice."""

    at: int
    price: JSON
    quantity: int
    invoice_now: bool = True


@dataclass
class Story:
    cus: str
    price: JSON
    quantity: int
    start: int
    changes: list[Change] = field(default_factory=list)
    requested: int | None = None  # canceled_at
    ended: int | None = None  # ended_at (period end, or the request time if immediate)
    reason: str = "cancellation_requested"
    feedback: str | None = None
    seen: bool = False  # the daemon kept customer.subscription.* events for this story
    sid: str = ""

    def __post_init__(self) -> None:
        self.sid = self.sid or f"sub_{self.cus}"

    @property
    def item_id(self) -> str:
        return f"si_{self.sid}"

    def months(self) -> int:
        recurring = self.price["recurring"]
        per = 12 if recurring["interval"] == "year" else 1
        return per * int(recurring["interval_count"])

    def period(self, t: int) -> tuple[int, int]:
        """The billing period containing ``t`` (anchored at ``start``)."""
        k = 0
        while add_months(self.start, (k + 1) * self.months()) <= t:
            k += 1
        return add_months(self.start, k * self.months()), add_months(self.start, (k + 1) * self.months())

    def state(self, t: int) -> tuple[JSON, int]:
        current = (self.price, self.quantity)
        for c in sorted(self.changes, key=lambda c: c.at):
            if c.at <= t:
                current = (c.price, c.quantity)
        return current

    def prices(self) -> list[JSON]:
        return [self.price, *(c.price for c in self.changes)]


def _prorated(p: JSON, quantity: int, t: int, period: tuple[int, int]) -> int:
    whole = int(p["unit_amount"]) * quantity
    return round(Fraction(whole * (period[1] - t), period[1] - period[0]))


def _proration_lines(s: Story, c: Change) -> list[JSON]:
    period = s.period(c.at)
    old_price, old_qty = s.state(c.at - 1)
    return [
        line(f"il_{s.sid}_{c.at}_unused", -_prorated(old_price, old_qty, c.at, period), old_price,
             quantity=old_qty, item_id=s.item_id, sub=s.sid, period=(c.at, period[1]), proration=True),
        line(f"il_{s.sid}_{c.at}_remaining", _prorated(c.price, c.quantity, c.at, period), c.price,
             quantity=c.quantity, item_id=s.item_id, sub=s.sid, period=(c.at, period[1]), proration=True),
    ]


def _sub_object(s: Story, t: int, now: int) -> JSON:
    """The subscription as Stripe shows it at ``t`` (the current object when ``t == now``)."""
    p, q = s.state(t)
    ended = s.ended is not None and s.ended <= t
    requested = s.requested is not None and s.requested <= t
    at_period_end = requested and s.ended is not None and s.ended != s.requested
    live = min(t, s.ended - 1) if s.ended is not None else t
    sub = subscription(
        [item(s.item_id, p, q, created=s.start, period=s.period(live), sub=s.sid)],
        sid=s.sid, customer=s.cus, status="canceled" if ended else "active", start=s.start,
        ended_at=s.ended if ended else None, canceled_at=s.requested if requested else None,
        cancel_at_period_end=at_period_end,
        reason=s.reason if requested else None, feedback=s.feedback if requested else None,
        latest_invoice=None,
    )
    sub["cancel_at"] = s.ended if at_period_end else None
    return sub


def build(s: Story, now: int) -> tuple[JSON, list[JSON], list[JSON]]:
    """(current subscription, invoices, events) of one story as of ``now``."""
    invoices: list[JSON] = []
    deferred: dict[int, list[JSON]] = {}  # next cycle start -> proration lines riding on it
    for c in s.changes:
        ps, pe = s.period(c.at)
        if c.at == ps:
            continue  # a change at renewal: the cycle invoice bills it
        if c.invoice_now:
            invoices.append(invoice(f"in_{s.sid}_upd_{c.at}", _proration_lines(s, c), created=c.at,
                                    sub=s.sid, customer=s.cus, reason="subscription_update"))
        else:
            deferred.setdefault(pe, []).extend(_proration_lines(s, c))
    k = 0
    while True:
        ps = add_months(s.start, k * s.months())
        if ps > now or (s.ended is not None and ps >= s.ended):
            break
        p, q = s.state(ps)
        inv = cycle_invoice(f"in_{s.sid}_{k}", ps, [(s.item_id, p, q)], sub=s.sid, customer=s.cus,
                            end=add_months(ps, s.months()),
                            reason="subscription_create" if k == 0 else "subscription_cycle")
        if ps in deferred:
            inv = invoice(inv["id"], [*deferred.pop(ps), *inv["lines"]["data"]], created=ps, sub=s.sid,
                          customer=s.cus)
        invoices.append(inv)
        k += 1
    assert not deferred, "a deferred proration needs its next cycle invoice before now"
    events: list[JSON] = []
    if s.seen:
        for c in s.changes:
            before = _sub_object(s, c.at - 1, now)
            events.append(event(f"evt_{s.sid}_{c.at}", "customer.subscription.updated", c.at,
                                _sub_object(s, c.at, now), {"items": before["items"]}))
        if s.requested is not None and s.requested != s.ended:
            events.append(event(f"evt_{s.sid}_req", "customer.subscription.updated", s.requested,
                                _sub_object(s, s.requested, now), {"cancel_at_period_end": False}))
        if s.ended is not None:
            events.append(event(f"evt_{s.sid}_del", "customer.subscription.deleted", s.ended,
                                _sub_object(s, s.ended, now)))
    sub = _sub_object(s, now, now)
    sub["latest_invoice"] = max(invoices, key=lambda i: i["created"])["id"]
    return sub, invoices, [e for e in events if e["created"] <= now]


def account(stories: list[Story], now: int, **extra: list[JSON]) -> Facts:
    """Every story's objects, normalized as of ``now`` with the default settings."""
    subs: list[JSON] = []
    invoices: list[JSON] = list(extra.pop("invoices", []))
    events: list[JSON] = list(extra.pop("events", []))
    prices: dict[str, JSON] = {}
    for s in stories:
        sub, invs, evts = build(s, now)
        subs.append(sub)
        invoices += invs
        events += evts
        prices.update({p["id"]: p for p in s.prices()})
    for sub in extra.get("subscriptions", []):
        prices.update({it["price"]["id"]: it["price"] for it in sub["items"]["data"]})
    subs += extra.pop("subscriptions", [])
    names = sorted({s.cus for s in stories} | {sub["customer"] for sub in subs})
    raw = RawAccount(customers=[customer(c, c.removeprefix("cus_").title()) for c in names],
                     prices=list(prices.values()), subscriptions=subs, invoices=invoices,
                     events=events, **extra)  # type: ignore[arg-type]
    return normalize(raw, NormalizeSettings(), now=now)


def report(facts: Facts, month: str) -> MonthReport:
    return compute_month(facts, month, MetricSettings(), FxTable("usd"))


def movements(r: MonthReport) -> dict[str, tuple[str, int]]:
    return {m.customer: (m.movement, m.delta) for m in r.movements}


def assert_rolls_forward(r: MonthReport) -> None:
    m = r.mrr
    assert m.end == m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn + m.fx_impact
    assert m.fx_impact == 0
    assert m.churn == m.churn_voluntary + m.churn_involuntary


def pct(text: str) -> Decimal:
    return Decimal(text)


# ---- §7 row 1: 50,000 start, +4,000 −1,000 −500 → NRR 105.0, GRR 97.0 ------------------------

SEAT = plan("price_seat", 100)  # per seat per month
ANNUAL_480K = plan("price_annual_480k", 480_000, interval="year")
BUSINESS = plan("price_business", 5_000)
GROWTH = plan("price_growth", 4_000)
BASIC = plan("price_basic", 500)
TEAM = plan("price_team", 2_000)


def row_1_stories() -> list[Story]:
    return [
        # $480,000 a year = $40,000 MRR, untouched.
        Story("cus_annual", ANNUAL_480K, 1, at(2024, 9, 15)),
        # 30 seats → 70 seats on June 12th, prorated at once and seen as an event: +$4,000.
        Story("cus_seats", SEAT, 30, at(2024, 11, 5),
              changes=[Change(at(2025, 6, 12, 14), SEAT, 70)], seen=True),
        # Business → Growth on June 8th, the credit rides on the next invoice: −$1,000.
        Story("cus_down", BUSINESS, 1, at(2025, 2, 20),
              changes=[Change(at(2025, 6, 8, 9), GROWTH, 1, invoice_now=False)]),
        # Cancellation asked for on May 20th, effective at period end, June 10th: −$500.
        Story("cus_leaving", BASIC, 1, at(2025, 1, 10),
              requested=at(2025, 5, 20, 16), ended=at(2025, 6, 10), feedback="too_expensive", seen=True),
        # 15 seats, unchanged: $1,500.
        Story("cus_steady", SEAT, 15, at(2024, 6, 1)),
        # New in June, outside the cohort: +$2,000 new.
        Story("cus_new", TEAM, 1, at(2025, 6, 15, 10), seen=True),
    ]


def test_row_1_nrr_105_grr_97() -> None:
    facts = account(row_1_stories(), now=at(2025, 7, 20))
    r = report(facts, "2025-06")
    assert (r.mrr.start, r.mrr.new, r.mrr.reactivation) == (50_000 * USD, 2_000 * USD, 0)
    assert (r.mrr.expansion, r.mrr.contraction, r.mrr.churn) == (4_000 * USD, 1_000 * USD, 500 * USD)
    assert r.mrr.churn_voluntary == 500 * USD
    assert r.mrr.end == (50_000 + 2_000 + 4_000 - 1_000 - 500) * USD
    assert_rolls_forward(r)
    assert movements(r) == {
        "cus_seats": ("expansion", 4_000 * USD),
        "cus_down": ("contraction", -1_000 * USD),
        "cus_leaving": ("churn", -500 * USD),
        "cus_new": ("new", 2_000 * USD),
    }
    assert (r.retention.cohort_start, r.retention.cohort_end) == (50_000 * USD, 52_500 * USD)
    assert (r.retention.nrr, r.retention.grr) == (pct("105.00"), pct("97.00"))
    assert r.retention.cohort_customers == 5
    assert r.retention.logo_retention == pct("80.00")
    # The changes happened when Stripe says they did, not at the next invoice.
    june_12 = at(2025, 6, 12, 14)
    assert customer_mrr(facts, "cus_seats", june_12 - 1) == {"usd": 3_000 * USD}
    assert customer_mrr(facts, "cus_seats", june_12) == {"usd": 7_000 * USD}
    assert customer_mrr(facts, "cus_down", at(2025, 6, 8, 9)) == {"usd": 4_000 * USD}
    # The cancellation was pending at the end of May, and subtracted only in June.
    may = report(facts, "2025-05")
    assert (may.customers.pending_churn, may.pending_churn_mrr, may.mrr.churn) == (1, 500 * USD, 0)
    [leaving] = [m for m in r.movements if m.customer == "cus_leaving"]
    assert (leaving.churn_kind, leaving.reason, leaving.derived) == ("voluntary", "cancellation_requested", False)


# ---- §7 row 2: 100,000 start, +6,000 −1,000 −3,000 → NRR 102.0 (126.82 a year), GRR 96.0 -------

ANNUAL_600K = plan("price_annual_600k", 600_000, interval="year")
ANNUAL_672K = plan("price_annual_672k", 672_000, interval="year")
QUARTERLY_81K = plan("price_quarterly_81k", 81_000, interval="month", count=3)
SCALE = plan("price_scale", 2_000)
STARTER = plan("price_starter", 1_000)


def row_2_stories() -> list[Story]:
    return [
        # $600,000 a year ($50,000 MRR) upgraded mid-term to $672,000 ($56,000): +$6,000.
        Story("cus_enterprise", ANNUAL_600K, 1, at(2024, 10, 1),
              changes=[Change(at(2025, 6, 17, 11), ANNUAL_672K, 1)], seen=True),
        # 200 seats → 190 on June 23rd: −$1,000.
        Story("cus_seats", SEAT, 200, at(2024, 3, 3),
              changes=[Change(at(2025, 6, 23, 8), SEAT, 190)], seen=True),
        # Asked on May 25th to cancel at period end, June 3rd: −$2,000.
        Story("cus_leaving", SCALE, 1, at(2024, 12, 3),
              requested=at(2025, 5, 25, 12), ended=at(2025, 6, 3), seen=True),
        # Cancelled at once on June 14th: −$1,000.
        Story("cus_quit", STARTER, 1, at(2025, 3, 28),
              requested=at(2025, 6, 14, 15), ended=at(2025, 6, 14, 15), seen=True),
        # $81,000 a quarter = $27,000 MRR, unchanged.
        Story("cus_quarterly", QUARTERLY_81K, 1, at(2025, 2, 1)),
    ]


def test_row_2_nrr_102_annualised_126_82_grr_96() -> None:
    facts = account(row_2_stories(), now=at(2025, 7, 20))
    r = report(facts, "2025-06")
    assert (r.mrr.start, r.mrr.new, r.mrr.reactivation) == (100_000 * USD, 0, 0)
    assert (r.mrr.expansion, r.mrr.contraction, r.mrr.churn) == (6_000 * USD, 1_000 * USD, 3_000 * USD)
    assert (r.mrr.churn_voluntary, r.mrr.churn_involuntary) == (3_000 * USD, 0)
    assert r.mrr.end == 102_000 * USD
    assert_rolls_forward(r)
    assert movements(r) == {
        "cus_enterprise": ("expansion", 6_000 * USD),
        "cus_seats": ("contraction", -1_000 * USD),
        "cus_leaving": ("churn", -2_000 * USD),
        "cus_quit": ("churn", -1_000 * USD),
    }
    assert (r.retention.nrr, r.retention.grr) == (pct("102.00"), pct("96.00"))
    assert r.retention.nrr_annualized == pct("126.82")
    assert (r.arr.start, r.arr.end) == (1_200_000 * USD, 1_224_000 * USD)
    assert (r.customers.start, r.customers.churned, r.customers.end) == (5, 2, 3)


# ---- §7 row 3: 12-month cohort, 20,000 at the start of M−11 → nrr_12m 110.0, grr_12m 85.0 --------

ANNUAL_120K = plan("price_annual_120k", 120_000, interval="year")
ANNUAL_108K = plan("price_annual_108k", 108_000, interval="year")
SEAT_250 = plan("price_seat_250", 250)
PLUS = plan("price_plus", 3_000)
PREMIUM = plan("price_premium", 4_000)


def row_3_stories() -> list[Story]:
    return [
        # 20 seats ($5,000) → 32 in April → 40 in September: +$5,000 over the year.
        Story("cus_seats", SEAT_250, 20, at(2024, 6, 7),
              changes=[Change(at(2025, 4, 16, 10), SEAT_250, 32),
                       Change(at(2025, 9, 2, 13), SEAT_250, 40, invoice_now=False)], seen=False),
        # $120,000 a year, renewed on March 1st at $108,000 (billed by the renewal): −$1,000.
        Story("cus_annual", ANNUAL_120K, 1, at(2024, 3, 1),
              changes=[Change(at(2025, 3, 1), ANNUAL_108K, 1)]),
        # Asked in June, left at period end, July 1st: −$2,000.
        Story("cus_leaving", TEAM, 1, at(2024, 9, 1), requested=at(2025, 6, 20, 9), ended=at(2025, 7, 1)),
        # $3,000, unchanged.
        Story("cus_steady", PLUS, 1, at(2024, 11, 12)),
        # New in May 2025: outside the twelve-month cohort.
        Story("cus_new", PREMIUM, 1, at(2025, 5, 10)),
    ]


def _twelve_month_buckets(facts: Facts, month: str) -> tuple[int, int, int, int]:
    """(start, expansion, contraction, churn) of the customers with MRR at the start of M−11."""
    first, _ = month_bounds(shift_month(month, -11), "UTC")
    _, after = month_bounds(month, "UTC")
    start = expansion = contraction = churn = 0
    for cus in sorted({s.customer for s in facts.spans}):
        a = sum(customer_mrr(facts, cus, first - 1).values())
        b = sum(customer_mrr(facts, cus, after - 1).values())
        if a == 0:
            continue
        start += a
        if b == 0:
            churn += a
        elif b > a:
            expansion += b - a
        else:
            contraction += a - b
    return start, expansion, contraction, churn


def test_row_3_twelve_month_cohort_nrr_110_grr_85() -> None:
    facts = account(row_3_stories(), now=at(2026, 1, 10))
    assert _twelve_month_buckets(facts, "2025-12") == (20_000 * USD, 5_000 * USD, 1_000 * USD, 2_000 * USD)
    r = report(facts, "2025-12")
    assert_rolls_forward(r)
    assert (r.retention.nrr_12m, r.retention.grr_12m) == (pct("110.00"), pct("85.00"))
    assert r.retention.cohort_12m_customers == 4
    # The month itself: nothing moved in December; the new customer is in its cohort.
    assert (r.mrr.start, r.mrr.end) == (26_000 * USD, 26_000 * USD)
    assert (r.retention.nrr, r.retention.grr) == (pct("100.00"), pct("100.00"))
    # The renewal downgrade took effect with the period that billed it, the July churn in July.
    march = report(facts, "2025-03")
    assert movements(march) == {"cus_annual": ("contraction", -1_000 * USD)}
    july = report(facts, "2025-07")
    assert movements(july) == {"cus_leaving": ("churn", -2_000 * USD)}
    assert movements(report(facts, "2025-09")) == {"cus_seats": ("expansion", 2_000 * USD)}


# ---- §7 row 4: 12-month cohort, 1,000,000 ARR, +200,000 −50,000 −75,000 → 107.5 / 87.5 -----------

SEAT_ANNUAL = plan("price_seat_annual", 10_000, interval="year")  # $10,000 per seat per year
ANNUAL_250K = plan("price_annual_250k", 250_000, interval="year")
ANNUAL_200K = plan("price_annual_200k", 200_000, interval="year")
ANNUAL_75K = plan("price_annual_75k", 75_000, interval="year")
ANNUAL_75K_B = plan("price_annual_75k_b", 75_000, interval="year")


def row_4_stories() -> list[Story]:
    return [
        # 60 seats ($600,000 ARR) → 80 seats in May, prorated for the rest of the term: +$200,000.
        Story("cus_big", SEAT_ANNUAL, 60, at(2024, 7, 1),
              changes=[Change(at(2025, 5, 14, 10), SEAT_ANNUAL, 80)], seen=False),
        # $250,000 ARR renewed on August 1st at $200,000: −$50,000.
        Story("cus_mid", ANNUAL_250K, 1, at(2024, 8, 1), changes=[Change(at(2025, 8, 1), ANNUAL_200K, 1)]),
        # $75,000 ARR, asked in March to stop at the end of the term, April 15th: −$75,000.
        Story("cus_leaving", ANNUAL_75K, 1, at(2024, 4, 15),
              requested=at(2025, 3, 10, 12), ended=at(2025, 4, 15)),
        # $75,000 ARR, unchanged.
        Story("cus_steady", ANNUAL_75K_B, 1, at(2024, 12, 1)),
    ]


def test_row_4_twelve_month_cohort_arr_107_5_87_5() -> None:
    facts = account(row_4_stories(), now=at(2026, 1, 10))
    arr = {"cus_big": (600_000, 800_000), "cus_mid": (250_000, 200_000),
           "cus_leaving": (75_000, 0), "cus_steady": (75_000, 75_000)}
    first, _ = month_bounds("2025-01", "UTC")
    _, after = month_bounds("2025-12", "UTC")
    for cus, (then, now) in arr.items():
        # Each customer's MRR is its ARR / 12, rounded once to the cent.
        assert sum(customer_mrr(facts, cus, first - 1).values()) == round(Fraction(then * USD, 12)), cus
        assert sum(customer_mrr(facts, cus, after - 1).values()) == round(Fraction(now * USD, 12)), cus
    assert sum(a for a, _ in arr.values()) == 1_000_000
    start, expansion, contraction, churn = _twelve_month_buckets(facts, "2025-12")
    # The ARR buckets, to within the rounding of each item's ARR / 12 to a cent.
    assert abs(start * 12 - 1_000_000 * USD) <= 12
    assert abs(expansion * 12 - 200_000 * USD) <= 12
    assert abs(contraction * 12 - 50_000 * USD) <= 12
    assert churn * 12 == 75_000 * USD
    r = report(facts, "2025-12")
    assert_rolls_forward(r)
    assert (r.retention.nrr_12m, r.retention.grr_12m) == (pct("107.50"), pct("87.50"))
    assert r.retention.cohort_12m_customers == 4


# ---- a cancellation asked for in M, effective at period end in M+1 --------------------------------


def test_cancel_at_period_end_is_pending_in_m_and_voluntary_churn_in_m_plus_1() -> None:
    requested, ended = at(2025, 6, 20, 15), at(2025, 7, 8)
    leaving = Story("cus_leaving", TEAM, 1, at(2025, 1, 8), requested=requested, ended=ended,
                    feedback="switched_service", seen=True)
    stories = [leaving, Story("cus_steady", BASIC, 1, at(2025, 1, 1))]
    # The report after the end: pending at the end of June, churn in July.
    facts = account(stories, now=at(2025, 8, 2))
    june, july = report(facts, "2025-06"), report(facts, "2025-07")
    assert (june.mrr.churn, june.customers.churned) == (0, 0)
    assert (june.customers.pending_churn, june.pending_churn_mrr) == (1, 2_000 * USD)
    assert june.mrr.end == 2_500 * USD
    assert (july.mrr.churn, july.mrr.churn_voluntary, july.customers.churned_voluntary) == (2_000 * USD, 2_000 * USD, 1)
    assert (july.customers.pending_churn, july.pending_churn_mrr) == (0, 0)
    [m] = july.movements
    assert (m.customer, m.movement, m.churn_kind, m.reason, m.derived) == (
        "cus_leaving", "churn", "voluntary", "cancellation_requested", False)
    assert_rolls_forward(june)
    assert_rolls_forward(july)
    [churn] = facts.churns
    assert (churn.at, churn.requested_at, churn.kind, churn.feedback) == (
        ended, requested, ChurnKind.VOLUNTARY, "switched_service")


def test_cancel_at_period_end_is_pending_in_the_report_run_before_it_ends() -> None:
    requested, ended = at(2025, 6, 20, 15), at(2025, 7, 8)
    leaving = Story("cus_leaving", TEAM, 1, at(2025, 1, 8), requested=requested, ended=ended, seen=True)
    facts = account([leaving, Story("cus_steady", BASIC, 1, at(2025, 1, 1))], now=at(2025, 7, 2))
    june = report(facts, "2025-06")
    assert (june.mrr.churn, june.mrr.end) == (0, 2_500 * USD)
    assert (june.customers.pending_churn, june.pending_churn_mrr) == (1, 2_000 * USD)


# ---- a cancellation after failed payments -------------------------------------------------------


def test_failed_payment_cancellation_is_involuntary_payment_failed() -> None:
    start, renewal = at(2025, 2, 5), at(2025, 6, 5)
    retries = [renewal + HOUR, at(2025, 6, 8, 1), at(2025, 6, 12, 1), at(2025, 6, 19, 1)]
    canceled = retries[-1] + 60
    dunning = Story("cus_dunning", SCALE, 1, start)
    sub, invoices, _ = build(dunning, now=renewal - 1)
    base = dict(sub, status="active")
    sub = dict(base, status="canceled", canceled_at=canceled, ended_at=canceled,
               cancellation_details={"reason": "payment_failed", "feedback": None, "comment": None},
               latest_invoice="in_sub_cus_dunning_4")
    failed = cycle_invoice("in_sub_cus_dunning_4", renewal, [(dunning.item_id, SCALE, 1)], sub=dunning.sid,
                           customer=dunning.cus, status="uncollectible", attempt_count=len(retries),
                           uncollectible_at=canceled)
    charges = [charge(f"ch_fail_{n}", 2_000 * USD, created=t, pi="pi_dunning", status="failed",
                      customer=dunning.cus) for n, t in enumerate(retries)]
    events = [event("evt_past_due", "customer.subscription.updated", renewal + HOUR,
                    dict(base, status="past_due"), {"status": "active"}),
              event("evt_deleted", "customer.subscription.deleted", canceled, sub)]
    facts = account([Story("cus_steady", BASIC, 1, at(2025, 1, 1))], now=at(2025, 7, 20),
                    subscriptions=[sub], invoices=[*invoices, failed], events=events, charges=charges,
                    invoice_payments=[invoice_payment("inpay_dunning", failed["id"], "pi_dunning")])
    # Past due from June 5th, still MRR (inside the grace days) until the cancellation.
    assert customer_mrr(facts, "cus_dunning", canceled - 1) == {"usd": 2_000 * USD}
    assert customer_mrr(facts, "cus_dunning", canceled) == {}
    r = report(facts, "2025-06")
    assert (r.mrr.churn, r.mrr.churn_involuntary, r.mrr.churn_voluntary) == (2_000 * USD, 2_000 * USD, 0)
    assert (r.customers.churned_involuntary, r.customers.pending_churn) == (1, 0)
    [m] = r.movements
    assert (m.customer, m.movement, m.churn_kind, m.reason, m.derived) == (
        "cus_dunning", "churn", "involuntary", "payment_failed", False)
    assert (r.collections.failed_invoices, r.collections.failed_amount) == (1, 2_000 * USD)
    assert_rolls_forward(r)
    [churn] = facts.churns
    assert (churn.kind, churn.rule, churn.at) == (ChurnKind.INVOLUNTARY, "payment_failed", canceled)


# ---- a customer who comes back months after leaving ------------------------------------------------


def test_new_subscription_months_after_churn_is_a_reactivation() -> None:
    left, back = at(2025, 3, 12), at(2025, 7, 21, 10)
    first = Story("cus_back", TEAM, 1, at(2024, 10, 12), requested=at(2025, 2, 27, 9), ended=left,
                  sid="sub_first", seen=True)
    second = Story("cus_back", SEAT, 25, back, sid="sub_second", seen=True)
    facts = account([first, second, Story("cus_steady", BASIC, 1, at(2024, 6, 1))], now=at(2025, 8, 3))
    march, july = report(facts, "2025-03"), report(facts, "2025-07")
    assert movements(march) == {"cus_back": ("churn", -2_000 * USD)}
    assert (july.mrr.new, july.mrr.reactivation) == (0, 2_500 * USD)
    assert (july.customers.new, july.customers.reactivated) == (0, 1)
    [m] = july.movements
    assert (m.customer, m.movement, m.delta) == ("cus_back", "reactivation", 2_500 * USD)
    assert m.days_since_churn == (back - left) // DAY == 131
    # A reactivated customer is outside the month's cohort.
    assert (july.retention.cohort_customers, july.retention.nrr) == (1, pct("100.00"))
    assert_rolls_forward(march)
    assert_rolls_forward(july)
