"""Faults on purpose: Stripe misbehaving in every way it does, and the database going away
mid-sync. Each run either ends equal to the generated truth, or fails with one-line errors
and leaves only consistent checkpoints, so that the next run (or daemon tick) resumes to it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from syncer.daemon.run import Daemon
from syncer.db.engine import create_db_engine
from syncer.db.meta import BackfillWindow
from syncer.db.migrate import upgrade_db
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import ALL_FAULT_KINDS, RATE_LIMITED_REASONS, FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.stripe.client import StripeApi
from syncer.stripe.ratelimit import TokenBucket
from syncer.stripe.resources import RESOURCES
from tests.conftest import POSTGRES_URL, postgres_url_for_test
from tests.e2e.harness import (
    KEY,
    NOW,
    assert_matches_truth,
    assert_one_line_errors,
    cli_env,
    finish_sync,
    settings_for,
    start_sync,
    stored,
    sync,
    wait_for_run,
)

# A timeout fault holds its answer past a client timeout this short.
CLIENT_TIMEOUT = 0.3
HOLD = 1.0


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(customers=40, seed=21, now=NOW)


def faulty(account: Account, **more: Any) -> FakeStripe:
    """20% of requests fail, evenly among every kind the fake knows."""
    return FakeStripe(account, api_key=KEY, fail_rate=0.2, fault_kinds=ALL_FAULT_KINDS, timeout_hold=HOLD,
                      **more)


def assert_checkpoints_consistent(store: Store, account: Account) -> None:
    """What the database says is done is stored: a completed resource holds all its objects,
    a done window all of its slice, and a window's cursor every object listed up to it."""
    complete = {s.resource for s in store.states() if s.completed_at is not None}
    bw = BackfillWindow.__table__  # type: ignore[attr-defined]
    with store.reading() as conn:
        windows = [BackfillWindow(**r) for r in conn.execute(select(bw)).mappings()]
    for resource in RESOURCES:
        have = set(stored(store, resource.name, include_deleted=True))
        # Customers and subscriptions on a test clock are not in the plain list: their
        # clock's own listing (a checkpoint of its own) holds them.
        truth = [o for o in account.objects(resource.name) if not o.get("test_clock")]
        if resource.name in complete:
            assert {o["id"] for o in truth} <= have, f"{resource.name} marked complete with rows missing"
        for w in (w for w in windows if w.resource == resource.name):
            if w.cursor is not None:
                assert w.cursor in have, f"{resource.name}: a checkpoint's cursor {w.cursor} was never stored"
            if not resource.windowed:
                continue
            at = next((o for o in truth if o["id"] == w.cursor), None)
            upto = (resource.created_of(at) or 0, at["id"]) if at is not None else None
            for o in truth:
                created = resource.created_of(o)
                if created is None or not w.start <= created < w.end:
                    continue
                listed = w.done or (upto is not None and (created, o["id"]) >= upto)
                assert not listed or o["id"] in have, (
                    f"{resource.name}: {o['id']} (created {created}) checkpointed but missing", w, upto,
                    [x for x in windows if x.resource == resource.name])


# ---- Stripe faults ----------------------------------------------------------------------


def test_every_fault_kind_at_20_percent_ends_equal_to_the_truth(
    account: Account, store: Store, database_url: str
) -> None:
    with faulty(account, seed=3, retry_after=None) as fake:
        settings = settings_for(fake, database_url, stripe_timeout_seconds=CLIENT_TIMEOUT)
        outcomes = [sync(settings, store, clock=NOW)]
        # A request that keeps failing past the retry budget fails its run, loudly, and the
        # next run resumes; with a 30 s budget that is rare, but either way ends the same.
        while not outcomes[-1].result.ok and len(outcomes) < 4:
            assert all("\n" not in str(e) for e in outcomes[-1].result.errors)
            outcomes.append(sync(settings, store, clock=NOW + 60 * len(outcomes)))
        assert outcomes[-1].result.ok, outcomes[-1].result.errors
        fake.fail_rate = 0
        assert_matches_truth(store, account, fake)
    seen = set(fake.log.faults)
    # Most kinds really happened (the draw is seeded), the new ones included.
    assert len(seen) >= len(ALL_FAULT_KINDS) - 3, seen
    assert {"timeout", "malformed-html", "malformed-shape"} & seen
    assert sum(o.retries for o in outcomes) >= sum(fake.log.faults.values()) - 4 * len(outcomes)
    assert sum(o.rate_limited for o in outcomes) >= sum(n for k, n in fake.log.faults.items() if k.startswith("429"))


