"""``make soak``: a size-M account (10,000 customers, 36 months) behind a fake Stripe that
fails 20% of requests in every way it knows, ``nrr sync`` killed with ``kill -9`` at 20
random moments and resumed each time; the database ends equal to the truth, row for row,
and the daemon's next tick succeeds.

Long (tens of minutes at size M), so not part of ``make test``. ``NRR_SOAK_CUSTOMERS``
shrinks the account to try it quickly; ``NRR_SOAK_KILLS`` changes the number of kills.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from syncer.daemon.run import Daemon
from syncer.db.engine import create_db_engine
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import ALL_FAULT_KINDS, FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import (
    KEY,
    NOW,
    assert_matches_truth,
    cli_env,
    finish_sync,
    kill_at_random_moments,
    settings_for,
)

CUSTOMERS = int(os.environ.get("NRR_SOAK_CUSTOMERS", "10000"))  # size M (bench.run.SIZES)
MONTHS = 36
KILLS = int(os.environ.get("NRR_SOAK_KILLS", "20"))
# A kill lands this long after the run has begun, at most: long enough for a run to get
# well into a big account, short enough that 20 kills leave work for the last run.
KILL_WINDOW_SECONDS = float(os.environ.get("NRR_SOAK_KILL_WINDOW", "6"))

pytestmark = [pytest.mark.soak, pytest.mark.timeout(4 * 3600)]


def test_kill_9_twenty_times_under_20_percent_faults_ends_equal_to_the_truth(
    database_url: str, tmp_path: Path
) -> None:
    account = generate_account(customers=CUSTOMERS, seed=2024, now=NOW, months=MONTHS)
    fake = FakeStripe(account, api_key=KEY, fail_rate=0.2, fault_kinds=ALL_FAULT_KINDS, seed=7,
                      timeout_hold=2.0, prewarm=True)
    with fake:
        env = cli_env(fake, database_url, STRIPE_MAX_RPS="100", STRIPE_MAX_CONCURRENCY="16",
                      STRIPE_TIMEOUT_SECONDS="1", STRIPE_RETRY_BUDGET_SECONDS="300")
        started = time.monotonic()
        landed = kill_at_random_moments(database_url, env, tmp_path, kills=KILLS, rng=random.Random(20),
                                        max_seconds=KILL_WINDOW_SECONDS)
        # Runs that end by themselves (retry budget) fail loudly; the next resumes.
        for _ in range(3):
            code, err = finish_sync(env, tmp_path, timeout=3 * 3600)
            if code == 0:
                break
            assert "Traceback" not in err, err[-3000:]
        assert code == 0, err[-3000:]
        print(f"soak: {CUSTOMERS} customers, {landed}/{KILLS} kills landed, "
              f"{sum(fake.log.faults.values())} faults in {len(fake.log)} requests, "
              f"{time.monotonic() - started:.0f} s")
        fake.fail_rate = 0
        engine = create_db_engine(database_url)
        try:
            store = Store(engine)
            assert_matches_truth(store, account, fake)
            statuses = [r["status"] for r in store.recent_runs(KILLS + 1)]
            Daemon(settings_for(fake, database_url), store, clock=time.time, interval_seconds=60).tick("sync")
            assert store.recent_runs(1)[0]["status"] == "success"
            assert_matches_truth(store, account, fake)
        finally:
            engine.dispose()
    assert landed >= KILLS // 2, landed  # most kills hit a running sync, else this proves little
    # A kill may also land after a run recorded its success (normalizing, at small sizes).
    assert statuses.count("interrupted") >= landed // 2, statuses
