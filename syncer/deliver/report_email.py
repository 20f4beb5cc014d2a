"""Delivering a month's report by email, once per recipient, through the ledger.

The snapshot frozen in the ledger is the rendered email itself (subject, text, HTML,
chart, CSV): a retry re-sends exactly what the first attempt sent, whatever the data
says now. ``--force`` renders afresh and sends again, on purpose, recorded as such.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from reports.metrics import MonthReport
from reports.render import render_csv
from reports.render.chart import render_chart_png
from reports.render.email_text import render_email_text, render_subject
from reports.render.html import render_email_html
from reports.render.jsonout import render_json
from syncer.app.settings import Settings
from syncer.db.store import Store
from syncer.deliver.email import SmtpUncertain, build_message, message_id_for, send_email
from syncer.deliver.ledger import (
    DeliveryUncertain,
    claim,
    delivery_key,
    mark_failed,
    mark_sent,
    mark_uncertain,
    skip_reason,
    uncertain_detail,
)
from syncer.errors import ConfigError, NrrError

CHANNEL = "email"
CHART_CID = "nrr-chart"


@dataclass(frozen=True)
class Outcome:
    target: str
    status: str  # sent | skipped | failed | dry-run
    detail: str = ""


def render_snapshot(reports: Sequence[MonthReport]) -> str:
    """The frozen email: every part, and the report's JSON for the record."""
    report, previous = reports[-1], (reports[-2] if len(reports) > 1 else None)
    return json.dumps({
        "report": json.loads(render_json(report)),
        "subject": render_subject(report),
        "text": render_email_text(report, previous),
        "html": render_email_html(report, previous, CHART_CID),
        "chart_png": base64.b64encode(render_chart_png(reports, report.month)).decode(),
        "csv": render_csv(report),
    })


def _require_email_settings(settings: Settings) -> None:
    missing = [name for name, value in (
        ("SMTP_HOST", settings.smtp_host), ("REPORT_EMAIL_FROM", settings.report_email_from),
        ("REPORT_EMAIL_TO", settings.report_email_to),
    ) if not value]
    if missing:
        raise ConfigError(f"email delivery needs {', '.join(missing)}; set them in .env (see .env.example)")


def deliver_email(
    settings: Settings, store: Store, account: str, reports: Sequence[MonthReport], *, now: int,
    force: bool = False, dry_run: bool = False, ssl_context: ssl.SSLContext | None = None, edition: str = "final",
    backoff_since: int | None = None,
) -> list[Outcome]:
    """Send the month to every REPORT_EMAIL_TO recipient not already sent to
    (``backoff_since``: the daemon's backoff after a failure, see ``syncer.deliver.ledger``)."""
    _require_email_settings(settings)
    month = delivery_key(reports[-1].month, edition)
    fresh = render_snapshot(reports)
    sender = str(settings.report_email_from)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "stripe-nrr.local"
    outcomes = []
    uncertain: DeliveryUncertain | None = None
    for recipient in settings.report_email_to:
        if dry_run:
            outcomes.append(Outcome(recipient, "dry-run", "rendered, not sent"))
            continue
        try:
            got = claim(store, account=account, month=month, channel=CHANNEL, target=recipient,
                        snapshot_json=fresh, now=now, force=force, backoff_since=backoff_since)
        except DeliveryUncertain as exc:
            # One recipient awaiting a person's decision must not hold the others back
            # (a failed one behind it would never be retried); it is raised once they are done.
            uncertain = uncertain or exc
            continue
        if got is None:
            outcomes.append(Outcome(recipient, "skipped", skip_reason(
                store, account=account, month=month, channel=CHANNEL, target=recipient, now=now)))
            continue
        parts = json.loads(got.snapshot_json)
        message = build_message(
            subject=parts["subject"], sender=sender, to=recipient, text=parts["text"], html=parts["html"],
            chart_png=base64.b64decode(parts["chart_png"]), chart_cid=CHART_CID,
            csv_bytes=parts["csv"].encode(), csv_name=f"nrr-movements-{reports[-1].month}.csv",
            message_id=message_id_for(account, month, recipient, got.generation, domain),
        )
        try:
            send_email(settings, message, ssl_context=ssl_context)
        except SmtpUncertain as exc:
            # Not mark_failed: a failed row is retried by the next tick, and this mail may
            # have been delivered. The row stays ``sending``, the ledger's "may have been
            # sent" state: skipped while fresh, then DeliveryUncertain until --force.
            mark_uncertain(store, got, exc)
            outcomes.append(Outcome(recipient, "failed", uncertain_detail(
                exc, month=reports[-1].month, channel=CHANNEL, edition=edition)))
            continue
        except NrrError as exc:
            mark_failed(store, got, exc, now=now)
            outcomes.append(Outcome(recipient, "failed", str(exc)))
            continue
        mark_sent(store, got, now=now)
        outcomes.append(Outcome(recipient, "sent", "forced" if got.forced else ""))
    if uncertain is not None:
        raise uncertain
    return outcomes