def test_a_run_that_gives_up_fails_loudly_and_the_next_resumes(
    account: Account, database_url: str, tmp_path: Path
) -> None:
    with faulty(account, seed=8, retry_after=None) as fake:
        env = cli_env(fake, database_url, STRIPE_MAX_RPS="200", STRIPE_TIMEOUT_SECONDS=str(CLIENT_TIMEOUT))
        # No retry budget: the first fault after a resource's first page gives up.
        code, err = finish_sync({**env, "STRIPE_RETRY_BUDGET_SECONDS": "0"}, tmp_path)
        assert code != 0, err[-2000:]
        errors = assert_one_line_errors(err)
        assert any("try again later" in e for e in errors), errors
        engine = create_db_engine(database_url)
        try:
            store = Store(engine)
            assert_checkpoints_consistent(store, account)
            assert store.recent_runs(1)[0]["status"] == "failed"
            done_before = {s.resource for s in store.states() if s.completed_at is not None}
            # It really stopped part-way (test clocks' listings are states of their own).
            assert not {r.name for r in RESOURCES} <= done_before

            code, err = finish_sync({**env, "STRIPE_RETRY_BUDGET_SECONDS": "30"}, tmp_path)
            assert code == 0, err[-2000:]
            fake.fail_rate = 0
            assert_matches_truth(store, account, fake)
            assert store.recent_runs(1)[0]["status"] == "success"
        finally:
            engine.dispose()


@pytest.mark.parametrize("reason", RATE_LIMITED_REASONS)
def test_each_rate_limited_reason_is_retried_counted_and_waits_retry_after(reason: str) -> None:
    account = generate_account(customers=3, seed=1, now=NOW, months=2)
    kind = f"429-{reason}"
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # no wall time: a clock that jumps
        now[0] += seconds

    def api_sleep(seconds: float) -> None:
        waits.append(seconds)
        sleep(seconds)

    with FakeStripe(account, api_key=KEY, fail_rate=0.5, fault_kinds=[kind], retry_after=3, seed=4) as fake:
        raw = httpx.get(f"{fake.base_url}/v1/customers", headers={"Authorization": f"Bearer {KEY}"})
        while raw.status_code != 429:
            raw = httpx.get(f"{fake.base_url}/v1/customers", headers={"Authorization": f"Bearer {KEY}"})
        assert raw.headers["Stripe-Rate-Limited-Reason"] == reason
        assert raw.json()["error"]["type"] == "rate_limit_error"
        fake.log.clear()
        limiter = TokenBucket(1000, clock=lambda: now[0], sleep=sleep)
        api = StripeApi(KEY, fake.base_url, limiter=limiter, retry_budget_seconds=60,
                        sleep=api_sleep, clock=lambda: now[0])
        with api:
            pages = [api.fetch_list_page("/v1/customers", {"limit": 3}, resource="customers") for _ in range(12)]
        stats = api.stats()
    assert all(p.data for p in pages)
    assert fake.log.faults[kind] > 0
    assert stats.rate_limited == fake.log.faults[kind] == stats.retries == len(waits)
    assert stats.by_kind == {"rate_limit": stats.rate_limited}
    assert min(waits) >= 3  # Retry-After: 3 is honoured (the floor alone is 1 s)
    # ... and by every worker: the shared limiter was held back too.
    assert now[0] >= 3 * stats.rate_limited


