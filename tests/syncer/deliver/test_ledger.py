"""The deliveries ledger on both backends: at most once, frozen snapshots, --force."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from syncer.app.logging import register_secret
from syncer.db.deliveries import FAILED, SENDING, SENT, insert_sending
from syncer.db.engine import create_db_engine
from syncer.db.migrate import upgrade_db
from syncer.db.store import Store
from syncer.deliver.ledger import (
    STALE_AFTER_SECONDS,
    Claim,
    DeliveryUncertain,
    claim,
    delivery_status,
    mark_failed,
    mark_sent,
    mark_uncertain,
    one_line_error,
    retry_wait,
    skip_reason,
)
from tests.conftest import POSTGRES_URL, postgres_url_for_test

T0 = 1_790_000_000
KEY: dict[str, Any] = {"account": "acct_1", "month": "2026-10", "channel": "email", "target": "ceo@example.com"}


def _claim(store: Store, snapshot: str = '{"v": 1}', now: int = T0, force: bool = False) -> Claim | None:
    return claim(store, **KEY, snapshot_json=snapshot, now=now, force=force)


def _row(store: Store) -> Any:
    row = delivery_status(store, **KEY)
    assert row is not None
    return row


def test_first_claim_records_sending_before_the_send(store: Store) -> None:
    c = _claim(store)
    assert c is not None
    assert (c.generation, c.attempt, c.snapshot_json, c.forced, c.recovered) == (1, 1, '{"v": 1}', False, False)
    row = _row(store)
    assert (row.state, row.attempts, row.created_at, row.updated_at, row.sent_at) == (SENDING, 1, T0, T0, None)


def test_second_send_is_skipped_once_sent(store: Store) -> None:
    c = _claim(store)
    assert c is not None
    assert mark_sent(store, c, now=T0 + 5)
    assert _claim(store, '{"v": 2}', now=T0 + 60) is None
    row = _row(store)
    assert (row.state, row.sent_at, row.generation, row.snapshot) == (SENT, T0 + 5, 1, '{"v": 1}')


def test_a_send_in_progress_is_not_claimed_again(store: Store) -> None:
    # Also the crash-between-send-and-record case within one run: never re-sent.
    assert _claim(store) is not None
    assert _claim(store, now=T0 + 60) is None
    assert _claim(store, now=T0 + 60, force=True) is None
    assert _row(store).attempts == 1


def test_retry_after_failure_sends_the_frozen_snapshot(store: Store) -> None:
    c = _claim(store, '{"mrr": 100}')
    assert c is not None
    assert mark_failed(store, c, ConnectionError("cannot reach SMTP_HOST smtp.example.com:587:\nrefused"), now=T0 + 1)
    row = _row(store)
    assert (row.state, row.last_error) == (FAILED, "cannot reach SMTP_HOST smtp.example.com:587: refused")

    retry = _claim(store, '{"mrr": 999}', now=T0 + 3600)  # the data changed meanwhile
    assert retry is not None
    assert (retry.snapshot_json, retry.generation, retry.attempt) == ('{"mrr": 100}', 1, 2)
    assert mark_sent(store, retry, now=T0 + 3601)
    assert _row(store).snapshot == '{"mrr": 100}'


def test_the_daemon_backs_off_after_a_failure_doubling_to_a_ceiling(store: Store) -> None:
    started = T0 - 10  # the daemon's start: failures since then wait their backoff
    assert [retry_wait(n) for n in (1, 2, 3)] == [300, 600, 1200] and retry_wait(99) == 6 * 3600
    c = _claim(store)
    assert c is not None and mark_failed(store, c, "Slack says invalid_auth for SLACK_BOT_TOKEN", now=T0)
    assert claim(store, **KEY, snapshot_json="{}", now=T0 + 299, backoff_since=started) is None
    reason = skip_reason(store, **KEY, now=T0 + 60)
    assert reason.startswith("failed 1 time(s), last: Slack says invalid_auth") and "next try in 4 min" in reason
    again = claim(store, **KEY, snapshot_json="{}", now=T0 + 300, backoff_since=started)
    assert again is not None and again.attempt == 2
    assert mark_failed(store, again, "still refused", now=T0 + 300)
    assert claim(store, **KEY, snapshot_json="{}", now=T0 + 899, backoff_since=started) is None  # 600 s now
    # A manual send, a --force, or a daemon started after the failure: at once.
    assert claim(store, **KEY, snapshot_json="{}", now=T0 + 301, backoff_since=T0 + 301) is not None


def test_skip_reasons_say_why_nothing_was_sent(store: Store) -> None:
    c = _claim(store)
    assert c is not None
    assert skip_reason(store, **KEY, now=T0) == "being sent by another process"
    assert mark_uncertain(store, c, "the connection was lost after DATA")
    assert _row(store).state == SENDING and _row(store).updated_at == T0  # still never retried by itself
    assert skip_reason(store, **KEY, now=T0) == ("may have been sent: the connection was lost after DATA; "
                                                 "check whether it arrived, then use --force")
    assert mark_sent(store, c, now=T0)
    assert skip_reason(store, **KEY, now=T0).startswith("already sent")


def test_force_resends_a_sent_report_as_a_new_generation(store: Store) -> None:
    c = _claim(store, '{"v": 1}')
    assert c is not None and mark_sent(store, c, now=T0)
    forced = _claim(store, '{"v": 2}', now=T0 + 100, force=True)
    assert forced is not None
    assert (forced.generation, forced.attempt, forced.forced, forced.snapshot_json) == (2, 1, True, '{"v": 2}')
    assert _row(store).state == SENDING
    assert mark_sent(store, forced, now=T0 + 101)
    row = _row(store)
    assert (row.state, row.generation, row.forced, row.sent_at) == (SENT, 2, True, T0 + 101)
    # The old claim can no longer write over the new generation.
    assert not mark_failed(store, c, "late", now=T0 + 102)
    assert _claim(store, now=T0 + 200) is None


def test_stale_sending_is_uncertain_and_needs_force(store: Store) -> None:
    c = _claim(store, '{"v": 1}')
    assert c is not None  # ... and the process dies before mark_sent
    later = T0 + STALE_AFTER_SECONDS + 1
    with pytest.raises(DeliveryUncertain, match="unknown: may have been sent.*--force"):
        _claim(store, now=later)
    taken = _claim(store, '{"v": 2}', now=later, force=True)
    assert taken is not None
    # Same generation (same Message-ID) and the frozen snapshot: a recognisable duplicate.
    assert (taken.generation, taken.snapshot_json, taken.recovered, taken.forced, taken.attempt) == (
        1, '{"v": 1}', True, True, 2
    )
    assert mark_sent(store, taken, now=later + 1)
    assert _row(store).state == SENT


def test_failed_errors_are_one_bounded_line_without_secrets() -> None:
    register_secret("hunter2-very-secret")
    line = one_line_error("login as bob with hunter2-very-secret\nrefused " + "x" * 1000)
    assert "hunter2" not in line and "\n" not in line and len(line) <= 500


def test_deliveries_are_independent_per_target_channel_and_month(store: Store) -> None:
    for k in ({"target": "cfo@example.com"}, {"channel": "slack"}, {"month": "2026-11"}):
        assert claim(store, **{**KEY, **k}, snapshot_json="{}", now=T0) is not None
    assert _claim(store) is not None


@pytest.mark.parametrize("state", ["new", "failed", "sent+force", "stale+force"])
def test_concurrent_claimers_exactly_one_wins(store: Store, state: str) -> None:
    if state != "new":
        c = _claim(store)
        assert c is not None
        if state == "failed":
            mark_failed(store, c, "boom", now=T0)
        elif state == "sent+force":
            mark_sent(store, c, now=T0)
    now = T0 + STALE_AFTER_SECONDS + 10
    force = state.endswith("force")
    n = 8
    barrier = threading.Barrier(n)
    results: list[Claim | None] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        got = _claim(store, f'{{"w": {i}}}', now=now, force=force)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(results) == n and len(winners) == 1
    assert _row(store).state == SENDING


@pytest.fixture
def pg_store() -> Iterator[Store]:
    if not POSTGRES_URL:
        pytest.skip("NRR_TEST_POSTGRES_URL is not set: no PostgreSQL to test on")
    for url in postgres_url_for_test():
        engine = create_db_engine(url)
        upgrade_db(engine)
        yield Store(engine)
        engine.dispose()


@pytest.mark.postgres
def test_postgres_second_connection_waits_and_loses(pg_store: Store) -> None:
    """Connection A claims inside an open transaction; B blocks on the unique key, then loses."""
    store = pg_store

    result: list[Claim | None] = []
    with store.engine.connect() as a:
        tx = a.begin()
        assert insert_sending(a, **KEY, snapshot_json='{"a": 1}', now=T0, forced=False)
        b = threading.Thread(target=lambda: result.append(_claim(store, '{"b": 1}')))
        b.start()
        _wait_until_blocked(store, a)
        tx.commit()
        b.join(timeout=30)
    assert result == [None]
    assert _row(store).snapshot == '{"a": 1}'


def _wait_until_blocked(store: Store, holder: Any) -> None:
    """Until some other backend waits on a lock (B is blocked behind A's insert)."""
    with store.engine.connect() as probe:
        for _ in range(1500):  # up to 30 s: a loaded machine may start B slowly
            waiting = probe.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.02)
    pytest.fail("the second claimer never waited on the first")
