"""``kill -9`` of ``nrr sync`` at random moments, then resume: nothing lost, nothing twice.

``NRR_KILLS`` sets how many kills (default 5, each a second or so); ``make soak`` runs 20
on a size-M account with faults (tests/soak).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from syncer.db.deferred_indexes import missing_indexes
from syncer.db.engine import create_db_engine
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import (
    KEY,
    NOW,
    assert_matches_truth,
    cli_env,
    finish_sync,
    kill_at_random_moments,
)

KILLS = int(os.environ.get("NRR_KILLS", "5"))


def test_kill_9_at_random_moments_then_resume(database_url: str, tmp_path: Path) -> None:
    account = generate_account(customers=80, seed=11, now=NOW)
    with FakeStripe(account, api_key=KEY, latency=0.01) as fake:
        env = cli_env(fake, database_url)
        landed = kill_at_random_moments(database_url, env, tmp_path, kills=KILLS, rng=random.Random(5))
        code, err = finish_sync(env, tmp_path)
        assert code == 0, err[-2000:]
        engine = create_db_engine(database_url)
        try:
            store = Store(engine)
            assert_matches_truth(store, account, fake)
            with store.reading() as conn:
                # The first backfill deferred its indexes; the run that finished it built them.
                assert missing_indexes(conn) == []
            statuses = [r["status"] for r in store.recent_runs(KILLS + 1)]
        finally:
            engine.dispose()
    # The kills really landed mid-sync (else this test would prove nothing).
    assert landed >= KILLS - 1, landed
    assert statuses[0] == "success"
    assert statuses[1:].count("interrupted") >= KILLS - 1, statuses
