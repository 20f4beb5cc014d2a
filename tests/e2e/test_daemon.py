"""The daemon end to end: the fake Stripe over HTTP, a real SMTP server, a real database.

It syncs, sends the due month once, sends nothing more after a restart, waits for a
sync after the due time before a final report, sends a preliminary edition when asked,
elects one leader among replicas, and stops on SIGTERM with its sync checkpointed.
"""

from __future__ import annotations

import email
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from syncer.daemon.run import Daemon
from syncer.db.deliveries import SENT, deliveries_table
from syncer.db.engine import create_db_engine
from syncer.db.meta import SyncRun
from syncer.db.migrate import upgrade_db
from syncer.db.store import Store
from syncer.errors import DatabaseUnavailable
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.daemon_thread import Clock, run_in_thread, stop, wait_for
from tests.e2e.harness import KEY, NOW, assert_matches_truth, settings_for, sync
from tests.e2e.mail import RECIPIENTS, SENDER, Smtp
from tests.syncer.deliver.fake_smtp import HOST

NOV_2_0800 = 1793606400  # Monday: business day 1 of November 2026
NOV_2_1000 = 1793613600
NOV_3_1000 = 1793700000
NOV_4_1000 = 1793786400  # October's report is due on business day 3, 2026-11-04 09:00 UTC


def email_settings(fake: FakeStripe, database_url: str, smtp: Smtp, **more: Any) -> Any:
    return settings_for(
        fake, database_url, smtp_host=HOST, smtp_port=smtp.port, smtp_security="starttls",
        report_email_from=SENDER, report_email_to=",".join(RECIPIENTS), **more,
    )


def tls(smtp: Smtp) -> dict[str, Any]:
    return {"email": {"ssl_context": ssl.create_default_context(cafile=str(smtp.ca_file))}}


def sent_rows(store: Store) -> list[tuple[str, str, str, int]]:
    t = deliveries_table()
    with store.reading() as conn:
        return sorted((r.month, r.target, r.state, r.generation) for r in conn.execute(select(t)))


def message_ids(smtp: Smtp) -> list[str]:
    return [str(email.message_from_bytes(raw, policy=policy.default)["Message-ID"])
            for _, raw in smtp.inbox.messages]


# ----------------------------------------------------------------------------- scheduling


def test_syncs_sends_the_due_month_once_and_nothing_after_a_restart(
    fake: FakeStripe, store: Store, database_url: str, smtp: Smtp
) -> None:
    settings = email_settings(fake, database_url, smtp, health_port=0)
    clock = Clock(NOW + 3600)  # 18 November: October is due since the 4th

    first = Daemon(settings, store, clock=clock, interval_seconds=1, leader_poll_seconds=0.1,
                   deliver_options=tls(smtp))
    thread = run_in_thread(first)
    wait_for(lambda: len(smtp.inbox.messages) == 2 and first.ticks >= 2, what="two ticks and two emails")
    assert first.health_port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{first.health_port}/healthz", timeout=5) as answer:
        health = json.loads(answer.read())
    assert answer.status == 200 and health["status"] == "ok" and health["leader"] is True
    # The report job is dated by the daemon's clock (18 November: December's report is
    # due on the 3rd at 09:00), but APScheduler fires by the wall clock: once that date
    # has passed for real, the job runs at once and may be missing from ``next_runs``
    # while it does. So its date is checked where the daemon computes it.
    assert {"sync", "reconcile"} <= set(health["next_runs"])
    assert first._next_report_time() == int(datetime(2026, 12, 3, 9, tzinfo=UTC).timestamp())
    stop(first, thread)
    assert smtp.inbox.recipients() == sorted(RECIPIENTS)
    assert sent_rows(store) == [("2026-10", r, SENT, 1) for r in sorted(RECIPIENTS)]
    subject = email.message_from_bytes(smtp.inbox.messages[0][1], policy=policy.default)["Subject"]
    assert "October 2026" in subject and "(final)" in subject

    # A restart (same database, new process state): it syncs again and sends nothing.
    def successes() -> int:
        return sum(r["status"] == "success" for r in store.recent_runs(50))

    before = successes()
    again = Daemon(settings, store, clock=clock, interval_seconds=1, leader_poll_seconds=0.1,
                   deliver_options=tls(smtp))
    thread = run_in_thread(again)
    wait_for(lambda: successes() >= before + 2, what="two syncs after the restart")
    stop(again, thread)
    assert len(smtp.inbox.messages) == 2
    # A tick cut short by stop() is recorded as interrupted, never as failed.
    assert {r["status"] for r in store.recent_runs(50)} <= {"success", "interrupted"}


