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
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

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


def _wait_for_run(engine: Engine, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                if conn.execute(text("SELECT 1 FROM sync_runs WHERE pid = :pid"), {"pid": proc.pid}).first():
                    return
        except SQLAlchemyError:
            pass  # the schema is still being created by the first run
        time.sleep(0.05)


@pytest.mark.parametrize("kills", [4])
def test_kill_9_at_random_moments_then_resume(database_url: str, tmp_path: Path, kills: int) -> None:
    account = generate_account(customers=80, seed=11, now=NOW)
    rng = random.Random(5)
    with FakeStripe(account, api_key=KEY, latency=0.01) as fake:
        fake.start()
        env = _env(fake, database_url)
        watcher = create_db_engine(database_url)
        for _ in range(kills):
            proc = _sync(env, tmp_path)
            # Wait until its run has begun (past start-up), let it page a while, kill it hard.
            _wait_for_run(watcher, proc)
            deadline = time.monotonic() + rng.uniform(0.1, 0.8)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        watcher.dispose()
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
    assert statuses[1:].count("interrupted") >= kills - 1, statuses
