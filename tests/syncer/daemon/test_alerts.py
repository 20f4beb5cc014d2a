"""Movement alerts and the weekly digest from the daemon's tick: the fake Stripe over HTTP,
the loopback Slack, the ledger on each backend.

Alerts go out once each and in order across ticks and a restart; a failed post is
retried after its backoff, never twice, with the later alerts behind it; nothing from
before alerts were enabled is posted; the digest goes out once at its time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from syncer.app.alerting import SINCE_KEY, alerts_since, movements
from syncer.app.reporting import platform_account
from syncer.daemon.run import Daemon
from syncer.db.deliveries import FAILED, SENT, deliveries_table
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import NOW, settings_for
from tests.syncer.deliver.fake_slack import TOKEN, FakeSlack

POST = "/api/chat.postMessage"
NO_SLEEP: dict[str, Any] = {"slack": {"sleep": lambda _seconds: None}}


@pytest.fixture
def account() -> Account:
    return generate_account(customers=4, seed=4, now=NOW)


def _settings(fake: FakeStripe, database_url: str, slack: FakeSlack, **more: Any) -> Any:
    more.setdefault("alerts", True)
    return settings_for(fake, database_url, slack_bot_token=TOKEN, slack_channel="C123", slack_api_base=slack.base,
                        alert_min_mrr=1, **more)


def _daemon(settings: Any, store: Store, clock: list[int]) -> Daemon:
    return Daemon(settings, store, clock=lambda: clock[0], interval_seconds=60, deliver_options=NO_SLEEP)


def _posts(slack: FakeSlack, marker: str) -> list[dict[str, Any]]:
    """The posts (every attempt) whose blocks carry ``marker``."""
    return [r.params for r in slack.calls(POST) if marker in json.dumps(r.params.get("blocks"))]


def _alert_texts(slack: FakeSlack) -> list[str]:
    return [p["text"] for p in _posts(slack, "MRR movement alert")]


def _ledger(store: Store, prefix: str) -> list[tuple[str, str, int]]:
    t = deliveries_table()
    with store.reading() as conn:
        rows = conn.execute(select(t).where(t.c.month.startswith(prefix)).order_by(t.c.id)).mappings().all()
    return [(r["month"], r["state"], r["attempts"]) for r in rows]


def _monthly_price(fake: FakeStripe) -> str:
    return next(p["id"] for p in fake.account.prices
                if p["currency"] == "usd" and (p.get("recurring") or {}).get("interval") == "month"
                and p["unit_amount"] >= 5000)


def _two_movements(fake: FakeStripe, at: int) -> tuple[str, str]:
    """A new customer at ``at`` and a cancellation 100 s later; their customer ids."""
    newco = fake.add_customer(now=at, name="Newco Ltd")
    fake.add_subscription(newco["id"], now=at, price=_monthly_price(fake))
    leaving = next(s for s in fake.account.subscriptions if s["status"] == "active")
    fake.cancel_subscription(leaving["id"], now=at + 100, feedback="too_expensive")
    return newco["id"], leaving["customer"]


def test_alerts_go_out_once_each_in_order_across_ticks_and_a_restart_and_never_from_before(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack,
) -> None:
    settings = _settings(fake, database_url, slack)
    # A change an hour before alerts are turned on, synced by the first tick: never posted.
    before = next(s for s in fake.account.subscriptions if s["status"] == "active")
    fake.change_subscription(before["id"], now=NOW - 3600, quantity=5)
    clock = [NOW + 600]
    daemon = _daemon(settings, store, clock)
    daemon.tick("sync")
    ref = platform_account(store)
    assert alerts_since(store, account=ref.account, target="C123", now=NOW + 999) == NOW + 600
    earlier, _, _ = movements(settings, store, ref, since=NOW - 7200, until=NOW + 600)
    # The change, and a state the first sync had no evidence to date but its own time of
    # seeing it (the watermark itself): both movements are in the facts...
    assert [(m.customer, m.at) for m in earlier] == [(before["customer"], NOW - 3600), (before["customer"], NOW + 600)]
    assert _alert_texts(slack) == []  # ...and neither is posted: they are not after the watermark

    new_customer, churned = _two_movements(fake, NOW + 700)
    clock[0] = NOW + 1500
    daemon.tick("sync")
    texts = _alert_texts(slack)
    assert len(texts) == 2
    assert texts[0].startswith("New: Newco Ltd (" + new_customer) and "+$" in texts[0]
    assert texts[1].startswith("Churn (voluntary: cancellation_requested)") and churned in texts[1]
    assert all("too_expensive" not in json.dumps(p) for p in _posts(slack, "MRR movement alert"))
    assert _ledger(store, "alert/") == [(f"alert/{new_customer}/{NOW + 700}", SENT, 1),
                                        (f"alert/{churned}/{NOW + 800}", SENT, 1)]

    clock[0] = NOW + 2400
    daemon.tick("sync")
    restarted = _daemon(settings, store, clock)  # a new process on the same database
    clock[0] = NOW + 3300
    restarted.tick("sync")
    assert len(_alert_texts(slack)) == 2
    assert _ledger(store, SINCE_KEY) == [(SINCE_KEY, SENT, 1)]


def test_a_failed_post_is_retried_after_its_backoff_once_and_later_alerts_wait_behind_it(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack,
) -> None:
    settings = _settings(fake, database_url, slack)
    clock = [NOW + 600]
    daemon = _daemon(settings, store, clock)
    daemon.tick("sync")  # the watermark (and October's report, posted to the same channel)
    new_customer, churned = _two_movements(fake, NOW + 700)
    for _ in range(5):  # every attempt of one post (syncer.deliver.slack.MAX_ATTEMPTS)
        slack.queue(POST, 503, {"ok": False, "error": "service_unavailable"})

    clock[0] = NOW + 1500
    daemon.tick("sync")
    assert len(_alert_texts(slack)) == 5  # five attempts at the first alert, none at the second
    assert all(t.startswith("New: Newco Ltd") for t in _alert_texts(slack))
    assert _ledger(store, "alert/") == [(f"alert/{new_customer}/{NOW + 700}", FAILED, 1)]

    clock[0] = NOW + 1560  # within the 5-minute backoff: not tried, and the churn waits
    daemon.tick("sync")
    assert len(_alert_texts(slack)) == 5

    clock[0] = NOW + 1500 + 301
    daemon.tick("sync")
    texts = _alert_texts(slack)
    assert len(texts) == 7 and texts[5].startswith("New: Newco Ltd") and churned in texts[6]
    assert _ledger(store, "alert/") == [(f"alert/{new_customer}/{NOW + 700}", SENT, 2),
                                        (f"alert/{churned}/{NOW + 800}", SENT, 1)]
    clock[0] += 600
    _daemon(settings, store, clock).tick("sync")
    assert len(_alert_texts(slack)) == 7


def test_alerts_off_post_nothing_and_record_no_watermark(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack,
) -> None:
    settings = _settings(fake, database_url, slack, alerts=False)
    clock = [NOW + 600]
    daemon = _daemon(settings, store, clock)
    daemon.tick("sync")
    _two_movements(fake, NOW + 700)
    clock[0] = NOW + 1500
    daemon.tick("sync")
    assert _alert_texts(slack) == [] and _ledger(store, "alert") == []


# 2026-11-18 (NOW) is a Wednesday; NOW is 11:06:40 UTC.
THU_0900 = 1795075200  # Thursday 19 November 2026, 09:00 Europe/Paris (08:00 UTC)


def test_the_weekly_digest_is_sent_once_at_its_time(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack,
) -> None:
    settings = _settings(fake, database_url, slack, alerts=False, digest_weekly="thu 09:00",
                         report_timezone="Europe/Paris")
    clock = [THU_0900 - 3600]
    daemon = _daemon(settings, store, clock)
    assert daemon._next_digest_time() == THU_0900
    _two_movements(fake, THU_0900 - 7200)
    daemon.tick("sync")
    # Last Thursday's digest is six days late: stale, left out; this week's is not due yet.
    assert _posts(slack, "estimate: month to date") == []

    clock[0] = THU_0900 + 60
    daemon.tick("digest")
    digests = _posts(slack, "estimate: month to date")
    assert len(digests) == 1 and "week 2026-W47" in digests[0]["text"]
    body = json.dumps(digests[0]["blocks"], ensure_ascii=False)
    assert "Newco Ltd" in body and "(1)" in body  # the week's new customer and its count
    assert "NRR November 2026 so far" in body

    for later in (THU_0900 + 600, THU_0900 + 86400):
        clock[0] = later
        _daemon(settings, store, clock).tick("sync")
    assert len(_posts(slack, "estimate: month to date")) == 1
    assert _ledger(store, "digest/") == [("digest/2026-W47", SENT, 1)]
