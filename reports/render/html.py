"""The monthly email's HTML part: a Jinja2 template, CSS inlined for mail clients.

Pure: the template ships with the package (``reports/render/templates``) and is read by
Jinja2's package loader; no network (remote stylesheets are never loaded), no clock. The
chart is referenced by Content-ID only, so the message carries it as an inline part.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import css_inline
import jinja2

from reports.metrics import MonthReport
from reports.render.cohorts import FOOTER as COHORTS_NOTE
from reports.render.email_text import (
    BENCHMARK_SOURCE,
    FORMULAS,
    as_of,
    benchmark,
    cash,
    company,
    headline,
    pct1,
    quarter_rows,
    quarter_title,
    render_subject,
    retention_rows,
    settings_line,
    status_word,
)
from reports.render.quarter import NOTE as QUARTER_NOTE
from reports.render.segments import EMAIL_NOTE as SEGMENTS_NOTE
from reports.render.segments import dimension_title, largest_segments, signed_points
from reports.render.text import month_title

TEMPLATE = "email.html.j2"


@dataclass(frozen=True)
class _Line:
    label: str
    amount: str
    count: int | str = ""
    css: str = ""


@cache
def _environment() -> jinja2.Environment:
    # Autoescape everything: customer names are user-controlled.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _rollforward(r: MonthReport) -> list[_Line]:
    m, c, cur = r.mrr, r.customers, r.currency
    fx = cash(m.fx_impact, cur)
    return [
        _Line("Start", cash(m.start, cur), c.start, "total"),
        _Line("+ New", cash(m.new, cur), c.new),
        _Line("+ Reactivation", cash(m.reactivation, cur), c.reactivated),
        _Line("+ Expansion", cash(m.expansion, cur), c.expanded),
        _Line("− Contraction", cash(m.contraction, cur), c.contracted),
        _Line("− Churn, voluntary", cash(m.churn_voluntary, cur), c.churned_voluntary),
        _Line("− Churn, involuntary", cash(m.churn_involuntary, cur), c.churned_involuntary),
        _Line("± FX impact", ("+" + fx) if m.fx_impact > 0 else fx),
        _Line("End", cash(m.end, cur), c.end, "total"),
    ]


def _collections(r: MonthReport) -> list[_Line]:
    k, cur = r.collections, r.currency
    return [
        _Line("Failed payments (invoices)", cash(k.failed_amount, cur), k.failed_invoices),
        _Line("Recovered", cash(k.recovered_amount, cur), k.recovered_invoices),
        _Line("Past-due MRR at month end", cash(k.past_due_mrr, cur)),
        _Line("Involuntary churn (MRR)", cash(r.mrr.churn_involuntary, cur), r.customers.churned_involuntary),
    ]


def _revenue(r: MonthReport) -> list[_Line]:
    v, cur = r.revenue, r.currency
    return [
        _Line("Recurring", cash(v.recurring, cur)),
        _Line("Usage", cash(v.usage, cur)),
        _Line("One-time", cash(v.one_time, cur)),
        _Line("Refunds (beside, not netted)", cash(v.refunds, cur)),
        _Line("Credit notes (beside, not netted)", cash(v.credit_notes, cur)),
    ]


def _movers(r: MonthReport) -> list[dict[str, str]]:
    cur = r.currency
    return [
        {"name": t.name or t.customer, "customer": t.customer, "movement": t.movement, "plan": t.plan or "",
         "from_mrr": cash(t.from_mrr, cur), "to_mrr": cash(t.to_mrr, cur),
         "delta": ("+" if t.delta > 0 else "") + cash(t.delta, cur)}
        for t in r.top_movers
    ]


def _segments(r: MonthReport) -> list[dict[str, Any]]:
    cur = r.currency
    return [
        {"title": dimension_title(d.dimension), "moved": d.moved, "more": more, "rows": [
            {"value": s.value, "customers": s.customers_start, "start": cash(s.mrr.start, cur),
             "end": cash(s.mrr.end, cur), "nrr": pct1(s.nrr), "grr": pct1(s.grr), "points": signed_points(s.nrr_points)}
            for s in shown]}
        for d, shown, more in largest_segments(r)
    ]


def _context(report: MonthReport, previous: MonthReport | None, chart_src: str | None) -> dict[str, Any]:
    cur = report.currency
    return {
        "subject": render_subject(report),
        "company": company(report),
        "month_title": month_title(report.month),
        "status": status_word(report),
        "currency": cur.upper(),
        "timezone": report.timezone,
        "as_of": as_of(report.data_as_of),
        "headline": headline(report, previous),
        "rollforward": _rollforward(report),
        "arr_start": cash(report.arr.start, cur),
        "arr_end": cash(report.arr.end, cur),
        "pending_churn": report.customers.pending_churn,
        "pending_churn_mrr": cash(report.pending_churn_mrr, cur),
        "retention": retention_rows(report, previous),
        "benchmark": benchmark(report).sentence(),
        "movers": _movers(report),
        "collections": _collections(report),
        "revenue": _revenue(report),
        "chart_src": chart_src,
        "formulas": FORMULAS,
        "settings": settings_line(report),
        "fx": "; ".join(f"{c}: {a} → {b}" for c, a, b in report.fx_rates),
        "benchmark_source": BENCHMARK_SOURCE,
        "segments": _segments(report),
        "quarter": {"title": quarter_title(report.quarter), "rows": quarter_rows(report.quarter), "note": QUARTER_NOTE}
        if report.quarter else None,
        "segments_note": SEGMENTS_NOTE,
    }


def render_email_html(
    report: MonthReport, previous: MonthReport | None, chart_cid: str | None, *, chart_src: str | None = None,
    cohorts_cid: str | None = None, cohorts_src: str | None = None,
) -> str:
    """The HTML part: table layout, every style inlined, the chart as ``cid:{chart_cid}``
    and, when the report holds its signup cohorts, their heatmap as ``cid:{cohorts_cid}``.

    ``chart_src`` and ``cohorts_src`` replace the ``cid:`` references where the page is
    opened from disk (the preview's files beside it); with neither, no such section.
    """
    src = chart_src or (f"cid:{chart_cid}" if chart_cid else None)
    cohorts = (cohorts_src or (f"cid:{cohorts_cid}" if cohorts_cid else None)) if report.cohorts else None
    context = {**_context(report, previous, src), "cohorts_src": cohorts, "cohorts_note": COHORTS_NOTE}
    page = _environment().get_template(TEMPLATE).render(context)
    # Never fetch anything: a stylesheet link in the template would be a bug, not a fetch.
    return css_inline.inline(page, load_remote_stylesheets=False)
