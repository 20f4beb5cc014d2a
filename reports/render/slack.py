"""The monthly Slack message (Block Kit) and its thread reply with the top movers.

Pure: dicts ready for ``chat.postMessage``. Never carries personal data: no customer
comments or feedback (the report has none to give, and churn reasons are not shown), and a
customer "name" that looks like an email address is replaced by the customer id.
Limits kept (Slack's): at most 50 blocks, 3,000 characters per section text, 10 fields
per section, 150 characters of header text.

The chart is not part of ``render_slack_blocks``: it is a Slack-hosted file whose id is
known only after the upload, so the sender adds it with ``with_chart_file``.
"""

from __future__ import annotations

import re
from typing import Any

from reports.metrics import CHURN, CONTRACTION, EXPANSION, MonthReport, Mover
from reports.render.email_text import (
    BENCHMARK_SOURCE,
    as_of,
    benchmark,
    compact,
    company,
    headline,
    pct1,
    points,
    quarter_title,
    status_word,
)
from reports.render.segments import dimension_title, segments_moving_nrr, signed_points
from reports.render.text import month_title

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_IMAGE_TITLE = 2000
CHART_ALT = "MRR movements per month and monthly NRR, 13 months"
_EMAIL = re.compile(r"[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+")


def escape(text: str) -> str:
    """Slack mrkdwn control characters (``&``, ``<``, ``>``) as entities: user text can't
    turn into a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION_TEXT)}}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"}


def _who(m: Mover) -> str:
    return who(m.customer, m.name)


def who(customer: str, name: str | None) -> str:
    """The customer's name and id, or its id alone when there is no name or it is an email
    address (escaped for mrkdwn)."""
    shown = name if name and not _EMAIL.search(name) else None
    return escape(f"{shown} ({customer})" if shown else customer)


def _with_change(value: str, change: str) -> str:
    return f"{value} ({change})" if change else value


def _fields(report: MonthReport, previous: MonthReport | None) -> list[dict[str, str]]:
    r, m, c, cur = report.retention, report.mrr, report.customers, report.currency
    p = previous.retention if previous else None
    losses = m.contraction + m.churn
    fields = [
        _field("MRR", f"{compact(m.start, cur)} → {compact(m.end, cur)}"),
        _field("NRR", _with_change(pct1(r.nrr), points(r.nrr, p.nrr if p else None))),
        _field("GRR", _with_change(pct1(r.grr), points(r.grr, p.grr if p else None))),
        _field("Logo retention", pct1(r.logo_retention)),
        _field("NRR / GRR trailing 12m", f"{pct1(r.nrr_12m)} / {pct1(r.grr_12m)}"),
        _field("New + reactivation", f"{compact(m.new + m.reactivation, cur)} ({c.new + c.reactivated})"),
        _field("Expansion", f"{compact(m.expansion, cur)} ({c.expanded})"),
        _field("Contraction + churn", f"{compact(losses, cur)} ({c.contracted + c.churned})"),
        _field("Involuntary churn", f"{compact(m.churn_involuntary, cur)} ({c.churned_involuntary})"),
        _field("Failed payments", f"{compact(report.collections.failed_amount, cur)} "
                                  f"({report.collections.failed_invoices})"),
    ]
    return fields[:MAX_FIELDS]


def _context(report: MonthReport) -> dict[str, Any]:
    text = (f"{month_title(report.month)} ({report.timezone}) · {status_word(report)} · "
            f"{report.currency.upper()} · data as of {as_of(report.data_as_of)} · "
            f"benchmarks: {BENCHMARK_SOURCE}")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text)}]}


def _quarter(report: MonthReport) -> list[dict[str, Any]]:
    """The quarter the month closes (none in other months)."""
    q = report.quarter
    if q is None:
        return []
    r = q.retention
    return [_section(f"*Quarter {quarter_title(q)}*: NRR {pct1(r.nrr)} · GRR {pct1(r.grr)} · logo retention "
                     f"{pct1(r.logo_retention)} of the customers paying at its start · year over year NRR "
                     f"{pct1(q.nrr_yoy)}")]


def _segments(report: MonthReport) -> list[dict[str, Any]]:
    """The segments that moved NRR most (none without segments)."""
    lines = [f"• {escape(dimension_title(dimension))} {escape(s.value)}: {signed_points(s.nrr_points)} pts "
             f"(NRR {pct1(s.nrr)}, {compact(s.mrr.start, report.currency)} → {compact(s.mrr.end, report.currency)})"
             for dimension, s in segments_moving_nrr(report)]
    return [_section("*Segments that moved NRR most*\n" + "\n".join(lines))] if lines else []


# Signup cohorts shown: the latest before the month's own (always 100% of itself).
SLACK_COHORTS = 3


def _cohorts(report: MonthReport) -> list[dict[str, Any]]:
    """The latest signup cohorts' net MRR retention at the month's end (none without them)."""
    table = report.cohorts
    if table is None:
        return []
    shown = [c for c in table.cohorts[:-1] if c.new_mrr][-SLACK_COHORTS:]
    if not shown:
        return []
    cells = " · ".join(f"{c.month}: {pct1(c.net_retention[-1])}" for c in shown)
    return [_section(f"*Signup cohorts*, MRR now over their first month's: {cells}")]


def render_slack_blocks(report: MonthReport, previous: MonthReport | None) -> dict[str, Any]:
    """The channel message: header, headline, key figures, benchmark, context (no chart)."""
    title = f"{company(report)}: revenue retention, {month_title(report.month)}"
    if report.status != "final":
        title += " (preliminary)"
    line = headline(report, previous)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, MAX_HEADER), "emoji": False}},
        _section(escape(line)),
        {"type": "section", "fields": _fields(report, previous)},
        *_quarter(report),
        *_segments(report),
        *_cohorts(report),
        _section(escape(benchmark(report).sentence())),
        _context(report),
    ]
    return {"text": _clip(escape(f"{title}: {line}"), MAX_SECTION_TEXT), "blocks": blocks[:MAX_BLOCKS]}


def with_chart_file(message: dict[str, Any], file_id: str, *, title: str) -> dict[str, Any]:
    """A copy of ``message`` showing the uploaded chart ``file_id`` (a ``slack_file`` image
    block) just before the closing context block, or last if there is none.

    A message already at MAX_BLOCKS has no room: to stay postable it keeps its first
    MAX_BLOCKS - 1 blocks before the image goes in (the renderer never comes close).
    """
    image = {"type": "image", "slack_file": {"id": file_id}, "alt_text": CHART_ALT,
             "title": {"type": "plain_text", "text": _clip(title, MAX_IMAGE_TITLE)}}
    blocks = list(message.get("blocks") or [])
    context = blocks.pop() if blocks and blocks[-1].get("type") == "context" else None
    blocks = blocks[: MAX_BLOCKS - 1 - (context is not None)] + [image]
    if context is not None:
        blocks.append(context)
    return {**message, "blocks": blocks}


def _mover_lines(report: MonthReport, kinds: tuple[str, ...]) -> list[str]:
    cur = report.currency
    return [
        f"• {_who(t)}{', ' + escape(t.plan) if t.plan else ''}: {compact(t.from_mrr, cur)} → {compact(t.to_mrr, cur)} "
        f"({'+' if t.delta > 0 else ''}{compact(t.delta, cur)}, {t.movement})"
        for t in report.top_movers
        if t.movement in kinds
    ]


def render_slack_thread(report: MonthReport) -> dict[str, Any]:
    """The thread reply: the top expansions and the top contractions or churns."""
    ups = _mover_lines(report, (EXPANSION,))
    downs = _mover_lines(report, (CONTRACTION, CHURN))
    blocks = [
        _section("*Top expansions*\n" + ("\n".join(ups) if ups else "none above 0.5% of start MRR")),
        _section("*Top contractions and churn*\n" + ("\n".join(downs) if downs else "none above 0.5% of start MRR")),
    ]
    text = f"Top movers for {month_title(report.month)}: {len(ups)} expansions, {len(downs)} contractions or churns"
    return {"text": text, "blocks": blocks}
