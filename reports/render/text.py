"""``nrr report`` in a terminal: the roll-forward, retention, movers and the settings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from reports.fx import to_major
from reports.metrics import MonthReport

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def money(minor: int, currency: str, *, signed: bool = False) -> str:
    """``123456`` usd -> ``1,234.56``; ``signed`` shows a + on positive amounts."""
    text = f"{to_major(minor, currency):,}"
    return f"+{text}" if signed and minor > 0 else text


def percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value}%"


def short_percent(value: Decimal | None) -> str:
    """A percentage in a narrow table cell: ``104.2%``, ``–`` without one."""
    return "–" if value is None else f"{value:.1f}%"


def month_title(month: str) -> str:
    year, mm = month.split("-")
    return f"{_MONTHS[int(mm) - 1]} {year}"


def _as_of(at: int | None) -> str:
    if at is None:
        return "unknown"
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _row(label: str, amount: str, count: int | str = "") -> str:
    return f"  {label:<28}{amount:>18}{count!s:>11}"


def _rollforward(r: MonthReport) -> list[str]:
    m, c, cur = r.mrr, r.customers, r.currency.upper()
    return [
        f"MRR roll-forward ({cur})",
        _row("", "amount", "customers"),
        _row("Start", money(m.start, r.currency), c.start),
        _row("+ New", money(m.new, r.currency), c.new),
        _row("+ Reactivation", money(m.reactivation, r.currency), c.reactivated),
        _row("+ Expansion", money(m.expansion, r.currency), c.expanded),
        _row("- Contraction", money(m.contraction, r.currency), c.contracted),
        _row("- Churn", money(m.churn, r.currency), c.churned),
        _row("    voluntary", money(m.churn_voluntary, r.currency), c.churned_voluntary),
        _row("    involuntary", money(m.churn_involuntary, r.currency), c.churned_involuntary),
        _row("+/- FX impact", money(m.fx_impact, r.currency, signed=True)),
        _row("End", money(m.end, r.currency), c.end),
        f"  ARR {money(r.arr.start, r.currency)} -> {money(r.arr.end, r.currency)}",
        (
            f"  Same-month start and cancel: {c.same_month_start_and_cancel}.  "
            f"Pending churn: {c.pending_churn} customer(s), {money(r.pending_churn_mrr, r.currency)} MRR "
            "(cancellation requested, not yet effective)."
        ),
    ]


def _retention(r: MonthReport) -> list[str]:
    t = r.retention
    return [
        (
            f"Retention (cohort: {t.cohort_customers} customers with MRR at the start of the month, "
            f"{money(t.cohort_start, r.currency)} at the month-end rate)"
        ),
        f"  NRR {percent(t.nrr)}   GRR {percent(t.grr)}   Logo retention {percent(t.logo_retention)}",
        f"  Trailing 12 months ({t.cohort_12m_customers} customers): NRR {percent(t.nrr_12m)}   GRR {percent(t.grr_12m)}",
        f"  NRR annualised {percent(t.nrr_annualized)} (monthly NRR compounded: an estimate, not a cohort measure)",
        (
            f"  Churn rates: logo {percent(t.logo_churn)}, gross MRR {percent(t.gross_mrr_churn)}, "
            f"net MRR {percent(t.net_mrr_churn)}"
        ),
    ]


def _revenue(r: MonthReport) -> list[str]:
    v, k, cur = r.revenue, r.collections, r.currency
    return [
        f"Revenue billed ({r.currency.upper()}, tax excluded)",
        f"  recurring {money(v.recurring, cur)}   usage {money(v.usage, cur)}   one-time {money(v.one_time, cur)}",
        f"  refunds {money(v.refunds, cur)}   credit notes {money(v.credit_notes, cur)} (beside, never netted)",
        "Collections",
        (
            f"  failed invoices {k.failed_invoices} ({money(k.failed_amount, cur)})   "
            f"recovered {k.recovered_invoices} ({money(k.recovered_amount, cur)})   "
            f"past-due MRR at month end {money(k.past_due_mrr, cur)}"
        ),
    ]


def _movers(r: MonthReport) -> list[str]:
    lines = ["Top movers"]
    if not r.top_movers:
        return [*lines, "  none above 0.5% of start MRR"]
    for t in r.top_movers:
        who = f"{t.name} ({t.customer})" if t.name else t.customer
        lines.append(
            f"  {t.movement:<12} {who:<40} {money(t.from_mrr, r.currency):>12} -> "
            f"{money(t.to_mrr, r.currency):<12} {money(t.delta, r.currency, signed=True):>12}"
            + (f"  {t.plan}" if t.plan else "")
        )
    return lines


def _footer(r: MonthReport) -> list[str]:
    s = r.settings
    lines = [
        (
            f"Settings: discount_mode={s.discount_mode}, churn_recognition={s.churn_recognition}, "
            f"past_due_grace_days={s.past_due_grace_days}, usage_in_mrr={s.usage_in_mrr}, "
            f"currency={r.currency}, timezone={r.timezone}"
        ),
    ]
    rates = [f"{c}: {a} -> {b}" for c, a, b in r.fx_rates]
    if rates:
        lines.append(f"FX ({r.currency.upper()} per unit, month start -> end): " + "; ".join(rates))
    return lines


def render_text(report: MonthReport) -> str:
    """A readable terminal summary of one month."""
    who = f"{report.account_name}: " if report.account_name else ""
    status = "final" if report.status == "final" else "PRELIMINARY (the month is not complete)"
    head = [
        f"{who}MRR report for {month_title(report.month)} ({report.timezone})",
        f"Status: {status}.  Data as of {_as_of(report.data_as_of)}.",
    ]
    blocks = [head, _rollforward(report), _retention(report), _revenue(report), _movers(report), _footer(report)]
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"
