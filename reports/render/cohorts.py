"""``nrr report --cohorts``: the signup-cohort triangle as text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reports.fx import to_major
from reports.metrics import CohortTable, SignupCohort
from reports.render.jsonout import percent_number
from reports.render.text import money, month_title, short_percent

FOOTER = ("Cell k: the cohort's MRR at the end of the k-th month after its first, over its MRR at the end of "
          "its first month (its new MRR). A customer who left and came back counts again: reactivation is a "
          "gain. Amounts at the last month's end rate; each column adds up to that month's MRR.")
CSV_HEADER = ("cohort", "customers", "month", "months_since", "mrr", "paying_customers", "net_mrr_retention",
              "logo_retention")


def _label(cohort: SignupCohort) -> str:
    return cohort.month or "earlier"


def _months_of(table: CohortTable, cohort: SignupCohort) -> tuple[str, ...]:
    """The months of a row's cells (a cohort's from its own month on)."""
    return table.months if cohort.month is None else table.months[table.months.index(cohort.month):]


def render_cohorts_text(table: CohortTable) -> str:
    """Net MRR retention by signup month, a row per cohort, a column per month since."""
    width = 8
    head = f"{'cohort':<9}{'customers':>10}{'new MRR':>16}  " + "".join(
        f"{'M' + str(k):>{width}}" for k in range(len(table.months)))
    lines = [f"Signup cohorts to {month_title(table.months[-1])}: net MRR retention "
             f"({table.currency.upper()})", "", head]
    for c in table.cohorts:
        cells = "".join(f"{short_percent(v):>{width}}" for v in c.net_retention)
        lines.append(f"{_label(c):<9}{c.customers:>10}{money(c.new_mrr, table.currency):>16}  {cells}")
    lines += ["", "MRR at the end of each month", f"{'cohort':<9}" + "".join(f"{m:>14}" for m in table.months)]
    for c in (table.earlier, *table.cohorts):
        pad = " " * 14 * (len(table.months) - len(c.mrr))
        lines.append(f"{_label(c):<9}{pad}" + "".join(f"{money(v, table.currency):>14}" for v in c.mrr))
    lines.append(f"{'total':<9}" + "".join(f"{money(v, table.currency):>14}" for v in table.total_mrr))
    return "\n".join([*lines, "", FOOTER]) + "\n"


def cohorts_dict(table: CohortTable) -> dict[str, Any]:
    """The JSON document: amounts in major units, percentages as numbers like 105.0."""
    cur = table.currency

    def amounts(c: SignupCohort) -> dict[str, Any]:
        return {"customers": c.customers, "mrr": [float(to_major(v, cur)) for v in c.mrr],
                "paying_customers": list(c.paying)}

    def row(c: SignupCohort) -> dict[str, Any]:
        return {
            "cohort": c.month, "months": list(_months_of(table, c)), "new_mrr": float(to_major(c.new_mrr, cur)),
            **amounts(c),
            "net_mrr_retention": [percent_number(v) for v in c.net_retention],
            "logo_retention": [percent_number(v) for v in c.logo_retention],
        }

    return {
        "month": table.months[-1], "currency": cur, "months": list(table.months),
        "cohorts": [row(c) for c in table.cohorts],
        # Customers whose first MRR came before the first cohort: with them, each
        # month's column adds up to the month's MRR ("total").
        "earlier": amounts(table.earlier),
        "total": {"mrr": [float(to_major(v, cur)) for v in table.total_mrr],
                  "paying_customers": list(table.total_paying)},
    }


def render_cohorts_json(table: CohortTable) -> str:
    return json.dumps(cohorts_dict(table), indent=2, ensure_ascii=False) + "\n"


def render_cohorts_csv(table: CohortTable) -> str:
    """One row per cohort and month since it began (``earlier``: the customers whose first
    MRR came before the first cohort, from the first month)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for c in (*table.cohorts, table.earlier):
        rates = zip(c.net_retention, c.logo_retention, strict=True) if c.month else [(None, None)] * len(c.mrr)
        for k, (month, mrr, paying, (net, logo)) in enumerate(zip(
                _months_of(table, c), c.mrr, c.paying, rates, strict=True)):
            writer.writerow([_label(c), c.customers, month, k, to_major(mrr, table.currency), paying,
                             "" if net is None else net, "" if logo is None else logo])
    return out.getvalue()