def test_the_report_waits_for_its_business_day_then_goes_out(store: Store, database_url: str, smtp: Smtp) -> None:
    early = generate_account(customers=12, seed=21, now=NOV_2_0800)
    with FakeStripe(early, api_key=KEY) as server:
        server.start()
        clock = Clock(NOV_2_1000)
        daemon = Daemon(email_settings(server, database_url, smtp), store, clock=clock, interval_seconds=60,
                        deliver_options=tls(smtp))
        daemon.tick("sync")
        assert smtp.inbox.messages == [] and sent_rows(store) == []
        clock.now = NOV_3_1000
        daemon.tick("sync")
        assert smtp.inbox.messages == []
        clock.now = NOV_4_1000
        daemon.tick("report")
        assert smtp.inbox.recipients() == sorted(RECIPIENTS)
        daemon.tick("sync")
        assert len(smtp.inbox.messages) == 2


def test_preliminary_on_business_day_one_then_final(
    store: Store, database_url: str, smtp: Smtp
) -> None:
    early = generate_account(customers=12, seed=21, now=NOV_2_0800)
    with FakeStripe(early, api_key=KEY) as server:
        server.start()
        clock = Clock(NOV_2_1000)
        settings = email_settings(server, database_url, smtp, report_preliminary=True)
        daemon = Daemon(settings, store, clock=clock, interval_seconds=60, deliver_options=tls(smtp))
        daemon.tick("sync")
        assert sent_rows(store) == [("2026-10/preliminary", r, SENT, 1) for r in sorted(RECIPIENTS)]
        subjects = [email.message_from_bytes(raw, policy=policy.default)["Subject"]
                    for _, raw in smtp.inbox.messages]
        assert all("(preliminary)" in s for s in subjects)
        clock.now = NOV_3_1000
        daemon.tick("sync")
        assert len(smtp.inbox.messages) == 2
        clock.now = NOV_4_1000
        daemon.tick("sync")
    assert len(smtp.inbox.messages) == 4
    final = [email.message_from_bytes(raw, policy=policy.default) for _, raw in smtp.inbox.messages[2:]]
    assert all("(final)" in str(m["Subject"]) for m in final)
    assert len(set(message_ids(smtp))) == 4  # the final edition is not a duplicate of the first
    assert ("2026-10", RECIPIENTS[0], SENT, 1) in sent_rows(store)


def test_a_final_report_waits_for_a_sync_after_its_due_time(
    store: Store, database_url: str, smtp: Smtp
) -> None:
    early = generate_account(customers=12, seed=21, now=NOV_2_0800)
    with FakeStripe(early, api_key=KEY) as server:
        server.start()
        clock = Clock(NOV_2_1000)
        good = email_settings(server, database_url, smtp)
        Daemon(good, store, clock=clock, interval_seconds=60, deliver_options=tls(smtp)).tick("sync")
        # Due now, but Stripe refuses the key: the data is from before the due time.
        clock.now = NOV_4_1000
        revoked = good.model_copy(update={"stripe_api_key": SecretStr("sk_test_51SandboxRevokedKey000000000")})
        broken = Daemon(revoked, store, clock=clock, interval_seconds=60, deliver_options=tls(smtp))
        broken.tick("report")
        assert smtp.inbox.messages == [] and sent_rows(store) == []
        assert store.recent_runs(1)[0]["status"] == "failed"
        # The key is fixed: the next tick syncs and sends the final report.
        Daemon(good, store, clock=clock, interval_seconds=60, deliver_options=tls(smtp)).tick("sync")
    assert smtp.inbox.recipients() == sorted(RECIPIENTS)


