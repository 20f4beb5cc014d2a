"""The daemon's tick beside other processes: a sync already running elsewhere is skipped,
not failed; a database it cannot reach means not leading, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine
from structlog.testing import capture_logs

from syncer.daemon.leader import leader_lock_for
from syncer.daemon.run import Daemon
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.daemon_thread import run_in_thread, stop, wait_for
from tests.e2e.harness import NOW, settings_for, sync_lock_held_elsewhere

CHECK = "/ping/3f1c-check"


@pytest.fixture
def account() -> Account:
    return generate_account(customers=3, seed=4, now=NOW)


def test_a_tick_skips_while_another_process_syncs_and_is_no_failure(
    fake: FakeStripe, store: Store, database_url: str, tmp_path: Path, ping_server: tuple[str, list[str]],
) -> None:
    base, pings = ping_server
    settings = settings_for(fake, database_url, healthcheck_url=base + CHECK)
    daemon = Daemon(settings, store, clock=lambda: NOW, interval_seconds=60)

    with sync_lock_held_elsewhere(database_url, tmp_path) as holder, capture_logs() as logs:
        daemon.tick("sync")
    skipped = [e for e in logs if e["event"] == "sync.skipped"]
    assert len(skipped) == 1 and skipped[0]["log_level"] == "info"
    assert skipped[0]["holder"].startswith(f"pid {holder.pid} on host ")
    assert not [e for e in logs if e["log_level"] == "error"]
    # Nothing started: no run recorded (so none failed), no Stripe request, no ping at all.
    assert store.recent_runs(5) == []
    assert len(fake.log) == 0
    assert pings == []
    assert daemon.health()[0] == 200

    # The other process is done: the next tick syncs, and says so to the dead-man's switch.
    daemon.tick("sync")
    assert [r["status"] for r in store.recent_runs(5)] == ["success"]
    assert pings == [CHECK]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_replica_that_cannot_reach_the_database_does_not_lead_and_asks_again(
    fake: FakeStripe, store: Store, database_url: str,
) -> None:
    unreachable = create_engine("postgresql+psycopg://nobody:pw@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    daemon = Daemon(settings_for(fake, database_url), store, lock=leader_lock_for(unreachable),
                    leader_poll_seconds=0.05)
    with capture_logs() as logs:
        thread = run_in_thread(daemon)
        wait_for(lambda: sum(e["event"] == "leader.acquire_failed" for e in logs) >= 2, timeout=30,
                 what="two failed attempts to lead")
        stop(daemon, thread)
    failed = next(e for e in logs if e["event"] == "leader.acquire_failed")
    assert "is it running and reachable?" in failed["error"] and ":pw@" not in failed["error"]
    assert daemon.ticks == 0
    unreachable.dispose()


def test_each_tick_rederives_what_changed_and_the_reconciliation_rebuilds_every_fact(
    fake: FakeStripe, store: Store, database_url: str,
) -> None:
    clock = [NOW]
    daemon = Daemon(settings_for(fake, database_url), store, clock=lambda: clock[0], interval_seconds=60)
    kinds = []
    for kind in ("sync", "sync", "reconcile"):
        clock[0] += 600
        with capture_logs() as logs:
            daemon.tick(kind)
        (done,) = [e for e in logs if e["event"] == "normalize.finished"]
        kinds.append((done["kind"], done["customers_updated"]))
    customers = len(fake.account.objects("customers"))
    assert kinds == [("full", customers), ("none", 0), ("full", customers)]
