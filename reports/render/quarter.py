"""``nrr report --quarter``: a quarter as text and JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reports.fx import to_major
from reports.metrics.report import QuarterReport
from reports.render.jsonout import iso_utc, mrr_dict, percent_number
from reports.render.text import money, month_title, percent

NOTE = ("NRR = the MRR at the quarter's end of the customers who had MRR at its start ÷ their MRR then, both at "
        "the end rate; GRR caps each customer's gain at zero. Its roll-forward is its months' added up.")


def quarter_dict(q: QuarterReport) -> dict[str, Any]:
    """Amounts in major units, percentages as numbers like 105.0 (``null`` without a cohort)."""
    m = q.mrr
    return {
        "quarter": q.quarter, "months": list(q.months), "currency": q.currency, "timezone": q.timezone,
        "status": q.status, "data_as_of": iso_utc(q.data_as_of),
        "mrr": mrr_dict(m, q.currency),
        "customers": {"start": q.customers_start, "end": q.customers_end},
        "retention": {
            "nrr": percent_number(q.retention.nrr), "grr": percent_number(q.retention.grr),
            "logo_retention": percent_number(q.retention.logo_retention),
            "cohort_customers": q.retention.cohort_customers,
            "nrr_yoy": percent_number(q.nrr_yoy), "grr_yoy": percent_number(q.grr_yoy),
        },
    }


CSV_HEADER = ("quarter", "months", "status", "currency", "mrr_start", "new", "reactivation", "expansion",
              "contraction", "churn", "churn_voluntary", "churn_involuntary", "fx_impact", "mrr_end",
              "customers_start", "customers_end", "cohort_customers", "nrr", "grr", "logo_retention", "nrr_yoy",
              "grr_yoy")


def render_quarter_csv(q: QuarterReport) -> str:
    """The header, then the quarter in one row (amounts in major units, months space-separated)."""
    m, r = q.mrr, q.retention
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerow([
        q.quarter, " ".join(q.months), q.status, q.currency,
        *(to_major(v, q.currency) for v in (m.start, m.new, m.reactivation, m.expansion, m.contraction, m.churn,
                                            m.churn_voluntary, m.churn_involuntary, m.fx_impact, m.end)),
        q.customers_start, q.customers_end, r.cohort_customers,
        *("" if v is None else v for v in (r.nrr, r.grr, r.logo_retention, q.nrr_yoy, q.grr_yoy)),
    ])
    return out.getvalue()


def render_quarter_json(q: QuarterReport) -> str:
    return json.dumps(quarter_dict(q), indent=2, ensure_ascii=False) + "\n"


def render_quarter_text(q: QuarterReport) -> str:
    """The quarter's roll-forward and retention, for a terminal."""
    m, cur, r = q.mrr, q.currency, q.retention
    span = f"{month_title(q.months[0])} to {month_title(q.months[-1])}"
    rows = [("MRR at the start", m.start), ("+ new", m.new), ("+ reactivation", m.reactivation),
            ("+ expansion", m.expansion), ("- contraction", m.contraction), ("- churn", m.churn),
            ("  of which involuntary", m.churn_involuntary), ("± FX", m.fx_impact), ("MRR at the end", m.end)]
    lines = [
        f"{q.quarter} ({span}), {q.status.upper()}, {cur.upper()}, time zone {q.timezone}",
        "",
        "MRR roll-forward (the months' movements added up)",
        *(f"  {label:<26}{money(value, cur):>18}" for label, value in rows),
        "",
        f"Retention of the {r.cohort_customers} customers paying at the quarter's start",
        f"  NRR {percent(r.nrr)}   GRR {percent(r.grr)}   logo retention {percent(r.logo_retention)}",
        f"Year over year at the quarter's end: NRR {percent(q.nrr_yoy)}   GRR {percent(q.grr_yoy)}",
        "",
        NOTE,
    ]
    return "\n".join(lines) + "\n"
