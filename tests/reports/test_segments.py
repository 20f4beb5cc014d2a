"""Segments (METRICS.md §6): a month split by plan, interval, country, ARR band and
metadata, computed by hand, and the settings that name them."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from decimal import Decimal

import pytest

from reports.errors import ReconciliationError, ReportError
from reports.facts import Customer, Plan, SubscriptionLabels
from reports.fx import FxTable
from reports.metrics import MetricSettings, MonthReport, compute_months
from reports.metrics.report import SegmentDimension
from reports.metrics.rollforward import Tally
from reports.metrics.segments import (
    SegmentSpec,
    SegmentTally,
    band_labels,
    parse_arr_bands,
    parse_segment_by,
    segment_spec,
)
from reports.render.email_text import render_email_text
from reports.render.html import render_email_html
from reports.render.jsonout import render_json
from reports.render.segments import (
    render_segments_csv,
    render_segments_json,
    render_segments_text,
    segments_moving_nrr,
)
from reports.render.slack import render_slack_blocks
from tests.reports.builders import churn, make_facts, span, ts

USD = FxTable("usd")
PLANS = (Plan("price_s", "Starter", "month"), Plan("price_p", "Pro", "month"), Plan("price_py", "Pro", "year"))
FACTS = replace(
    make_facts(
        [
            # a: Starter 10.00 since January, moves to Pro at 30.00 on 10 March (expansion).
            span("a", 1000, ts(2026, 1, 5), ts(2026, 3, 10), price="price_s"),
            span("a", 3000, ts(2026, 3, 10), price="price_p", item="si_a2"),
            # b: Pro yearly, 20.00 a month, cancels on 15 March (churn).
            span("b", 2000, ts(2026, 1, 20), ts(2026, 3, 15), price="price_py"),
            # c: Starter from 5 March (new).
            span("c", 1000, ts(2026, 3, 5), price="price_s"),
            # d: Pro 50.00 since February, down to 40.00 on 20 March (contraction).
            span("d", 5000, ts(2026, 2, 1), ts(2026, 3, 20), price="price_p"),
            span("d", 4000, ts(2026, 3, 20), price="price_p", item="si_d2"),
        ],
        [churn("b", ts(2026, 3, 15))],
    ),
    customers=(Customer("a", "A", "usd", country="US", metadata=(("tier", "gold"),)),
               Customer("b", "B", "usd", country="DE"),
               Customer("c", "C", "usd", country="US"),
               Customer("d", "D", "usd", country="FR", metadata=(("tier", "gold"),))),
    subscriptions=(SubscriptionLabels("b", "sub_b", (("tier", "silver"),)),),
    plans=PLANS,
)
DIMENSIONS = ("plan", "interval", "currency", "country", "arr_band", "metadata.tier", "customer.metadata.tier",
              "subscription.metadata.tier")


def _march(spec: SegmentSpec) -> dict[str, SegmentDimension]:
    (report,) = compute_months([FACTS.of_customers()], [("2026-03", "final")], MetricSettings(), USD, revenue=(),
                               plans=PLANS, account_name=None, data_as_of=None, segments=spec)
    assert report.segments is not None
    return {d.dimension: d for d in report.segments}


def _rows(dimension: SegmentDimension) -> dict[str, tuple[int, ...]]:
    """Each segment's start, new, expansion, contraction, churn, end and cohort size."""
    return {s.value: (s.mrr.start, s.mrr.new, s.mrr.expansion, s.mrr.contraction, s.mrr.churn, s.mrr.end,
                      s.customers_start) for s in dimension.segments}


SPEC = segment_spec(DIMENSIONS, (200, 500), 2)  # bands: under 200, 200–500, 500 and over (ARR, dollars)


def test_a_month_split_by_plan_by_hand() -> None:
    plan = _march(SPEC)["plan"]
    # The month: start 80.00; new 10.00 (c), expansion 20.00 (a), contraction 10.00 (d),
    # churn 20.00 (b); NRR 70/80 = 87.5 %. a is counted in Starter, its plan at the start.
    assert _rows(plan) == {"Pro": (7000, 0, 0, 1000, 2000, 4000, 2), "Starter": (1000, 1000, 2000, 0, 0, 4000, 1)}
    pro, starter = plan.segments  # the largest at the start first
    assert (pro.nrr, pro.grr, pro.logo_retention) == (Decimal("57.14"), Decimal("57.14"), Decimal("50.00"))
    assert (starter.nrr, starter.grr, starter.logo_retention) == (Decimal("300.00"), Decimal("100.00"),
                                                                  Decimal("100.00"))
    # Points of the month's NRR change: +25 and -37.5 add up to 87.5 - 100.
    assert (starter.nrr_points, pro.nrr_points) == (Decimal("25.00"), Decimal("-37.50"))
    assert (starter.new, pro.churned) == (1, 1)
    assert plan.moved == 1  # a: Starter → Pro


