"""``kill -9`` of ``nrr sync`` at random moments, then resume: nothing lost, nothing twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncer.db.engine import create_db_engine
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import KEY, NOW, assert_matches_truth


def _env(fake: FakeStripe, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "STRIPE_API_KEY": KEY,
        "STRIPE_API_BASE": fake.base_url,
        "DATABASE_URL": database_url,
        "STRIPE_MAX_RPS": "15",  # slow enough that every kill lands mid-sync
        "STRIPE_MAX_CONCURRENCY": "8",
        "LOG_FORMAT": "json",
    }


def _sync(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncer.cli", "sync"], env=env, cwd=cwd,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("kills", [4])
def test_kill_9_at_random_moments_then_resume(database_url: str, tmp_path: Path, kills: int) -> None:
    account = generate_account(customers=80, seed=11, now=NOW)
    rng = random.Random(5)
    with FakeStripe(account, api_key=KEY, latency=0.01) as fake:
        fake.start()
        env = _env(fake, database_url)
        for _ in range(kills):
            proc = _sync(env, tmp_path)
            # Let it get somewhere (past start-up, into the pages), then kill it hard.
            deadline = time.monotonic() + rng.uniform(1.0, 2.0)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        final = _sync(env, tmp_path)
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err.decode()[-2000:]
        engine = create_db_engine(database_url)
        try:
            store = Store(engine)
            assert_matches_truth(store, account, fake)
            statuses = [r["status"] for r in store.recent_runs(kills + 1)]
        finally:
            engine.dispose()
    # The kills really landed mid-sync (else this test would prove nothing).
    assert statuses[0] == "success"
    assert statuses[1:].count("interrupted") >= kills // 2, statuses
