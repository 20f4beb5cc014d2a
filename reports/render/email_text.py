"""The monthly delivery in plain text, and the wording every delivery format shares.

Pure: a ``MonthReport`` (and last month's, for the changes) in, text out. The HTML email
and the Slack message import the shared pieces from here (headline, benchmark, retention
comparison, formulas) so that all three say exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from reports.fx import minor_digits, to_major
from reports.metrics import MonthReport
from reports.metrics.report import QuarterReport
from reports.render.segments import EMAIL_NOTE, dimension_title, largest_segments, signed_points
from reports.render.text import _as_of, _footer, _movers, _revenue, _rollforward, money, month_title

BENCHMARK_SOURCE = "public SaaS benchmark surveys (KeyBanc Capital Markets, SaaS Capital)"

# (upper ARR bound in major units or None, label, median NRR, upper-quartile NRR): annual NRR
# of private SaaS companies by size, as the public surveys report it.
BENCHMARKS: tuple[tuple[int | None, str, int, int], ...] = (
    (1_000_000, "under $1M", 95, 104),
    (10_000_000, "$1M–$10M", 100, 114),
    (50_000_000, "$10M–$50M", 106, 120),
    (None, "over $50M", 111, 125),
)

FORMULAS: tuple[str, ...] = (
    "NRR = MRR at month end of the customers who had MRR at its start ÷ their MRR at the start.",
    "GRR = the same with each customer's gain capped at zero.",
    "Logo retention = share of those customers still paying at month end.",
    "Trailing 12 months = the same for the customers who had MRR twelve months earlier.",
    "Annualised NRR = monthly NRR to the 12th power (an estimate, not a measured cohort).",
    "Start + new + reactivation + expansion − contraction − churn ± FX = end, to the cent.",
)

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "inr": "₹", "chf": "CHF "}


# --------------------------------------------------------------------------- number formats


def symbol(currency: str) -> str:
    """``$`` for usd; an unknown currency shows its code (``SEK 12``) rather than a guess."""
    return _SYMBOLS.get(currency.lower(), currency.upper() + " ")


def cash(minor: int, currency: str, *, whole: bool = False) -> str:
    """``-150000`` usd -> ``-$1,500.00`` (``whole``: ``-$1,500``, rounded half-even)."""
    major = abs(to_major(minor, currency))
    if whole:
        major = major.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    text = f"{major:,}" if whole or minor_digits(currency) == 0 else money(abs(minor), currency)
    return ("-" if minor < 0 else "") + symbol(currency) + text


def compact(minor: int, currency: str) -> str:
    """Short amounts for chat: ``$950``, ``$52.5k``, ``$1.2M`` (one decimal, trailing .0 dropped)."""
    major = abs(to_major(minor, currency))
    sign = "-" if minor < 0 else ""
    whole = major.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    if whole < 1000:
        return f"{sign}{symbol(currency)}{_trim(whole)}"
    # A unit is kept only if its rounded value stays under 1000: 999,950 is 1M, not 1000k.
    text = ""
    for size, suffix in ((Decimal(1000), "k"), (Decimal(1_000_000), "M"), (Decimal(1_000_000_000), "B")):
        value = (major / size).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
        text = f"{_trim(value)}{suffix}"
        if value < 1000:
            break
    return f"{sign}{symbol(currency)}{text}"


def _trim(value: Decimal) -> str:
    text = f"{value:f}"
    return text.removesuffix(".0")


def pct1(value: Decimal | None) -> str:
    """``Decimal("105.04")`` -> ``105.0%``; None -> ``n/a``."""
    return "n/a" if value is None else f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_EVEN)}%"


def points(current: Decimal | None, previous: Decimal | None) -> str:
    """The change in percentage points, ``+1.2 pts`` / ``-0.4 pts`` / ``±0.0 pts``; empty without both."""
    if current is None or previous is None:
        return ""
    delta = (current - previous).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    if delta == 0:
        return "±0.0 pts"
    return f"{'+' if delta > 0 else ''}{delta} pts"


def status_word(report: MonthReport) -> str:
    return "FINAL" if report.status == "final" else "PRELIMINARY"


def as_of(at: int | None) -> str:
    """``2026-05-03 09:00 UTC`` (the terminal report's wording)."""
    return _as_of(at)


def company(report: MonthReport) -> str:
    return report.account_name or "Your Stripe account"


# --------------------------------------------------------------------------- shared content


def headline(report: MonthReport, previous: MonthReport | None) -> str:
    """One sentence: NRR, its change from last month, and what drove it."""
    r, m, c, cur = report.retention, report.mrr, report.customers, report.currency
    if r.nrr is None:
        return f"NRR n/a: no customer had MRR at the start of {month_title(report.month)}."
    change = points(r.nrr, previous.retention.nrr if previous else None)
    head = f"NRR {pct1(r.nrr)}" + (f" ({change})" if change else "")
    losses, lost = m.contraction + m.churn, c.contracted + c.churned
    if m.expansion == 0 and losses == 0:
        return f"{head}: no existing customer expanded, contracted or churned."
    if m.expansion >= losses:
        return (f"{head}: expansion of {cash(m.expansion, cur, whole=True)} from {_n(c.expanded)} "
                f"outweighed {cash(losses, cur, whole=True)} of churn and contraction.")
    # Name the larger of the two losses as the driver: that is where to look first.
    kind = "churn" if m.churn >= m.contraction else "contraction"
    return (f"{head}: churn and contraction of {cash(losses, cur, whole=True)} from {_n(lost)} "
            f"(mostly {kind}) outweighed {cash(m.expansion, cur, whole=True)} of expansion.")


def _n(count: int) -> str:
    return f"{count} customer" if count == 1 else f"{count} customers"


@dataclass(frozen=True)
class Benchmark:
    band: str
    median: int
    upper_quartile: int
    trailing_nrr: Decimal | None

    def sentence(self) -> str:
        own = f" Your trailing-12-month NRR: {pct1(self.trailing_nrr)}." if self.trailing_nrr is not None else ""
        return (f"For context, private SaaS companies with ARR {self.band} report a median annual NRR of "
                f"{self.median}% and an upper quartile of {self.upper_quartile}%.{own}")


def benchmark(report: MonthReport) -> Benchmark:
    """The public benchmark band for the company's ARR at month end (thresholds in USD)."""
    arr = to_major(report.arr.end, report.currency)
    for bound, band, median, upper in BENCHMARKS:
        if bound is None or arr < bound:
            return Benchmark(band, median, upper, report.retention.nrr_12m)
    raise AssertionError("the last band has no bound")  # pragma: no cover


@dataclass(frozen=True)
class RetentionRow:
    label: str
    current: str
    previous: str
    change: str


def retention_rows(report: MonthReport, previous: MonthReport | None) -> list[RetentionRow]:
    """Monthly NRR, GRR, logo retention, trailing 12 months and the annualised estimate."""
    r = report.retention
    p = previous.retention if previous else None
    pairs = [
        ("NRR (month)", r.nrr, p.nrr if p else None),
        ("GRR (month)", r.grr, p.grr if p else None),
        ("Logo retention (month)", r.logo_retention, p.logo_retention if p else None),
        ("NRR (trailing 12 months)", r.nrr_12m, p.nrr_12m if p else None),
        ("GRR (trailing 12 months)", r.grr_12m, p.grr_12m if p else None),
        ("NRR annualised (estimate)", r.nrr_annualized, p.nrr_annualized if p else None),
    ]
    return [RetentionRow(label, pct1(now), pct1(then) if p else "n/a", points(now, then) or "–")
            for label, now, then in pairs]


def quarter_title(q: QuarterReport) -> str:
    """``2026-Q3 (July to September 2026)``; a quarter under way names the months begun."""
    first, last = month_title(q.months[0]), month_title(q.months[-1])
    span = last if len(q.months) == 1 else f"{first.split()[0]} to {last}"
    return f"{q.quarter} ({span})"


def quarter_rows(q: QuarterReport) -> list[tuple[str, str]]:
    """The quarter the month closes, as the email shows it: the retention of the customers
    paying at its start, its roll-forward, the year-over-year figures at its end."""
    m, r, cur = q.mrr, q.retention, q.currency
    return [
        (f"NRR of the {_n(r.cohort_customers)} paying at its start", pct1(r.nrr)),
        ("GRR", pct1(r.grr)),
        ("Logo retention", pct1(r.logo_retention)),
        ("MRR", f"{cash(m.start, cur)} → {cash(m.end, cur)}"),
        ("New + reactivation", cash(m.new + m.reactivation, cur)),
        ("Expansion", cash(m.expansion, cur)),
        ("Contraction + churn", cash(m.contraction + m.churn, cur)),
        ("Year over year: NRR / GRR", f"{pct1(q.nrr_yoy)} / {pct1(q.grr_yoy)}"),
    ]


def settings_line(report: MonthReport) -> str:
    s = report.settings
    return (f"discount_mode={s.discount_mode}, churn_recognition={s.churn_recognition}, "
            f"past_due_grace_days={s.past_due_grace_days}, usage_in_mrr={s.usage_in_mrr}, "
            f"currency={report.currency}, timezone={report.timezone}")


def render_subject(report: MonthReport) -> str:
    """``Revenue retention for October 2026: NRR 100.6% (final)``; the report of a connected
    account, or of every account, names it: ``… (final), Acme EU``."""
    subject = f"Revenue retention for {month_title(report.month)}: NRR {pct1(report.retention.nrr)} ({report.status})"
    return f"{subject}, {company(report)}" if report.scope else subject


# --------------------------------------------------------------------------- plain text


def _header(report: MonthReport) -> list[str]:
    return [
        f"{company(report)}: revenue retention for {month_title(report.month)}",
        (f"{status_word(report)}.  Reporting currency {report.currency.upper()}, time zone {report.timezone}.  "
         f"Data as of {as_of(report.data_as_of)}."),
    ]


def _retention_block(report: MonthReport, previous: MonthReport | None) -> list[str]:
    rows = retention_rows(report, previous)
    lines = ["Retention", f"  {'':<28}{'this month':>12}{'last month':>12}{'change':>12}"]
    lines += [f"  {r.label:<28}{r.current:>12}{r.previous:>12}{r.change:>12}" for r in rows]
    return [*lines, "  " + benchmark(report).sentence()]


def _involuntary(report: MonthReport) -> str:
    return (f"  involuntary churn {money(report.mrr.churn_involuntary, report.currency)} MRR "
            f"({_n(report.customers.churned_involuntary)})")


def _segments_block(report: MonthReport) -> list[str]:
    cur = report.currency
    lines = [f"Segments ({cur.upper()}; every segment: nrr report --segments)",
             f"  {'':<26}{'customers':>10}{'MRR start':>14}{'MRR end':>14}{'NRR':>9}{'GRR':>9}{'points':>8}"]
    for d, shown, more in largest_segments(report):
        lines.append(f"  {dimension_title(d.dimension)}" + (f" · {d.moved} moved during the month" if d.moved else ""))
        lines += [f"    {s.value[:23]:<24}{s.customers_start:>10}{money(s.mrr.start, cur):>14}"
                  f"{money(s.mrr.end, cur):>14}{pct1(s.nrr):>9}{pct1(s.grr):>9}{signed_points(s.nrr_points):>8}"
                  for s in shown]
        if more:
            lines.append(f"    … {more} smaller")
    return [*lines, "  " + EMAIL_NOTE]


def _quarter_block(q: QuarterReport) -> list[str]:
    return [f"Quarter {quarter_title(q)}", *(f"  {label:<40}{value:>24}" for label, value in quarter_rows(q))]


def render_email_text(report: MonthReport, previous: MonthReport | None) -> str:
    """The plain-text part of the monthly email (same content as the HTML part)."""
    blocks = [
        _header(report),
        [headline(report, previous)],
        _rollforward(report),
        _retention_block(report, previous),
        *([_quarter_block(report.quarter)] if report.quarter else []),
        _movers(report),
        *([_segments_block(report)] if report.segments else []),
        [*_revenue(report), _involuntary(report)],
        ["Formulas", *(f"  {f}" for f in FORMULAS), *_footer(report),
         f"Benchmarks: {BENCHMARK_SOURCE}; thresholds in USD ARR."],
    ]
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"
