"""``nrr report --format json``: exactly the shape INTERFACE.md promises scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from reports.fx import to_major
from reports.metrics import MonthReport, MrrRollForward
from reports.metrics.report import SegmentDimension


def iso_utc(at: int | None) -> str | None:
    """Epoch seconds as ``2026-05-03T09:00:00Z`` (None stays None)."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def percent_number(value: Decimal | None) -> float | None:
    """A percentage as a JSON number (105.0), None as null."""
    return None if value is None else float(value)


def mrr_dict(m: MrrRollForward, currency: str) -> dict[str, float]:
    """A roll-forward's buckets in major units ("rounded to cents": minor units are exact,
    so this only rescales)."""
    def money(minor: int) -> float:
        return float(to_major(minor, currency))

    return {
        "start": money(m.start), "new": money(m.new), "reactivation": money(m.reactivation),
        "expansion": money(m.expansion), "contraction": money(m.contraction), "churn": money(m.churn),
        "churn_voluntary": money(m.churn_voluntary), "churn_involuntary": money(m.churn_involuntary),
        "fx_impact": money(m.fx_impact), "end": money(m.end),
    }


def segments_list(dimensions: tuple[SegmentDimension, ...], currency: str) -> list[dict[str, Any]]:
    """The month's segments: per dimension, each segment's roll-forward and retention."""
    return [
        {"dimension": d.dimension, "moved_customers": d.moved, "segments": [
            {"segment": s.value, "mrr": mrr_dict(s.mrr, currency),
             "customers": {"start": s.customers_start, "new": s.new, "reactivated": s.reactivated,
                           "churned": s.churned, "end": s.customers_end},
             "retention": {"nrr": percent_number(s.nrr), "grr": percent_number(s.grr),
                           "logo_retention": percent_number(s.logo_retention)},
             "nrr_points": percent_number(s.nrr_points)}
            for s in d.segments]}
        for d in dimensions
    ]


def report_dict(report: MonthReport) -> dict[str, Any]:
    """The JSON document as Python values (amounts in major units, percentages as floats)."""
    cur = report.currency

    def money(minor: int) -> float:
        # Major units "rounded to cents": minor units are exact, so this only rescales.
        return float(to_major(minor, cur))

    m, c, r = report.mrr, report.customers, report.retention
    return {
        "month": report.month,
        "currency": cur,
        "timezone": report.timezone,
        "status": report.status,
        "data_as_of": iso_utc(report.data_as_of),
        "mrr": mrr_dict(m, cur),
        "arr": {"start": money(report.arr.start), "end": money(report.arr.end)},
        "customers": {
            "start": c.start, "new": c.new, "reactivated": c.reactivated, "expanded": c.expanded,
            "contracted": c.contracted, "churned": c.churned, "churned_voluntary": c.churned_voluntary,
            "churned_involuntary": c.churned_involuntary, "end": c.end,
            "same_month_start_and_cancel": c.same_month_start_and_cancel, "pending_churn": c.pending_churn,
        },
        "retention": {
            "nrr": percent_number(r.nrr), "grr": percent_number(r.grr), "logo_retention": percent_number(r.logo_retention),
            "nrr_12m": percent_number(r.nrr_12m), "grr_12m": percent_number(r.grr_12m), "nrr_annualized": percent_number(r.nrr_annualized),
        },
        "revenue": {
            "recurring": money(report.revenue.recurring), "usage": money(report.revenue.usage),
            "one_time": money(report.revenue.one_time), "refunds": money(report.revenue.refunds),
            "credit_notes": money(report.revenue.credit_notes),
        },
        "collections": {
            "failed_invoices": report.collections.failed_invoices,
            "failed_amount": money(report.collections.failed_amount),
            "recovered_amount": money(report.collections.recovered_amount),
            "past_due_mrr": money(report.collections.past_due_mrr),
        },
        "top_movers": [
            {"customer": t.customer, "name": t.name, "plan": t.plan, "movement": t.movement,
             "from": money(t.from_mrr),
             "to": money(t.to_mrr), "delta": money(t.delta)}
            for t in report.top_movers
        ],
        "settings": report.settings.metric_dict(),
        # Only when computed (SEGMENT_BY): a key scripts may rely on when it is set.
        **({"segments": segments_list(report.segments, cur)} if report.segments is not None else {}),
    }


def render_json(report: MonthReport) -> str:
    """The report as the INTERFACE.md JSON document (indented, stable key order)."""
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
