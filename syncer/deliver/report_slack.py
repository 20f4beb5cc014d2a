"""Delivering a month's digest to Slack, once per target, through the ledger.

With ``SLACK_BOT_TOKEN`` and ``SLACK_CHANNEL``: the Web API (message, chart, movers in the
thread). With ``SLACK_WEBHOOK_URL``: the same blocks without the chart. As for email,
the frozen snapshot is the rendered payload, so a retry posts what the first try would.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence

from reports.metrics import MonthReport
from reports.render.chart import render_chart_png
from reports.render.slack import render_slack_blocks, render_slack_thread
from syncer.app.settings import Settings
from syncer.db.store import Store
from syncer.deliver.ledger import (
    claim,
    delivery_key,
    mark_failed,
    mark_sent,
    mark_uncertain,
    skip_reason,
    uncertain_detail,
)
from syncer.deliver.report_email import Outcome
from syncer.deliver.slack import SlackUncertain, send_slack_web, send_slack_webhook
from syncer.errors import ConfigError, NrrError

CHANNEL = "slack"
WEBHOOK_TARGET = "webhook"


def render_snapshot(reports: Sequence[MonthReport], *, with_chart: bool) -> str:
    report, previous = reports[-1], (reports[-2] if len(reports) > 1 else None)
    doc = {
        "message": render_slack_blocks(report, previous),
        "thread": render_slack_thread(report),
        "chart_png": base64.b64encode(render_chart_png(reports, report.month)).decode() if with_chart else None,
    }
    return json.dumps(doc)


def slack_target(settings: Settings) -> str | None:
    """The ledger target: SLACK_CHANNEL with a bot token, "webhook" with a webhook, else None."""
    if settings.slack_bot_token is not None and settings.slack_channel:
        return str(settings.slack_channel)
    return WEBHOOK_TARGET if settings.slack_webhook_url is not None else None


def deliver_slack(
    settings: Settings, store: Store, account: str, reports: Sequence[MonthReport], *, now: int,
    force: bool = False, dry_run: bool = False, sleep: Callable[[float], None] = time.sleep, edition: str = "final",
    backoff_since: int | None = None,
) -> list[Outcome]:
    target = slack_target(settings)
    if target is None:
        raise ConfigError(
            "Slack delivery needs SLACK_BOT_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL; set them in .env"
        )
    web = target != WEBHOOK_TARGET
    if dry_run:
        return [Outcome(target, "dry-run", "rendered, not sent")]
    key = delivery_key(reports[-1].month, edition)
    got = claim(store, account=account, month=key, channel=CHANNEL, target=target,
                snapshot_json=render_snapshot(reports, with_chart=bool(web)), now=now, force=force, backoff_since=backoff_since)
    if got is None:
        return [Outcome(target, "skipped", skip_reason(store, account=account, month=key, channel=CHANNEL,
                                                       target=target, now=now))]
    parts = json.loads(got.snapshot_json)
    incomplete = None
    try:
        if web:
            chart = base64.b64decode(parts["chart_png"]) if parts.get("chart_png") else None
            incomplete = send_slack_web(settings, parts["message"], parts["thread"], chart, sleep=sleep).incomplete
        else:
            assert settings.slack_webhook_url is not None
            send_slack_webhook(settings.slack_webhook_url, parts["message"], sleep=sleep)
    except SlackUncertain as exc:
        # Not mark_failed: a failed row is retried by the next tick, and this post may be
        # in the channel. The row stays ``sending``: skipped while fresh, then
        # DeliveryUncertain until a person checks the channel and uses --force.
        mark_uncertain(store, got, exc)
        return [Outcome(target, "failed", uncertain_detail(
            exc, month=reports[-1].month, channel=CHANNEL, edition=edition))]
    except NrrError as exc:
        mark_failed(store, got, exc, now=now)
        return [Outcome(target, "failed", str(exc))]
    mark_sent(store, got, now=now)
    detail = "; ".join(d for d in ("forced" if got.forced else "", incomplete or "") if d)
    return [Outcome(target, "sent", detail)]