def test_interval_country_and_currency_by_hand() -> None:
    segments = _march(SPEC)
    assert _rows(segments["interval"]) == {"month": (6000, 1000, 2000, 1000, 0, 8000, 2),
                                           "year": (2000, 0, 0, 0, 2000, 0, 1)}
    assert _rows(segments["country"]) == {"FR": (5000, 0, 0, 1000, 0, 4000, 1), "DE": (2000, 0, 0, 0, 2000, 0, 1),
                                          "US": (1000, 1000, 2000, 0, 0, 4000, 1)}
    assert _rows(segments["currency"]) == {"USD": (8000, 1000, 2000, 1000, 2000, 8000, 3)}
    assert (segments["interval"].moved, segments["country"].moved) == (0, 0)


def test_arr_bands_by_the_arr_at_the_months_start() -> None:
    bands = _march(SPEC)["arr_band"]
    # ARR at the start: a 120, b 240, d 600; c (new) by its ARR at the end, 120.
    assert _rows(bands) == {"under 200": (1000, 1000, 2000, 0, 0, 4000, 1),
                            "200–500": (2000, 0, 0, 0, 2000, 0, 1),
                            "500 and over": (5000, 0, 0, 1000, 0, 4000, 1)}
    assert [s.value for s in bands.segments] == ["under 200", "200–500", "500 and over"]  # in band order
    assert bands.moved == 2  # a grew to 360 (200–500), d fell to 480 (200–500)


def test_metadata_from_the_customer_then_its_main_subscription() -> None:
    segments = _march(SPEC)
    assert _rows(segments["metadata.tier"]) == {"gold": (6000, 0, 2000, 1000, 0, 7000, 2),
                                                "silver": (2000, 0, 0, 0, 2000, 0, 1),
                                                "(none)": (0, 1000, 0, 0, 0, 1000, 0)}
    assert set(_rows(segments["customer.metadata.tier"])) == {"gold", "(none)"}
    assert set(_rows(segments["subscription.metadata.tier"])) == {"silver", "(none)"}


def test_each_dimension_adds_up_to_the_month() -> None:
    (report,) = compute_months([FACTS.of_customers()], [("2026-03", "final")], MetricSettings(), USD, revenue=(),
                               plans=PLANS, account_name=None, data_as_of=None, segments=SPEC)
    assert report.segments is not None and len(report.segments) == len(DIMENSIONS)
    for dimension in report.segments:
        assert sum(s.mrr.end for s in dimension.segments) == report.mrr.end == 8000
        assert sum(s.mrr.churn for s in dimension.segments) == report.mrr.churn == 2000
        assert sum(s.customers_start for s in dimension.segments) == report.customers.start == 3
        assert sum(s.customers_end for s in dimension.segments) == report.customers.end == 3


def test_segments_that_do_not_add_up_are_an_error() -> None:
    tally = SegmentTally(SPEC, PLANS, "2026-03", ts(2026, 3) - 1, ts(2026, 4) - 1)
    with pytest.raises(ReconciliationError, match=r"2026-03 \(segments by plan\)"):
        tally.table(Tally(start=100, end=100))


def test_no_segments_unless_asked() -> None:
    (report,) = compute_months([FACTS.of_customers()], [("2026-03", "final")], MetricSettings(), USD, revenue=(),
                               plans=PLANS, account_name=None, data_as_of=None)
    assert report.segments is None


@pytest.mark.parametrize(("text", "dimensions"), [
    ("plan,interval", ("plan", "interval")),
    (" Country , metadata.Tier ", ("country", "metadata.Tier")),
    ("none", ()),
    ("subscription.metadata.team,customer.metadata.size", ("subscription.metadata.team", "customer.metadata.size")),
])
def test_segment_by_names_dimensions(text: str, dimensions: tuple[str, ...]) -> None:
    assert parse_segment_by(text) == dimensions


