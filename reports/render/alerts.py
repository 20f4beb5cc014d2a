"""A movement alert and the weekly digest as Slack messages (Block Kit).

Pure: a ``reports.alerts.MrrMove`` or ``Digest`` in, a dict ready for ``chat.postMessage``
out. Like the monthly message it never carries personal data beyond the customer's name
(an email-like name shows as the id): the churn *rule* is shown, never the customer's
cancellation feedback or comment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reports.alerts import Digest, MrrMove
from reports.metrics.report import CHURN
from reports.month import zone
from reports.render.email_text import cash, compact, pct1
from reports.render.slack import MAX_HEADER, MAX_SECTION_TEXT, escape, who
from reports.render.text import month_title

KIND_LABELS = {"new": "New", "reactivation": "Reactivation", "expansion": "Expansion",
               "contraction": "Contraction", "churn": "Churn"}
ESTIMATE = "estimate: month to date"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION_TEXT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text)}]}


def local_time(at: int, tz: str) -> str:
    """``2026-11-18 14:03`` in ``tz``."""
    return datetime.fromtimestamp(at, UTC).astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")


def signed(minor: int, currency: str) -> str:
    return ("+" if minor > 0 else "") + cash(minor, currency)


def kind_label(m: MrrMove) -> str:
    """``Churn (voluntary: cancellation_requested)``; a contraction says so only when a
    cancellation caused it."""
    label = KIND_LABELS.get(m.kind, m.kind)
    if m.churn_kind is None:
        return label
    why = f"{m.churn_kind}: {m.rule}" if m.rule else m.churn_kind
    return f"{label} ({why}{', inferred' if m.derived else ''})"


def render_alert_slack(m: MrrMove, currency: str, tz: str) -> dict[str, Any]:
    """One movement: who, which plan change, MRR before → after and the delta, the kind."""
    amounts = f"MRR {cash(m.before, currency)} → {cash(m.after, currency)} ({signed(m.delta, currency)})"
    lines = [f"*{escape(kind_label(m))}* · {who(m.customer, m.name)}"]
    if m.plan:
        lines.append(escape(m.plan))
    lines.append(f"*{amounts}*")
    if m.causes and m.kind != CHURN:
        lines.append(escape("what changed: " + ", ".join(c.replace("_", " ") for c in m.causes)))
    context = f"{local_time(m.at, tz)} ({tz}) · {currency.upper()} · MRR movement alert"
    text = f"{kind_label(m)}: {who(m.customer, m.name)} {signed(m.delta, currency)} MRR"
    return {"text": _clip(text, MAX_SECTION_TEXT), "blocks": [_section("\n".join(lines)), _context(context)]}


def _total_line(d: Digest, kind: str) -> str:
    total = next(t for t in d.totals if t.kind == kind)
    return f"*{KIND_LABELS[kind]}*\n{signed(total.amount, d.currency)} ({total.count})"


def _largest_line(m: MrrMove, d: Digest) -> str:
    plan = f", {escape(m.plan)}" if m.plan else ""
    return (f"• {who(m.customer, m.name)}{plan}: {compact(m.before, d.currency)} → {compact(m.after, d.currency)} "
            f"({signed(m.delta, d.currency)}, {escape(kind_label(m).lower())}, {local_time(m.at, d.timezone)[:10]})")


def render_digest_slack(d: Digest) -> dict[str, Any]:
    """The week's movements (counts and sums per kind, the largest few) and the NRR of
    the month so far, marked as an estimate."""
    title = f"{d.company}: MRR movements, week {d.week.label}"
    span = f"{local_time(d.week.start, d.timezone)} to {local_time(d.week.due, d.timezone)} ({d.timezone})"
    fields = [{"type": "mrkdwn", "text": _total_line(d, kind)} for kind in KIND_LABELS]
    fields.append({"type": "mrkdwn", "text": f"*Net*\n{signed(d.net, d.currency)}"})
    largest = "\n".join(_largest_line(m, d) for m in d.largest) or "no movements this week"
    nrr = (f"*NRR {month_title(d.month)} so far: {pct1(d.nrr_month_to_date)}* — {ESTIMATE} (the customers who "
           "had MRR at the month's start, their MRR now over then; the month's report gives the final figure)")
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, MAX_HEADER), "emoji": False}},
        _section(escape(f"Movements from {span}")),
        {"type": "section", "fields": fields},
        _section("*Largest movements*\n" + largest),
        _section(nrr),
        _context(f"{d.currency.upper()} · every movement counted, not only those above the alert threshold"),
    ]
    text = f"{title}: net {signed(d.net, d.currency)} MRR; NRR so far {pct1(d.nrr_month_to_date)} ({ESTIMATE})"
    return {"text": _clip(escape(text), MAX_SECTION_TEXT), "blocks": blocks}
