"""Movement alerts and the weekly digest: from the normalized facts to the report's Slack
channel, each exactly once, through the deliveries ledger.

What a movement is and which are alerts is ``reports.alerts`` (pure); how they look is
``reports.render.alerts``; this module reads the facts, keeps the ledger and sends.

Once each, in order. Every alert is a ledger row keyed ``alert/<customer>/<instant>``
(claim → send → mark, as for a report), so a restart, a re-derivation of the facts or a
new leader sends only what the ledger says is unsent. Alerts go out in the order the
movements happened; when one fails, the ones after it wait (it is retried with the
ledger's backoff first), so the channel never shows a later change before an earlier
one. A post that may have reached Slack (the connection broke after the request) is
never re-posted: the ledger keeps it "may have been sent" and the later alerts go on
(a missed alert is better than a duplicate, and one uncertain post must not hold every
later one back until a person steps in).

No flood. The first time alerts are on for a Slack target, the instant is recorded in
the ledger (``alerts/since``); alerts cover movements after it and never older
than ``LOOKBACK_SECONDS``, so turning alerts on, or a restart after a long outage, never
posts the account's history. A movement that reaches the facts late (a backdated change)
inside that window is still sent, once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from reports.alerts import (
    ALERT_KEY_PREFIX,
    AlertRule,
    DigestWeek,
    MrrMove,
    customer_moves,
    digest_due,
    month_opening,
    select_alerts,
    weekly_digest,
)
from reports.errors import ReportError
from reports.fx import FxTable, minor_digits
from reports.metrics.index import CustomerIndex
from reports.metrics.mrr import convert
from reports.month import month_of
from reports.render.alerts import render_alert_slack, render_digest_slack
from reports.render.email_text import company
from syncer.app.accounts import AccountRef, platform_account
from syncer.app.logging import get_logger
from syncer.app.reporting import as_nrr_error, data_as_of, fx_table, report_currency, report_month
from syncer.app.settings import Settings
from syncer.db.alert_facts import customers_moving, mrr_total_at
from syncer.db.deliveries import FAILED, SENDING, SENT, Delivery, list_deliveries
from syncer.db.facts_store import customer_facts, load_plans
from syncer.db.store import Store
from syncer.deliver.channel import Outcome, SendUncertain
from syncer.deliver.ledger import (
    DeliveryUncertain,
    claim,
    delivery_status,
    mark_sent,
    mark_uncertain,
    send_claimed,
    skip_reason,
)
from syncer.deliver.slack import SLACK

log = get_logger("nrr.daemon")

SINCE_KEY = "alerts/since"
# Alerts never reach further back than this (a daemon down for a month does not post the
# month's movements: the digest and the monthly report cover them).
LOOKBACK_SECONDS = 7 * 86400
# A digest not sent within a day of its time is left out (stale news; the next one comes
# on time): turning the digest on mid-week does not post last week's at once.
DIGEST_LATE_SECONDS = 86400


@dataclass(frozen=True)
class Sent:
    """What became of one alert or digest: its ledger key and the outcome."""

    key: str
    outcome: Outcome


def slack_channel_target(settings: Settings) -> str | None:
    """Where the monthly report's Slack message goes (its ledger target), None without Slack."""
    targets = SLACK.targets(settings)
    return targets[0] if targets else None


def alert_rule(settings: Settings, currency: str) -> AlertRule:
    """ALERT_MIN_MRR_SHARE_PCT and ALERT_MIN_MRR (major units) in the currency's minor units."""
    minimum = (settings.alert_min_mrr * Decimal(10) ** minor_digits(currency)).to_integral_value(ROUND_HALF_EVEN)
    return AlertRule(Fraction(settings.alert_min_mrr_share_pct) / 100, int(minimum))


def alerts_since(store: Store, *, account: str, target: str, now: int) -> int:
    """When alerts were first enabled for ``target``: recorded by the first call, as a
    ledger row (its claim is atomic, so two processes agree on one instant)."""
    try:
        got = claim(store, account=account, month=SINCE_KEY, channel=SLACK.name, target=target,
                    snapshot_json=json.dumps({"since": now}), now=now)
    except DeliveryUncertain:  # a process stopped between the claim and its mark: the row stands
        got = None
    if got is not None:
        mark_sent(store, got, now=now)
        return now
    row = delivery_status(store, account=account, month=SINCE_KEY, channel=SLACK.name, target=target)
    assert row is not None  # claim found it
    return row.created_at


