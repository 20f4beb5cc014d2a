"""Renderers: the JSON contract of INTERFACE.md, the terminal text and the movements CSV."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from reports.facts import Cause, ChurnKind, PaymentFailure, RevenueKind, RevenueLine
from reports.fx import FxTable
from reports.metrics import MetricSettings, MonthReport, compute_month
from reports.render import render_csv, render_json, render_text
from tests.reports.builders import MAR, churn, make_facts, span, ts

# The document shape promised in INTERFACE.md (`nrr report --format json`), verbatim.
INTERFACE_JSON = """
{
  "month": "2026-04", "currency": "usd", "timezone": "UTC", "status": "final",
  "data_as_of": "2026-05-03T09:00:00Z",
  "mrr": {"start": 0, "new": 0, "reactivation": 0, "expansion": 0, "contraction": 0,
          "churn": 0, "churn_voluntary": 0, "churn_involuntary": 0, "fx_impact": 0, "end": 0},
  "arr": {"start": 0, "end": 0},
  "customers": {"start": 0, "new": 0, "reactivated": 0, "expanded": 0, "contracted": 0,
                "churned": 0, "churned_voluntary": 0, "churned_involuntary": 0, "end": 0,
                "same_month_start_and_cancel": 0, "pending_churn": 0},
  "retention": {"nrr": 0, "grr": 0, "logo_retention": 0, "nrr_12m": 0, "grr_12m": 0,
                "nrr_annualized": 0},
  "revenue": {"recurring": 0, "usage": 0, "one_time": 0, "refunds": 0, "credit_notes": 0},
  "collections": {"failed_invoices": 0, "failed_amount": 0, "recovered_amount": 0, "past_due_mrr": 0},
  "top_movers": [{"customer": "cus_…", "name": "…", "plan": "Starter → Pro", "movement": "expansion", "from": 0, "to": 0, "delta": 0}],
  "settings": {"discount_mode": "all_active", "churn_recognition": "period_end",
               "past_due_grace_days": 30, "usage_in_mrr": "none"}
}
"""

AS_OF = ts(2026, 5, 3, 9)


def _report(status: str = "final", fx: FxTable | None = None) -> MonthReport:
    facts = make_facts(
        [
            span("cus_up", 10000, ts(2026, 1), ts(2026, 4, 15)),
            span("cus_up", 15050, ts(2026, 4, 15), cause=Cause.QUANTITY),
            span("cus_gone", 5000, ts(2026, 1), ts(2026, 4, 20)),
            span("cus_new", 2000, ts(2026, 4, 3)),
            span("cus_eur", 10000, ts(2026, 1), currency="eur"),
        ],
        [churn("cus_gone", ts(2026, 4, 20), ChurnKind.INVOLUNTARY, "payment_failed")],
        revenue=[RevenueLine(ts(2026, 4, 2), "cus_up", "il_1", RevenueKind.RECURRING, 10000, "usd"),
                 RevenueLine(ts(2026, 4, 9), "cus_up", "re_1", RevenueKind.REFUND, 1234, "usd")],
        failures=[PaymentFailure("in_1", "cus_gone", "sub_cus_gone", "usd", 5000, ts(2026, 4, 2), 3, None, None)],
        names={"cus_up": "=HYPERLINK(\"x\")", "cus_gone": "Gone, Inc.", "cus_new": "Newco"},
    )
    fx = fx or FxTable("usd", observed=[("eur", ts(2026, 3, 1), Decimal("1.10")), ("eur", ts(2026, 4, 10), Decimal("1.20"))])
    return compute_month(facts, "2026-04", MetricSettings(), fx, status=status, data_as_of=AS_OF)


def _shape(value: Any) -> Any:
    """Key sets at every level (lists: the shape of their first element)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def test_json_has_exactly_the_interface_keys_at_every_level() -> None:
    doc = json.loads(render_json(_report()))
    assert _shape(doc) == _shape(json.loads(INTERFACE_JSON))
    assert list(doc) == list(json.loads(INTERFACE_JSON))  # same order as documented


