"""A quarter: its months' roll-forward added up, and the retention of the customers who
had MRR at its start, computed by hand and on generated histories."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.errors import BadMonth
from reports.facts import Facts
from reports.fx import FxTable
from reports.metrics import MetricSettings, compute_month, compute_months
from reports.metrics.mrr import convert
from reports.metrics.quarter import quarter_report
from reports.metrics.report import QuarterReport
from reports.metrics.retention import PeriodRetention
from reports.month import month_bounds, parse_quarter
from reports.render.email_text import render_email_text
from reports.render.html import render_email_html
from reports.render.quarter import render_quarter_csv
from reports.render.slack import render_slack_blocks
from tests.reports.builders import make_facts, span, ts

USD = FxTable("usd")


def _quarter(facts: Facts, quarter: str, fx: FxTable = USD, tz: str = "UTC") -> QuarterReport:
    name, months = parse_quarter(quarter)
    period = PeriodRetention(month_bounds(months[0], tz)[0] - 1, month_bounds(months[-1], tz)[1] - 1, fx)
    reports = compute_months([facts.of_customers()], [(m, "final") for m in months], MetricSettings(timezone=tz), fx,
                             revenue=(), plans=(), account_name=None, data_as_of=None, tallies=[period])
    return quarter_report(name, reports, period.total)


def test_a_quarter_by_hand() -> None:
    facts = make_facts([
        span("a", 1000, ts(2026, 5, 10), ts(2026, 8, 12)), span("a", 1500, ts(2026, 8, 12)),  # expands in August
        span("b", 1000, ts(2026, 6, 1), ts(2026, 9, 20)),  # churns in September
        span("c", 400, ts(2026, 8, 3)),  # new in August: outside the quarter's cohort
    ])
    q = _quarter(facts, "2026-q3")
    assert (q.quarter, q.months) == ("2026-Q3", ("2026-07", "2026-08", "2026-09"))
    m = q.mrr
    assert (m.start, m.new, m.expansion, m.contraction, m.churn, m.end) == (2000, 400, 500, 0, 1000, 1900)
    assert (q.customers_start, q.customers_end) == (2, 2)
    r = q.retention
    assert (r.cohort_customers, r.cohort_start, r.cohort_end) == (2, 2000, 1500)
    assert (r.nrr, r.grr, r.logo_retention) == (Decimal("75.00"), Decimal("50.00"), Decimal("50.00"))


FACTS = make_facts([
    span("a", 1000, ts(2026, 5, 10), ts(2026, 8, 12)), span("a", 1500, ts(2026, 8, 12)),
    span("b", 1000, ts(2026, 6, 1), ts(2026, 9, 20)),
    span("c", 400, ts(2026, 8, 3)),
])


def test_the_quarter_in_csv_and_in_the_email_and_slack_of_the_month_closing_it() -> None:
    q = _quarter(FACTS, "2026-Q3")
    header, row = list(csv.reader(io.StringIO(render_quarter_csv(q))))
    record = dict(zip(header, row, strict=True))
    assert (record["quarter"], record["months"], record["mrr_start"], record["mrr_end"]) == (
        "2026-Q3", "2026-07 2026-08 2026-09", "20.00", "19.00")
    assert (record["nrr"], record["grr"], record["logo_retention"]) == ("75.00", "50.00", "50.00")
    september = replace(compute_month(FACTS, "2026-09", MetricSettings(), USD), quarter=q)
    page = render_email_html(september, None, None)
    assert "Quarter 2026-Q3 (July to September 2026)" in page and "NRR of the 2 customers paying at its start" in page
    assert "$20.00 → $19.00" in page
    text = render_email_text(september, None)
    assert "Quarter 2026-Q3 (July to September 2026)" in text and "75.0%" in text
    sections = [b["text"]["text"] for b in render_slack_blocks(september, None)["blocks"] if "text" in b]
    assert ("*Quarter 2026-Q3 (July to September 2026)*: NRR 75.0% · GRR 50.0% · logo retention 50.0% of the "
            "customers paying at its start · year over year NRR n/a") in sections
    # Other months, and months computed without it, show no quarter.
    plain = replace(september, quarter=None)
    assert "Quarter" not in render_email_html(plain, None, None) + render_email_text(plain, None)


@pytest.mark.parametrize("text", ["2026-Q0", "2026-Q5", "2026Q3", "26-Q1", "2026-03"])
def test_a_quarter_must_look_like_one(text: str) -> None:
    with pytest.raises(BadMonth, match="--quarter must look like 2026-Q3"):
        parse_quarter(text)


DAY = 86400
ORIGIN = ts(2025, 12, 1)


@st.composite
def _histories(draw: st.DrawFn) -> Facts:
    spans = []
    for c in range(draw(st.integers(1, 6))):
        for k in range(draw(st.integers(1, 3))):
            start = ORIGIN + draw(st.integers(0, 300 * DAY))
            length = draw(st.one_of(st.none(), st.integers(1, 150 * DAY)))
            spans.append(span(f"cus_{c}", draw(st.integers(0, 50_000)), start, None if length is None else start + length,
                              item=f"si_{c}_{k}", sub=f"sub_{c}_{k}", currency=draw(st.sampled_from(["usd", "eur"]))))
    return make_facts(spans)


@settings(max_examples=80, deadline=None)
@given(_histories(), st.sampled_from(["2026-Q1", "2026-Q2", "2026-Q3"]),
       st.sampled_from(["UTC", "America/New_York"]), st.integers(9000, 13000))
def test_a_quarter_reconciles_and_its_retention_is_its_starting_customers(
    facts: Facts, quarter: str, tz: str, rate: int
) -> None:
    fx = FxTable("usd", observed=[("eur", ORIGIN, Decimal(rate).scaleb(-4)),
                                  ("eur", ORIGIN + 200 * DAY, Decimal(rate + 500).scaleb(-4))])
    q = _quarter(facts, quarter, fx, tz)
    _, months = parse_quarter(quarter)
    opening, closing = month_bounds(months[0], tz)[0] - 1, month_bounds(months[-1], tz)[1] - 1
    first = {s.customer for s in facts.spans if s.mrr and s.start <= opening and (s.end is None or opening < s.end)}

    def mrr(customer: str, at: int) -> int:
        native: dict[str, int] = {}
        for s in facts.spans:
            if s.customer == customer and s.mrr and s.start <= at and (s.end is None or at < s.end):
                native[s.currency] = native.get(s.currency, 0) + s.mrr
        return convert(native, fx, closing)

    start, end = sum(mrr(c, opening) for c in first), sum(mrr(c, closing) for c in first)
    assert (q.retention.cohort_customers, q.retention.cohort_start, q.retention.cohort_end) == (len(first), start, end)
    m = q.mrr
    assert m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn + m.fx_impact == m.end