def movements(settings: Settings, store: Store, ref: AccountRef, *, since: int,
              until: int) -> tuple[list[MrrMove], FxTable | None, str]:
    """Every customer movement at an instant in ``[since, until]``, the exchange rates they
    were converted with (None when there are none) and the reporting currency."""
    currency = report_currency(settings, ref)
    with store.snapshot() as conn:
        customers = customers_moving(conn, ref.account, ref.livemode, since, until)
        if not customers:
            return [], None, currency
        facts = customer_facts(conn, ref.account, ref.livemode, customers)
        plans = load_plans(conn, ref.account, ref.livemode)
    fx = fx_table(settings, store, [ref], currency)
    index = CustomerIndex(facts, {p.price: p.name for p in plans})
    try:
        return customer_moves(index, fx, since, until), fx, currency
    except ReportError as exc:  # a currency without a rate: FX_RATES
        raise as_nrr_error(exc) from None


def due_alerts(settings: Settings, store: Store, ref: AccountRef, *, since: int,
               until: int) -> tuple[list[MrrMove], str]:
    """The movements in ``[since, until]`` above the alert threshold, in order."""
    moves, fx, currency = movements(settings, store, ref, since=since, until=until)
    if fx is None or not moves:
        return [], currency
    tz = settings.report_timezone
    try:
        with store.reading() as conn:
            opening = {at: convert(mrr_total_at(conn, ref.account, ref.livemode, at), fx, at)
                       for at in {month_opening(m.at, tz) for m in moves}}
    except ReportError as exc:
        raise as_nrr_error(exc) from None
    return select_alerts(moves, alert_rule(settings, currency), opening, tz), currency


def _settled(store: Store, account: str, target: str) -> set[str]:
    """Alert keys that are done: sent, or left "may have been sent" (never re-posted)."""
    with store.reading() as conn:
        rows = list_deliveries(conn, account=account, month_prefix=ALERT_KEY_PREFIX)
    return {r.month for r in rows if r.channel == SLACK.name and r.target == target and _is_settled(r)}


def _is_settled(row: Delivery | None) -> bool:
    return row is not None and (row.state == SENT or (row.state == SENDING and bool(row.last_error)))


def _settle_uncertain(store: Store, *, account: str, key: str, target: str, now: int,
                      error: DeliveryUncertain) -> None:
    """Record a post that a stopped process left unfinished as "may have been sent" (the
    state ``mark_uncertain`` gives), so that it is neither posted again nor asked about
    at every tick. The claim only takes the row over: nothing is posted."""
    got = claim(store, account=account, month=key, channel=SLACK.name, target=target, snapshot_json="{}",
                now=now, force=True)
    if got is not None:
        mark_uncertain(store, got, error)


def _snapshot(message: dict[str, Any]) -> str:
    # The Slack channel's snapshot shape: a message alone, no thread reply, no chart.
    return json.dumps({"message": message, "thread": None, "chart_png": None})


def _uncertain(exc: SendUncertain) -> str:
    return f"{exc}; not posted again (check the channel)"


def _target(settings: Settings, what: str) -> str | None:
    """The Slack target, or None with a warning saying what to set."""
    target = slack_channel_target(settings)
    if target is None:
        log.warning(f"{what}.no_channel", fix=f"set {SLACK.needs}, or SLACK_WEBHOOK_URL")
    return target


