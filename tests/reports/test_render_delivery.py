"""Delivery renderers: the email (text + HTML), the Slack message and thread, the chart.

Golden files live in tests/reports/golden/. After an intended change of wording or layout,
regenerate them and review the diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/reports/test_render_delivery.py
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import replace
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    Customer,
    Facts,
    PaymentFailure,
    Plan,
    RevenueKind,
    RevenueLine,
)
from reports.fx import FxTable
from reports.metrics import MetricSettings, MonthReport, compute_month, history
from reports.month import month_range
from reports.render.chart import render_chart_png
from reports.render.email_text import (
    benchmark,
    cash,
    compact,
    headline,
    pct1,
    points,
    render_email_text,
    render_subject,
)
from reports.render.html import render_email_html
from reports.render.slack import (
    CHART_ALT,
    MAX_BLOCKS,
    MAX_FIELDS,
    MAX_SECTION_TEXT,
    render_slack_blocks,
    render_slack_thread,
    with_chart_file,
)
from tests.reports.builders import span, ts

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
AS_OF = ts(2026, 11, 2, 9)
CID = "trend-chart@stripe-nrr"
COMMENT = "Too expensive, call me at ceo@example.com"


def _facts() -> Facts:
    """A small account over 14 months, with every movement in October 2026 and a churn comment."""
    spans = [
        span("cus_big", 400000, ts(2025, 9), ts(2026, 10, 10), price="price_team"),
        span("cus_big", 800000, ts(2026, 10, 10), cause=Cause.QUANTITY, price="price_team"),
        span("cus_xss", 150000, ts(2025, 9), ts(2026, 10, 5), price="price_pro"),
        span("cus_xss", 100000, ts(2026, 10, 5), cause=Cause.PRICE_CHANGE, price="price_team"),
        span("cus_gone", 200000, ts(2025, 9), ts(2026, 10, 20)),
        span("cus_fail", 50000, ts(2025, 12), ts(2026, 10, 25)),
        span("cus_mail", 90000, ts(2026, 3), ts(2026, 10, 12)),
        span("cus_mail", 120000, ts(2026, 10, 12), cause=Cause.QUANTITY),
        span("cus_new", 30000, ts(2026, 10, 3)),
        span("cus_back", 60000, ts(2025, 9), ts(2026, 6)),
        span("cus_back", 70000, ts(2026, 10, 15)),
        span("cus_eur", 100000, ts(2025, 9), currency="eur"),
    ]
    churns = [
        ChurnEvent("cus_gone", "sub_cus_gone", ts(2026, 10, 20), ts(2026, 9, 28), ChurnKind.VOLUNTARY,
                   "cancellation_requested", False, "too_expensive", "too_expensive", COMMENT),
        ChurnEvent("cus_fail", "sub_cus_fail", ts(2026, 10, 25), None, ChurnKind.INVOLUNTARY,
                   "payment_failed", False, "payment_failed", None, COMMENT),
        ChurnEvent("cus_back", "sub_cus_back", ts(2026, 6), None, ChurnKind.VOLUNTARY,
                   "cancellation_requested", False, None, None, None),
    ]
    revenue = [
        RevenueLine(ts(2026, 10, 1), "cus_big", "il_1", RevenueKind.RECURRING, 1_250_000, "usd"),
        RevenueLine(ts(2026, 10, 2), "cus_big", "il_2", RevenueKind.USAGE, 12_345, "usd"),
        RevenueLine(ts(2026, 10, 3), "cus_new", "ii_1", RevenueKind.ONE_TIME, 50_000, "usd"),
        RevenueLine(ts(2026, 10, 9), "cus_xss", "re_1", RevenueKind.REFUND, 10_000, "usd"),
        RevenueLine(ts(2026, 10, 9), "cus_xss", "cn_1", RevenueKind.CREDIT_NOTE, 5_000, "usd"),
    ]
    failures = [
        PaymentFailure("in_1", "cus_fail", "sub_cus_fail", "usd", 50000, ts(2026, 10, 2), 4, None, ts(2026, 10, 25)),
        PaymentFailure("in_2", "cus_big", "sub_cus_big", "usd", 400000, ts(2026, 10, 1, 5), 1, ts(2026, 10, 4), None),
    ]
    customers = (
        Customer("cus_big", "Big & Co", "usd"),
        Customer("cus_xss", "<script>alert(1)</script>", "usd"),
        Customer("cus_gone", "Gone Ltd", "usd"),
        Customer("cus_fail", "Failing GmbH", "usd"),
        Customer("cus_mail", "jane@customer.example", "usd"),
        Customer("cus_new", "Newco", "usd"),
        Customer("cus_back", "Backagain", "usd"),
        Customer("cus_eur", "Euro SA", "eur"),
    )
    plans = (Plan("price_team", "Team"), Plan("price_pro", "Pro <annual>"))
    return Facts(customers, tuple(spans), tuple(churns), tuple(revenue), tuple(failures), "usd", "Acme Analytics",
                 plans)


FX = FxTable("usd", observed=[("eur", ts(2025, 8), Decimal("1.10")), ("eur", ts(2026, 10, 15), Decimal("1.15"))])
MONTHS = month_range("2026-10", 13)


@pytest.fixture(scope="module")
def reports() -> list[MonthReport]:
    return history(_facts(), MONTHS, MetricSettings(), FX, data_as_of=AS_OF)


@pytest.fixture(scope="module")
def october(reports: list[MonthReport]) -> MonthReport:
    return reports[-1]


@pytest.fixture(scope="module")
def september(reports: list[MonthReport]) -> MonthReport:
    return reports[-2]


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


# --------------------------------------------------------------------------- golden files


def test_the_fixture_matches_compute_month(october: MonthReport) -> None:
    # history() and compute_month() agree, so the goldens describe compute_month's output.
    alone = compute_month(_facts(), "2026-10", MetricSettings(), FX, data_as_of=AS_OF)
    assert alone == october
    assert october.customers.expanded == 2 and october.customers.churned == 2 and october.customers.new == 1


def test_text_golden(october: MonthReport, september: MonthReport) -> None:
    _golden("email_2026-10.txt", render_email_text(october, september))


def test_html_golden(october: MonthReport, september: MonthReport) -> None:
    _golden("email_2026-10.html", render_email_html(october, september, CID))


def test_slack_golden(october: MonthReport, september: MonthReport) -> None:
    # The message as posted with the uploaded chart (the sender adds the image block).
    message = with_chart_file(render_slack_blocks(october, september), "F0CHART", title="Chart")
    payload = {"message": message, "thread": render_slack_thread(october)}
    _golden("slack_2026-10.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- wording


def test_subject_names_month_nrr_and_status(october: MonthReport) -> None:
    nrr = pct1(october.retention.nrr)
    assert render_subject(october) == f"Revenue retention for October 2026: NRR {nrr} (final)"
    assert render_subject(replace(october, status="preliminary")).endswith("(preliminary)")


def test_headline_states_nrr_change_and_driver(october: MonthReport, september: MonthReport) -> None:
    line = headline(october, september)
    change = points(october.retention.nrr, september.retention.nrr)
    assert line.startswith(f"NRR {pct1(october.retention.nrr)} ({change}): ")
    m = october.mrr
    if m.expansion >= m.contraction + m.churn:
        assert "expansion of " in line and "outweighed" in line
    else:
        assert line.split(": ", 1)[1].startswith("churn and contraction of ")
    assert headline(october, None).startswith(f"NRR {pct1(october.retention.nrr)}: ")


@pytest.mark.parametrize(
    ("minor", "expected"),
    [(0, "$0"), (95000, "$950"), (5_250_000, "$52.5k"), (5_200_000, "$52k"), (99_999_000, "$1M"),
     (123_456_789, "$1.2M"), (-150_000, "-$1.5k"), (99_950, "$1k"), (99_995_000, "$1M"), (99_949, "$999")],
)
def test_compact_amounts(minor: int, expected: str) -> None:
    assert compact(minor, "usd") == expected


def test_amount_formats_by_currency() -> None:
    assert cash(400_000, "usd", whole=True) == "$4,000"
    assert cash(-123_456, "usd") == "-$1,234.56"
    assert cash(1234, "jpy") == "¥1,234"
    assert compact(5_250_000, "sek") == "SEK 52.5k"


@pytest.mark.parametrize(
    ("cur", "prev", "expected"),
    [("105.04", "103.84", "+1.2 pts"), ("99.00", "100.00", "-1.0 pts"), ("100.00", "100.01", "±0.0 pts")],
)
def test_points(cur: str, prev: str, expected: str) -> None:
    assert points(Decimal(cur), Decimal(prev)) == expected
    assert points(Decimal(cur), None) == ""


@pytest.mark.parametrize(
    ("arr_major", "median", "upper"),
    [(999_999, 95, 104), (1_000_000, 100, 114), (9_999_999, 100, 114), (10_000_000, 106, 120),
     (50_000_000, 111, 125)],
)
def test_benchmark_bands(october: MonthReport, arr_major: int, median: int, upper: int) -> None:
    b = benchmark(replace(october, arr=replace(october.arr, end=arr_major * 100)))
    assert (b.median, b.upper_quartile) == (median, upper)


# --------------------------------------------------------------------------- HTML


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_inlined_self_contained_and_small(october: MonthReport, september: MonthReport) -> None:
    page = render_email_html(october, september, CID)
    parser = _Collect()
    parser.feed(page)
    parser.close()
    tags = [t for t, _ in parser.tags]
    assert "style" not in tags and "link" not in tags and "script" not in tags
    assert sum(1 for _, a in parser.tags if a.get("style")) > 20
    images = [a for t, a in parser.tags if t == "img"]
    assert [a["src"] for a in images] == [f"cid:{CID}"]
    assert "data:" not in page and "http://" not in page and "https://" not in page
    assert len(page.encode()) < 100_000
    text = " ".join(parser.text)
    assert "<script>alert(1)</script>" in text  # shown to the reader as text ...
    assert "<script>alert" not in page  # ... escaped in the markup
    assert "Acme Analytics" in text and "FINAL" in text and "KeyBanc" in text


def test_html_names_preliminary(october: MonthReport) -> None:
    page = render_email_html(replace(october, status="preliminary"), None, CID)
    assert "PRELIMINARY" in page


def test_text_has_every_section_in_order(october: MonthReport, september: MonthReport) -> None:
    text = render_email_text(october, september)
    order = ["Acme Analytics", "FINAL", "NRR ", "MRR roll-forward", "Retention", "median annual NRR",
             "Top movers", "Revenue billed", "Collections", "involuntary churn", "Formulas", "Settings:",
             "Benchmarks:"]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert COMMENT not in text


# --------------------------------------------------------------------------- Slack


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _check_limits(payload: dict[str, Any]) -> None:
    assert isinstance(payload["text"], str) and payload["text"]
    assert len(payload["blocks"]) <= MAX_BLOCKS
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= MAX_SECTION_TEXT
            assert len(block.get("fields", [])) <= MAX_FIELDS
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150


def test_slack_within_limits_and_without_personal_data(october: MonthReport, september: MonthReport) -> None:
    message = with_chart_file(render_slack_blocks(october, september), "F0CHART", title="Chart")
    thread = render_slack_thread(october)
    for payload in (message, thread):
        _check_limits(payload)
        everything = " ".join(_strings(payload))
        assert "Too expensive" not in everything and "@" not in everything
        assert "<script>" not in everything  # mrkdwn-escaped
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "section", "image", "context"]
    assert "&lt;script&gt;" in " ".join(_strings(thread))
    assert "cus_mail" in " ".join(_strings(thread))  # an email-like name is replaced by the id
    assert "image" not in [b["type"] for b in render_slack_blocks(october, None)["blocks"]]


def test_with_chart_file_puts_the_image_before_the_context(october: MonthReport) -> None:
    message = render_slack_blocks(october, None)
    before = json.dumps(message)
    shown = with_chart_file(message, "F123", title="MRR and NRR")
    assert json.dumps(message) == before  # the input is left alone
    types = [b["type"] for b in shown["blocks"]]
    assert types == [b["type"] for b in message["blocks"]][:-1] + ["image", "context"]
    image = shown["blocks"][-2]
    assert image == {"type": "image", "slack_file": {"id": "F123"}, "alt_text": CHART_ALT,
                     "title": {"type": "plain_text", "text": "MRR and NRR"}}
    assert shown["text"] == message["text"]
    _check_limits(shown)


def test_with_chart_file_stays_within_the_block_limit() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}]}
    full = {"text": "t", "blocks": [section] * (MAX_BLOCKS - 1) + [context]}
    shown = with_chart_file(full, "F1", title="t" * 5000)
    assert len(shown["blocks"]) == MAX_BLOCKS and len(full["blocks"]) == MAX_BLOCKS
    assert [b["type"] for b in shown["blocks"][-2:]] == ["image", "context"]
    assert len(shown["blocks"][-2]["title"]["text"]) <= 2000
    no_context = with_chart_file({"text": "t", "blocks": [section]}, "F1", title="t")
    assert [b["type"] for b in no_context["blocks"]] == ["section", "image"]


def test_slack_amounts_compact_and_percentages_one_decimal(october: MonthReport, september: MonthReport) -> None:
    message = render_slack_blocks(october, september)
    fields = " ".join(f["text"] for b in message["blocks"] if b["type"] == "section" for f in b.get("fields", []))
    assert re.search(r"\$\d+(\.\d)?k → \$\d+(\.\d)?k", fields)
    assert all(len(p.split(".")[1]) == 1 for p in re.findall(r"\d+\.\d+(?=%)", fields))


def test_slack_thread_stays_within_limits_with_huge_names(october: MonthReport) -> None:
    movers = tuple(replace(m, name="x" * 2000) for m in october.top_movers)
    _check_limits(render_slack_thread(replace(october, top_movers=movers)))


# --------------------------------------------------------------------------- chart


def test_chart_is_a_deterministic_png(reports: list[MonthReport]) -> None:
    png = render_chart_png(reports, "2026-10")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (800, 360)
    assert 10_000 < len(png) < 200_000
    assert b"Software" not in png and b"matplotlib" not in png
    assert render_chart_png(reports, "2026-10") == png
    assert render_chart_png(reports, "2026-09") != png  # the current month is marked


def test_chart_without_history_still_renders(october: MonthReport) -> None:
    assert render_chart_png([october], "2026-10").startswith(b"\x89PNG")
    assert render_chart_png([], "2026-10").startswith(b"\x89PNG")