def test_no_delivery_channel_is_a_warning_not_a_crash(fake: FakeStripe, store: Store, database_url: str) -> None:
    daemon = Daemon(settings_for(fake, database_url), store, clock=Clock(NOW + 3600), interval_seconds=60)
    daemon.tick("sync")
    assert daemon.deliver_due() == [] and sent_rows(store) == []
    assert store.recent_runs(1)[0]["status"] == "success"


# ----------------------------------------------------------------------------- replicas


def test_two_daemons_one_leader_each_report_once_and_takeover(
    fake: FakeStripe, database_url: str, smtp: Smtp
) -> None:
    stores = []
    for _ in range(2):
        engine = create_db_engine(database_url)
        upgrade_db(engine)
        stores.append(Store(engine))
    settings = email_settings(fake, database_url, smtp)
    clock = Clock(NOW + 3600)
    daemons = [Daemon(settings, s, clock=clock, interval_seconds=1, leader_poll_seconds=0.1,
                      deliver_options=tls(smtp)) for s in stores]
    threads = [run_in_thread(d) for d in daemons]
    try:
        wait_for(lambda: len(smtp.inbox.messages) == 2 and max(d.ticks for d in daemons) >= 3,
                 what="the leader's ticks and the report")
        leaders = [d for d in daemons if d.ticks > 0]
        assert len(leaders) == 1, [d.ticks for d in daemons]
        leader = leaders[0]
        follower = daemons[1 - daemons.index(leader)]
        stop(leader, threads[daemons.index(leader)])
        wait_for(lambda: follower.ticks >= 2, timeout=30, what="the follower to take over")
    finally:
        for d, t in zip(daemons, threads, strict=True):
            if t.is_alive():
                stop(d, t)
        for s in stores:
            s.engine.dispose()
    assert smtp.inbox.recipients() == sorted(RECIPIENTS)  # once each, across both leaders


# ----------------------------------------------------------------------------- the process


