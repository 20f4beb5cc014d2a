"""``movements.csv``: one row per customer movement, amounts in major units."""

from __future__ import annotations

import csv
import io

from reports.fx import to_major
from reports.metrics import MonthReport

HEADER = ("customer", "name", "movement", "from", "to", "delta", "churn_kind", "reason")
# A spreadsheet runs a cell starting with these as a formula: customer names are
# user-controlled, so such text cells get a leading apostrophe (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str | None) -> str:
    """A user-controlled text cell, safe to open in a spreadsheet."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_csv(report: MonthReport) -> str:
    """Header ``customer,name,movement,from,to,delta,churn_kind,reason`` then the movements."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    cur = report.currency
    for m in report.movements:
        writer.writerow([
            m.customer, safe_text(m.name), m.movement, to_major(m.from_mrr, cur), to_major(m.to_mrr, cur),
            to_major(m.delta, cur), m.churn_kind or "", safe_text(m.reason),
        ])
    return out.getvalue()