# ---- the database going away --------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("NRR_TEST_POSTGRES_URL is not set: no PostgreSQL to test on")
    yield from postgres_url_for_test()


def _terminate_until(app: str, done: threading.Event, killed: list[int]) -> None:
    """Kill every backend of ``app`` every 20 ms, as a restarting PostgreSQL would."""
    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            while not done.wait(0.02):
                # The call in the select list: it runs only on the rows the WHERE kept.
                killed += conn.execute(text(
                    "SELECT pid FROM (SELECT pid, pg_terminate_backend(pid) AS gone FROM pg_stat_activity "
                    "WHERE application_name = :app AND pid <> pg_backend_pid()) AS t WHERE gone"),
                    {"app": app}).scalars().all()
    finally:
        admin.dispose()


def _daemon_resumes(settings_url: str, fake: FakeStripe, account: Account) -> None:
    engine = create_db_engine(settings_url)
    try:
        store = Store(engine)
        assert_checkpoints_consistent(store, account)
        assert store.recent_runs(1)[0]["status"] in ("failed", "running")
        # The daemon's next tick retries, and resumes to the truth.
        Daemon(settings_for(fake, settings_url), store, clock=time.time, interval_seconds=60).tick("sync")
        assert store.recent_runs(1)[0]["status"] == "success"
        assert_matches_truth(store, account, fake)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_going_away_mid_sync_fails_cleanly_and_the_next_tick_resumes(
    account: Account, postgres_url: str, tmp_path: Path
) -> None:
    app = f"nrr_fault_{uuid.uuid4().hex[:8]}"
    url = f"{postgres_url}&application_name={app}"
    with FakeStripe(account, api_key=KEY, latency=0.01) as fake:
        env = cli_env(fake, url)
        watcher = create_db_engine(postgres_url)
        try:
            proc = start_sync(env, tmp_path)
            assert wait_for_run(watcher, proc)
            time.sleep(0.5)  # mid-way: some pages stored, most not
            assert proc.poll() is None, "the sync ended before the database went away"
        finally:
            watcher.dispose()
        done, killed = threading.Event(), list[int]()
        terminator = threading.Thread(target=_terminate_until, args=(app, done, killed))
        terminator.start()
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            done.set()
            terminator.join()
        assert killed
        assert proc.returncode != 0, err.decode()[-2000:]
        errors = assert_one_line_errors(err.decode())
        assert any("database" in e for e in errors), errors
        _daemon_resumes(url, fake, account)


def test_sqlite_locked_mid_sync_fails_cleanly_and_the_next_tick_resumes(
    account: Account, tmp_path: Path
) -> None:
    path = tmp_path / "nrr.db"
    url = f"sqlite:///{path}"
    upgrade_db(create_db_engine(url))
    with FakeStripe(account, api_key=KEY, latency=0.01) as fake:
        env = cli_env(fake, url)
        # The sync waits 0.3 s for a lock instead of 30 s (a constant, not a setting).
        proc = start_sync(env, tmp_path, prelude="import syncer.db.engine as e; e.SQLITE_BUSY_TIMEOUT_MS = 300")
        watcher = create_db_engine(url)
        try:
            assert wait_for_run(watcher, proc)
        finally:
            watcher.dispose()
        time.sleep(0.5)
        assert proc.poll() is None, "the sync ended before the database was locked"
        # Another process takes the file: every write of the sync now times out.
        holder = subprocess.Popen(
            [sys.executable, "-c",
             ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10); "
              "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()"), str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
            _, err = proc.communicate(timeout=60)
        finally:
            holder.communicate(b"", timeout=10)  # end of stdin: the lock goes away
        assert proc.returncode != 0, err.decode()[-2000:]
        errors = assert_one_line_errors(err.decode())
        assert any("database" in e and "locked" in e for e in errors), errors
        _daemon_resumes(url, fake, account)

