"""``nrr report --segments``: a month's segments as text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from fractions import Fraction

from reports.errors import ReportError
from reports.fx import to_major
from reports.metrics import MonthReport
from reports.metrics.report import Segment, SegmentDimension
from reports.render.csvout import safe_text
from reports.render.jsonout import segments_list
from reports.render.text import money, month_title, short_percent

FOOTER = ("Each customer counts in its segment at the month's start (a new customer: at its end). Customers, "
          "NRR, GRR and logo retention: the segment's customers with MRR at the start; points: the segment's share "
          "of the month's NRR change. Each dimension's segments add up to the month (--format csv: every "
          "movement).")
EMAIL_NOTE = ("Each customer counts in its segment at the month's start. Customers, NRR and GRR: the segment's "
              "customers with MRR at the start; NRR points: the segment's share of the month's NRR change.")
CSV_HEADER = ("dimension", "segment", "mrr_start", "new", "reactivation", "expansion", "contraction", "churn",
              "churn_voluntary", "churn_involuntary", "fx_impact", "mrr_end", "customers_start", "new_customers",
              "reactivated_customers", "churned_customers", "customers_end", "nrr", "grr", "logo_retention",
              "nrr_points")


# The email's compact table: each dimension's largest segments; Slack: the segments that
# moved NRR most.
EMAIL_SEGMENTS_PER_DIMENSION = 3
SLACK_SEGMENTS = 3
_TITLES = {"plan": "Plan", "interval": "Billing interval", "currency": "Currency", "country": "Country",
           "arr_band": "ARR band"}


def dimension_title(dimension: str) -> str:
    """``arr_band`` → "ARR band", ``metadata.tier`` → "metadata.tier" (as the operator named it)."""
    return _TITLES.get(dimension, dimension)


def largest_segments(report: MonthReport, per_dimension: int = EMAIL_SEGMENTS_PER_DIMENSION
                     ) -> list[tuple[SegmentDimension, tuple[Segment, ...], int]]:
    """Each dimension with its ``per_dimension`` largest segments (by MRR at the start, then
    at the end), in the dimension's order, and how many more it has."""
    out = []
    for d in report.segments or ():
        ranked = sorted(range(len(d.segments)), key=lambda i: (-d.segments[i].mrr.start, -d.segments[i].mrr.end, i))
        shown = tuple(d.segments[i] for i in sorted(ranked[:per_dimension]))
        out.append((d, shown, len(d.segments) - len(shown)))
    return out


def segments_moving_nrr(report: MonthReport, count: int = SLACK_SEGMENTS) -> list[tuple[str, Segment]]:
    """The ``count`` segments, of any dimension, that pulled NRR furthest from where their
    size alone would have left it: a segment's points minus its share of the cohort times
    the month's whole change. (By points alone, the largest segments would always win: a
    segment of every customer moves NRR by exactly its change.)"""
    r = report.retention
    if not r.cohort_start:
        return []
    change = Fraction(r.cohort_end - r.cohort_start, r.cohort_start)

    def pull(s: Segment) -> Fraction:
        return Fraction(s.cohort_end - s.cohort_start - s.cohort_start * change, r.cohort_start)

    every = [(d.dimension, s) for d in report.segments or () for s in d.segments if pull(s)]
    return sorted(every, key=lambda pair: (-abs(pull(pair[1])), pair[0], pair[1].value))[:count]


def segmented(report: MonthReport) -> tuple[SegmentDimension, ...]:
    """The report's segments; an error for a report computed without them."""
    if report.segments is None:
        raise ReportError(f"the report of {report.month} was computed without its segments")
    return report.segments


def render_segments_json(report: MonthReport) -> str:
    """The month, its currency and its segments (the ``segments`` of the month's JSON)."""
    document = {"month": report.month, "currency": report.currency, "status": report.status,
                "segments": segments_list(segmented(report), report.currency)}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_segments_csv(report: MonthReport) -> str:
    """One row per segment of every dimension, amounts in major units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    cur = report.currency
    for d in segmented(report):
        for s in d.segments:
            m = s.mrr
            writer.writerow([
                d.dimension, safe_text(s.value),
                *(to_major(v, cur) for v in (m.start, m.new, m.reactivation, m.expansion, m.contraction, m.churn,
                                             m.churn_voluntary, m.churn_involuntary, m.fx_impact, m.end)),
                s.customers_start, s.new, s.reactivated, s.churned, s.customers_end,
                *("" if v is None else v for v in (s.nrr, s.grr, s.logo_retention, s.nrr_points)),
            ])
    return out.getvalue()


def render_segments_text(report: MonthReport) -> str:
    """A table per dimension: MRR at both ends, the movements, retention and NRR points."""
    cur = report.currency
    lines = [f"Segments of {month_title(report.month)} ({report.status}), {cur.upper()}"]
    for d in segmented(report):
        moved = f"; {d.moved} customer{'s' if d.moved != 1 else ''} moved segment during the month" if d.moved else ""
        lines += ["", f"By {d.dimension}{moved}",
                  f"  {'segment':<24}{'customers':>10}{'MRR at start':>15}{'MRR at end':>15}{'NRR':>9}{'GRR':>9}"
                  f"{'logos':>9}{'points':>9}"]
        lines += [_text_row(s, cur) for s in d.segments]
    return "\n".join([*lines, "", FOOTER]) + "\n"


def _text_row(s: Segment, cur: str) -> str:
    value = s.value if len(s.value) <= 23 else s.value[:22] + "…"
    return (f"  {value:<24}{s.customers_start:>10}{money(s.mrr.start, cur):>15}{money(s.mrr.end, cur):>15}"
            f"{short_percent(s.nrr):>9}{short_percent(s.grr):>9}{short_percent(s.logo_retention):>9}{signed_points(s.nrr_points):>9}")


def signed_points(value: Decimal | None) -> str:
    """NRR points with their sign, one decimal: ``+0.8``, ``-2.7``."""
    return "–" if value is None else f"{value:+.1f}"