def send_alerts(settings: Settings, store: Store, *, now: int, backoff_since: int | None = None,
                options: Mapping[str, dict[str, Any]] | None = None) -> list[Sent]:
    """Post every unsent alert due at ``now`` to the report's Slack target, in order; stop
    at the first that fails or waits its backoff (the next tick goes on from there).
    ``options``: per channel name, what its send takes (tests: a sleep)."""
    if not settings.alerts:
        return []
    target = _target(settings, "alerts")
    if target is None:
        return []
    send_options = (options or {}).get(SLACK.name, {})
    ref = platform_account(store)
    since = alerts_since(store, account=ref.account, target=target, now=now)
    # Strictly after the watermark: a change the enabling tick's sync learnt of with nothing
    # to date it is dated when that sync saw it, at most the watermark (history, not news).
    alerts, currency = due_alerts(settings, store, ref, since=max(since + 1, now - LOOKBACK_SECONDS), until=now)
    done = _settled(store, ref.account, target)
    sent: list[Sent] = []
    for move in (m for m in alerts if m.key not in done):
        snapshot = _snapshot(render_alert_slack(move, currency, settings.report_timezone))
        try:
            got = claim(store, account=ref.account, month=move.key, channel=SLACK.name, target=target,
                        snapshot_json=snapshot, now=now, backoff_since=backoff_since)
        except DeliveryUncertain as exc:  # a process stopped while posting it: not posted again
            _settle_uncertain(store, account=ref.account, key=move.key, target=target, now=now, error=exc)
            sent.append(Sent(move.key, Outcome(target, "skipped", str(exc))))
            continue
        if got is None:  # failed and waiting its backoff: the later ones wait behind it
            sent.append(Sent(move.key, Outcome(target, "skipped", skip_reason(
                store, account=ref.account, month=move.key, channel=SLACK.name, target=target, now=now))))
            break
        outcome = send_claimed(SLACK, settings, store, got, now=now, report_month=move.key,
                               explain_uncertain=_uncertain, **send_options)
        sent.append(Sent(move.key, outcome))
        row = delivery_status(store, account=ref.account, month=move.key, channel=SLACK.name, target=target)
        if row is not None and row.state == FAILED:
            break
    return sent


# --------------------------------------------------------------------------- the weekly digest


def due_digest(settings: Settings, now: int) -> DigestWeek | None:
    """The latest digest due at ``now`` (None when DIGEST_WEEKLY is off)."""
    if settings.digest_weekly is None:
        return None
    return digest_due(now, settings.digest_weekly, settings.report_timezone)


def render_digest(settings: Settings, store: Store, ref: AccountRef, week: DigestWeek, *, now: int) -> dict[str, Any]:
    """The digest of ``week``: its movements and the NRR of the month of its due time so far."""
    moves, _, currency = movements(settings, store, ref, since=week.start, until=week.due - 1)
    month = month_of(week.due, settings.report_timezone)
    report = report_month(settings, store, month, now=now)
    digest = weekly_digest(week, moves, company=company(report), currency=currency,
                           timezone=settings.report_timezone, month=month,
                           nrr_month_to_date=report.retention.nrr)
    return render_digest_slack(digest)


def send_digest(settings: Settings, store: Store, *, now: int, backoff_since: int | None = None,
                options: Mapping[str, dict[str, Any]] | None = None) -> list[Sent]:
    """Post the due weekly digest to the report's Slack target unless the ledger says it
    went out; it waits for a successful sync that ended after its due time, for at most
    ``DIGEST_LATE_SECONDS``."""
    week = due_digest(settings, now)
    if week is None or now >= week.due + DIGEST_LATE_SECONDS:
        return []
    target = _target(settings, "digest")
    if target is None:
        return []
    ref = platform_account(store)
    if _is_settled(delivery_status(store, account=ref.account, month=week.key, channel=SLACK.name, target=target)):
        return []
    synced = data_as_of(store)
    if synced is None or synced < week.due:
        return [Sent(week.key, Outcome(target, "skipped", "waiting for a successful sync after its due time"))]
    snapshot = _snapshot(render_digest(settings, store, ref, week, now=now))
    try:
        got = claim(store, account=ref.account, month=week.key, channel=SLACK.name, target=target,
                    snapshot_json=snapshot, now=now, backoff_since=backoff_since)
    except DeliveryUncertain as exc:
        _settle_uncertain(store, account=ref.account, key=week.key, target=target, now=now, error=exc)
        return [Sent(week.key, Outcome(target, "skipped", str(exc)))]
    if got is None:
        return [Sent(week.key, Outcome(target, "skipped", skip_reason(
            store, account=ref.account, month=week.key, channel=SLACK.name, target=target, now=now)))]
    return [Sent(week.key, send_claimed(SLACK, settings, store, got, now=now, report_month=week.key,
                                        explain_uncertain=_uncertain, **(options or {}).get(SLACK.name, {})))]