def test_json_values_in_major_units_and_percentages() -> None:
    doc = json.loads(render_json(_report()))
    assert (doc["month"], doc["currency"], doc["timezone"], doc["status"]) == ("2026-04", "usd", "UTC", "final")
    assert doc["data_as_of"] == "2026-05-03T09:00:00Z"
    # start: 100 + 50 + EUR 100 at 1.10; movements at the month-end rate (1.20).
    assert doc["mrr"] == {"start": 260.0, "new": 20.0, "reactivation": 0.0, "expansion": 50.5, "contraction": 0.0,
                          "churn": 50.0, "churn_voluntary": 0.0, "churn_involuntary": 50.0, "fx_impact": 10.0,
                          "end": 290.5}
    assert doc["arr"] == {"start": 3120.0, "end": 3486.0}
    assert doc["customers"]["start"] == 3 and doc["customers"]["churned_involuntary"] == 1
    assert doc["retention"]["nrr"] == 100.19  # (150.50 + 0 + 120) / (100 + 50 + 120)
    assert doc["retention"]["grr"] == 81.48
    assert doc["retention"]["nrr_12m"] is None  # no customer a year ago
    assert doc["revenue"]["recurring"] == 100.0 and doc["revenue"]["refunds"] == 12.34
    assert doc["collections"] == {"failed_invoices": 1, "failed_amount": 50.0, "recovered_amount": 0.0,
                                  "past_due_mrr": 0.0}
    assert doc["top_movers"] == [
        {"customer": "cus_up", "name": "=HYPERLINK(\"x\")", "plan": None, "movement": "expansion", "from": 100.0,
         "to": 150.5,
         "delta": 50.5},
        {"customer": "cus_gone", "name": "Gone, Inc.", "plan": None, "movement": "churn", "from": 50.0, "to": 0.0, "delta": -50.0},
    ]
    assert doc["settings"] == {"discount_mode": "all_active", "churn_recognition": "period_end",
                               "past_due_grace_days": 30, "usage_in_mrr": "none"}


def test_json_zero_decimal_reporting_currency() -> None:
    fx = FxTable("jpy", {"usd": Decimal(150), "eur": Decimal(160)})
    doc = json.loads(render_json(compute_month(
        make_facts([span("c", 1001, MAR)]), "2026-04", MetricSettings(currency="jpy"), fx)))
    assert doc["mrr"]["start"] == 1502.0  # $10.01 at ¥150 = ¥1,501.5 -> ¥1,502 (half-even)
    assert doc["currency"] == "jpy"


def test_json_nulls_when_nothing_can_be_computed() -> None:
    r = compute_month(make_facts([]), "2026-04", MetricSettings(), FxTable("usd"))
    doc = json.loads(render_json(r))
    assert set(doc["retention"].values()) == {None}
    assert doc["data_as_of"] is None and doc["top_movers"] == []


def test_text_summary() -> None:
    text = render_text(_report(status="preliminary"))
    assert text.startswith("Acme: MRR report for April 2026 (UTC)\n")
    assert "PRELIMINARY" in text and "Data as of 2026-05-03 09:00 UTC" in text
    for line in ("  Start                                   260.00          3",
                 "  + Expansion                              50.50          1",
                 "  - Churn                                  50.00          1",
                 "  +/- FX impact                           +10.00",
                 "  End                                     290.50          3"):
        assert line in text
    assert "NRR 100.19%   GRR 81.48%   Logo retention 66.67%" in text
    assert "Trailing 12 months (0 customers): NRR n/a" in text
    assert "=HYPERLINK(\"x\") (cus_up)" in text and "+50.50" in text
    assert ("Settings: discount_mode=all_active, churn_recognition=period_end, past_due_grace_days=30, "
            "usage_in_mrr=none, currency=usd, timezone=UTC") in text
    assert "eur: 1.10 -> 1.20" in text
    assert "Status: final." in render_text(_report())


def test_csv_one_row_per_movement() -> None:
    out = render_csv(_report())
    assert out.splitlines()[0] == "customer,name,movement,from,to,delta,churn_kind,reason"
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [
        {"customer": "cus_new", "name": "Newco", "movement": "new", "from": "0.00", "to": "20.00", "delta": "20.00",
         "churn_kind": "", "reason": "new_item"},
        {"customer": "cus_up", "name": "'=HYPERLINK(\"x\")", "movement": "expansion", "from": "100.00",
         "to": "150.50", "delta": "50.50", "churn_kind": "", "reason": "quantity"},
        {"customer": "cus_gone", "name": "Gone, Inc.", "movement": "churn", "from": "50.00", "to": "0.00",
         "delta": "-50.00", "churn_kind": "involuntary", "reason": "payment_failed"},
    ]


def test_csv_of_a_quiet_month_is_just_the_header() -> None:
    r = compute_month(make_facts([span("c", 100, MAR)]), "2026-04", MetricSettings(), FxTable("usd"))
    assert render_csv(r) == "customer,name,movement,from,to,delta,churn_kind,reason\n"