def test_nrr_run_stops_on_sigterm_with_its_sync_checkpointed(
    account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path / 'nrr.db'}"
    # Slow answers: the first backfill is still running when SIGTERM comes.
    with FakeStripe(account, api_key=KEY, latency=0.05) as server:
        server.start()
        env = {
            **os.environ, "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": server.base_url, "DATABASE_URL": database_url,
            "STRIPE_MAX_RPS": "1000", "STRIPE_MAX_CONCURRENCY": "2", "LOG_FORMAT": "json", "HEALTH_PORT": "0",
        }
        proc = subprocess.Popen([sys.executable, "-m", "syncer.app.cli", "run"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            engine = create_db_engine(database_url)
            store = Store(engine)
            runs = SyncRun.__table__  # type: ignore[attr-defined]

            def running() -> bool:
                try:
                    with store.reading() as conn:
                        return conn.execute(select(runs.c.id).where(runs.c.status == "running")).first() is not None
                except DatabaseUnavailable:  # the daemon is still creating the schema
                    return False

            wait_for(running, timeout=30, what="a running sync")
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            sent_at = time.monotonic()
            _, err = proc.communicate(timeout=20)
            stopped_in = time.monotonic() - sent_at
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err[-2000:]
        assert stopped_in < 10, stopped_in
        assert '"daemon.stopped"' in err and "Traceback" not in err
        assert store.recent_runs(1)[0]["status"] == "interrupted"
        # What it checkpointed is kept: a plain sync resumes and ends equal to the truth.
        settings = settings_for(server, database_url)
        assert sync(settings, store, clock=NOW).result.ok
        assert_matches_truth(store, account, server)
        engine.dispose()


def test_nrr_run_killed_mid_backfill_resumes_and_sends_once(
    account: Account, tmp_path: Path, smtp: Smtp
) -> None:
    database_url = f"sqlite:///{tmp_path / 'nrr.db'}"
    with FakeStripe(account, api_key=KEY, latency=0.05) as server:
        server.start()
        env = {
            **os.environ, "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": server.base_url, "DATABASE_URL": database_url,
            "STRIPE_MAX_RPS": "1000", "STRIPE_MAX_CONCURRENCY": "2", "LOG_FORMAT": "json",
            "SMTP_HOST": HOST, "SMTP_PORT": str(smtp.port), "SSL_CERT_FILE": str(smtp.ca_file),
            "REPORT_EMAIL_FROM": SENDER, "REPORT_EMAIL_TO": ",".join(RECIPIENTS),
        }

        def start() -> subprocess.Popen[str]:
            return subprocess.Popen([sys.executable, "-m", "syncer.app.cli", "run"], cwd=tmp_path, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        engine = create_db_engine(database_url)
        store = Store(engine)
        runs = SyncRun.__table__  # type: ignore[attr-defined]

        def stored_rows() -> int:
            try:
                with store.reading() as conn:
                    return store.count_live_and_deleted(conn, "invoices")[0]
            except DatabaseUnavailable:
                return 0

        crashed = start()
        try:
            wait_for(lambda: stored_rows() > 0, timeout=30, what="the first pages")
            crashed.kill()  # kill -9: no checkpoint beyond the last committed page
            crashed.wait(10)
        finally:
            if crashed.poll() is None:
                crashed.kill()
        with store.reading() as conn:
            assert conn.execute(select(runs.c.status)).scalars().all() == ["running"]  # what the crash left
        resumed = start()
        try:
            wait_for(lambda: len(smtp.inbox.messages) == 2, timeout=60, what="the report after the resume")
            resumed.send_signal(signal.SIGTERM)
            _, err = resumed.communicate(timeout=20)
        finally:
            if resumed.poll() is None:
                resumed.kill()
        assert resumed.returncode == 0, err[-2000:]
        assert smtp.inbox.recipients() == sorted(RECIPIENTS)
        statuses = [r["status"] for r in store.recent_runs(10)]
        assert statuses[-1] == "interrupted"  # the killed run, marked so by the next one
        assert "success" in statuses
        assert_matches_truth(store, account, server)
        engine.dispose()


def test_each_account_reports_to_its_own_recipients_once(
    account: Account, store: Store, database_url: str, smtp: Smtp
) -> None:
    # The platform's report to REPORT_EMAIL_TO, a connected account's and the consolidated
    # one to the recipients set for them; a second daemon on the same ledger sends nothing.
    connected = "acct_1ConnectedDaemon01"
    with FakeStripe(account, api_key=KEY, connected={connected: generate_account(customers=8, seed=5, now=NOW)}
                    ) as fake:
        fake.start()
        settings = email_settings(fake, database_url, smtp, stripe_accounts=connected,
                                  report_email_to_by_account=f"{connected}=west@example.com,all=board@example.com")
        assert sync(settings, store, clock=NOW).result.ok
        clock = Clock(NOW + 3600)
        sent = Daemon(settings, store, clock=clock, deliver_options=tls(smtp)).deliver_due()
        assert sorted(o.target for _, o in sent) == sorted([*RECIPIENTS, "west@example.com", "board@example.com"])
        assert not Daemon(settings, store, clock=clock, deliver_options=tls(smtp)).deliver_due()
    t = deliveries_table()
    with store.reading() as conn:
        rows = sorted((r.account, r.target) for r in conn.execute(select(t)))
    platform = account.account["id"]
    assert rows == sorted([(platform, r) for r in RECIPIENTS] + [(connected, "west@example.com"),
                                                                 ("all", "board@example.com")])
    subjects = {m["To"]: m["Subject"] for m in (email.message_from_bytes(raw, policy=policy.default)
                                                for _, raw in smtp.inbox.messages)}
    # The connected account's and the consolidated report name what they are about.
    platform_subject = subjects["cfo@example.com"]
    assert platform_subject == subjects["ops@example.com"] and platform_subject.endswith("(final)")
    assert subjects["west@example.com"].startswith("Revenue retention for October 2026: NRR ")
    assert "(final), " in subjects["west@example.com"]
    assert subjects["board@example.com"].endswith("(all 2 accounts)")
