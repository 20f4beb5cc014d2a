"""Signup cohorts (METRICS.md §6), computed by hand, and how they are shown."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from decimal import Decimal

import pytest

from reports.fx import FxTable
from reports.metrics import MetricSettings, compute_month, signup_cohorts
from reports.render.cohort_chart import render_cohort_heatmap_png
from reports.render.cohorts import render_cohorts_csv, render_cohorts_json, render_cohorts_text
from reports.render.html import render_email_html
from reports.render.slack import render_slack_blocks
from tests.reports.builders import make_facts, span, ts

USD = FxTable("usd")
MONTHS = ["2026-01", "2026-02", "2026-03"]
FACTS = make_facts([
    span("a", 1000, ts(2026, 1, 5), ts(2026, 2, 10)), span("a", 1500, ts(2026, 2, 10)),  # January, expands
    span("b", 1000, ts(2026, 1, 20), ts(2026, 3, 2)),  # January, churns in March
    span("e", 300, ts(2026, 1, 10), ts(2026, 1, 25)), span("e", 500, ts(2026, 3, 15)),  # January, back in March
    span("c", 400, ts(2026, 2, 3)),  # February
    span("d", 700, ts(2025, 11, 1)),  # before the table: the row "earlier"
    span("f", 900, ts(2026, 4, 2)),  # after it: in no row
])


def test_a_cohort_triangle_by_hand() -> None:
    table = signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC")
    january, february, march = table.cohorts
    # January: a, b and e; e left in its first month, so it is not in the new MRR
    # (2,000), and its return in March counts as a gain.
    assert (january.month, january.customers, january.mrr, january.paying) == ("2026-01", 3, (2000, 2500, 2000), (2, 2, 2))
    assert january.net_retention == (Decimal("100.00"), Decimal("125.00"), Decimal("100.00"))
    assert january.logo_retention == (Decimal("66.67"),) * 3
    assert (february.customers, february.mrr, february.net_retention) == (1, (400, 400), (Decimal("100.00"),) * 2)
    assert (march.customers, march.mrr, march.net_retention, march.logo_retention) == (0, (0,), (None,), (None,))
    assert (table.earlier.month, table.earlier.customers, table.earlier.mrr) == (None, 1, (700, 700, 700))
    assert table.total_mrr == (2700, 3600, 3100) and table.total_paying == (3, 4, 4)


def test_the_last_column_is_the_months_closing_mrr() -> None:
    table = signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC")
    march = compute_month(FACTS, "2026-03", MetricSettings(), USD)
    assert table.total_mrr[-1] == march.mrr.end
    assert table.total_paying[-1] == march.customers.end


def test_amounts_are_at_the_last_months_rate() -> None:
    # One EUR customer, the rate moving: constant currency keeps its cohort at 100%.
    fx = FxTable("usd", observed=[("eur", ts(2026, 1, 15), Decimal("1.10")), ("eur", ts(2026, 3, 15), Decimal("1.20"))])
    facts = make_facts([span("g", 1000, ts(2026, 1, 5), currency="eur")])
    (january, *_) = signup_cohorts([facts.of_customers()], MONTHS, fx, "UTC").cohorts
    assert january.mrr == (1200, 1200, 1200) and january.net_retention == (Decimal("100.00"),) * 3


def test_months_must_follow_each_other() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        signup_cohorts([], ["2026-01", "2026-03"], USD, "UTC")


def test_the_heatmap_is_a_deterministic_png_a_row_per_cohort() -> None:
    table = signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC")
    png = render_cohort_heatmap_png(table)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"Software" not in png
    assert render_cohort_heatmap_png(table) == png
    width, height = struct.unpack(">II", png[16:24])
    longer = signup_cohorts([FACTS.of_customers()], ["2025-12", *MONTHS], USD, "UTC")
    assert struct.unpack(">II", render_cohort_heatmap_png(longer)[16:24]) == (width, height + 30)


def test_the_email_shows_the_heatmap_only_with_the_cohorts() -> None:
    march = compute_month(FACTS, "2026-03", MetricSettings(), USD)
    with_cohorts = replace(march, cohorts=signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC"))
    page = render_email_html(with_cohorts, None, "chart", cohorts_cid="heat")
    assert 'src="cid:heat"' in page and "Signup cohorts" in page and "reactivation is a gain" in page
    assert "cid:heat" not in render_email_html(march, None, "chart", cohorts_cid="heat")
    assert 'src="heat.png"' in render_email_html(with_cohorts, None, None, chart_src="c.png", cohorts_src="heat.png")


def test_text_json_and_csv_say_the_same() -> None:
    table = signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC")
    doc = json.loads(render_cohorts_json(table))
    assert doc["cohorts"][0] == {
        "cohort": "2026-01", "months": MONTHS, "new_mrr": 20.0, "customers": 3, "mrr": [20.0, 25.0, 20.0],
        "paying_customers": [2, 2, 2], "net_mrr_retention": [100.0, 125.0, 100.0],
        "logo_retention": [66.67, 66.67, 66.67]}
    assert doc["earlier"] == {"customers": 1, "mrr": [7.0, 7.0, 7.0], "paying_customers": [1, 1, 1]}
    assert doc["total"] == {"mrr": [27.0, 36.0, 31.0], "paying_customers": [3, 4, 4]}
    rows = render_cohorts_csv(table).splitlines()
    assert rows[1:4] == ["2026-01,3,2026-01,0,20.00,2,100.00,66.67", "2026-01,3,2026-02,1,25.00,2,125.00,66.67",
                         "2026-01,3,2026-03,2,20.00,2,100.00,66.67"]
    assert rows[-1] == "earlier,1,2026-03,2,7.00,1,,"
    text = render_cohorts_text(table)
    assert "2026-01           3           20.00    100.0%  125.0%  100.0%" in text
    assert "total" in text and "31.00" in text


def test_slack_shows_the_latest_cohorts_retention_only_with_the_cohorts() -> None:
    march = compute_month(FACTS, "2026-03", MetricSettings(), USD)
    with_cohorts = replace(march, cohorts=signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC"))
    texts = [b["text"]["text"] for b in render_slack_blocks(with_cohorts, None)["blocks"] if "text" in b]
    # March's own cohort (always 100 % of itself, here empty) is left out.
    assert "*Signup cohorts*, MRR now over their first month's: 2026-01: 100.0% · 2026-02: 100.0%" in texts
    assert not any("Signup cohorts" in b.get("text", {}).get("text", "")
                   for b in render_slack_blocks(march, None)["blocks"])