@pytest.mark.parametrize(("text", "error"), [
    ("plan,tier", "'tier' is not a dimension"),
    ("metadata.", "'metadata.' is not a dimension"),
    ("plan,plan", "'plan' is given twice"),
    ('metadata.a"b', "is not a dimension"),
])
def test_segment_by_says_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_segment_by(text)


def test_arr_bands() -> None:
    assert parse_arr_bands("1000, 10000,100000") == (1000, 10000, 100000)
    assert band_labels((1000, 10000, 100000)) == ("under 1k", "1k–10k", "10k–100k", "100k and over")
    assert band_labels((500, 2500, 1_500_000)) == ("under 500", "500–2.5k", "2.5k–1.5M", "1.5M and over")
    for bad, error in (("10000,1000", "not increasing"), ("0,10", "above 0"), ("1k", "'1k' is not a whole amount"),
                       ("", "not increasing")):
        with pytest.raises(ValueError, match=error):
            parse_arr_bands(bad)


def _report_with_segments() -> MonthReport:
    (report,) = compute_months([FACTS.of_customers()], [("2026-03", "final")], MetricSettings(), USD, revenue=(),
                               plans=PLANS, account_name=None, data_as_of=None, segments=SPEC)
    return report


def test_every_format_shows_every_segment() -> None:
    report = _report_with_segments()
    doc = json.loads(render_segments_json(report))
    assert doc["segments"] == json.loads(render_json(report))["segments"]
    pro = doc["segments"][0]["segments"][0]
    assert (pro["segment"], pro["mrr"]["start"], pro["mrr"]["churn"], pro["retention"]["nrr"], pro["nrr_points"]) == (
        "Pro", 70.0, 20.0, 57.14, -37.5)
    assert pro["customers"] == {"start": 2, "new": 0, "reactivated": 0, "churned": 1, "end": 1}
    rows = list(csv.reader(io.StringIO(render_segments_csv(report))))
    assert rows[0][:3] == ["dimension", "segment", "mrr_start"]
    assert rows[1][:3] == ["plan", "Pro", "70.00"] and len(rows) == 1 + sum(len(d.segments) for d in report.segments or ())
    text = render_segments_text(report)
    assert "By plan; 1 customer moved segment during the month" in text and "-37.5" in text
    with pytest.raises(ReportError, match="without its segments"):
        render_segments_text(replace(report, segments=None))


def test_the_email_shows_the_largest_segments_and_slack_those_that_moved_nrr() -> None:
    report = _report_with_segments()
    page = render_email_html(report, None, None)
    assert "Segments (USD)" in page and "Billing interval" in page and "ARR band" in page
    assert "smaller" not in page  # no dimension has more than three segments
    plan = (report.segments or ())[0]
    more = tuple(replace(x, value=f"{x.value} 2") for x in plan.segments)
    longer = replace(report, segments=(replace(plan, segments=plan.segments + more),))  # four segments
    assert "1 smaller: <code>nrr report --segments</code>" in render_email_html(longer, None, None)
    assert "Segments" not in render_email_html(replace(report, segments=None), None, None)
    text = render_email_text(report, None)
    assert "Segments (USD; every segment: nrr report --segments)" in text and "Plan · 1 moved during the month" in text
    # NRR fell 12.5 points. Pro (7/8 of the cohort) gave -37.5 where its size alone gave
    # -10.9, Starter (1/8) +25 where it gave -1.6: each pulled NRR 26.6 points away, as did
    # Starter's customer a under its country and its ARR band; the churned yearly b, 21.9.
    moving = segments_moving_nrr(report, count=5)
    assert [(d, s.value) for d, s in moving] == [("arr_band", "under 200"), ("country", "US"), ("plan", "Pro"),
                                                 ("plan", "Starter"), ("arr_band", "200–500")]
    blocks = render_slack_blocks(report, None)["blocks"]
    section = next(b["text"]["text"] for b in blocks if b.get("text", {}).get("text", "").startswith("*Segments"))
    assert "ARR band under 200: +25.0 pts (NRR 300.0%, $10 → $40)" in section and section.count("•") == 3
    assert not any("Segments" in b.get("text", {}).get("text", "") for b in
                   render_slack_blocks(replace(report, segments=None), None)["blocks"])
