"""One sync at a time per database, through the real ``nrr sync`` processes.

Two syncs started together (on a new database: they also migrate together) do the work
once: the second exits 75 with one line naming the first, or with ``--wait`` waits and
then only catches up. A killed sync leaves no lock behind.

The fake Stripe answers slowly (``latency``) while a test needs a sync to be running, and
fast once it no longer does; no assertion is about how long anything took.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from syncer.db.engine import create_db_engine
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import (
    KEY,
    NOW,
    assert_matches_truth,
    assert_one_line_errors,
    cli_env,
    finish_sync,
    start_sync,
    wait_for_run,
)

SLOW = 1.0  # seconds per answer while a sync must still be running when the next one starts


@pytest.fixture
def account() -> Account:
    return generate_account(customers=12, seed=21, now=NOW)


@pytest.fixture
def slow(account: Account) -> Iterator[FakeStripe]:
    with FakeStripe(account, api_key=KEY, latency=SLOW) as fake:
        yield fake


@contextmanager
def opened(database_url: str) -> Iterator[Store]:
    engine = create_db_engine(database_url)
    try:
        yield Store(engine)
    finally:
        engine.dispose()


def _first_to_end(procs: list[subprocess.Popen[bytes]], timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, proc in enumerate(procs):
            if proc.poll() is not None:
                return i
        time.sleep(0.05)
    raise AssertionError("neither sync ended")


def _refusal(holder_pid: int) -> re.Pattern[str]:
    return re.compile(
        rf"nrr: error: another sync is running \(pid {holder_pid} on host {re.escape(socket.gethostname())}, "
        r"started \d{4}-\d\d-\d\d \d\d:\d\d UTC\); wait for it or run `nrr sync --wait`"
    )


def test_two_syncs_started_together_on_a_new_database_do_the_work_once(
    database_url: str, slow: FakeStripe, account: Account, tmp_path: Path
) -> None:
    env = cli_env(slow, database_url, STRIPE_MAX_RPS="1000")
    procs = [start_sync(env, tmp_path), start_sync(env, tmp_path)]
    try:
        loser = procs[_first_to_end(procs)]
        slow.latency = 0  # the refused one is out: let the other finish
        winner = procs[1 - procs.index(loser)]
        _, lost = loser.communicate(timeout=60)
        _, won = winner.communicate(timeout=120)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert winner.returncode == 0, won.decode()[-2000:]
    assert loser.returncode == 75, lost.decode()[-2000:]
    errors = assert_one_line_errors(lost.decode())
    assert len(errors) == 1 and _refusal(winner.pid).fullmatch(errors[0]), errors
    assert "already exists" not in lost.decode()  # the migration was not raced either
    with opened(database_url) as store:
        assert [(r["status"], r["pid"]) for r in store.recent_runs(5)] == [("success", winner.pid)]
        assert_matches_truth(store, account, slow)


def test_sync_wait_waits_for_the_running_one_then_only_catches_up(
    database_url: str, slow: FakeStripe, tmp_path: Path
) -> None:
    env = cli_env(slow, database_url, STRIPE_MAX_RPS="1000")
    first = start_sync(env, tmp_path)
    waiter: subprocess.Popen[bytes] | None = None
    try:
        with opened(database_url) as store:
            assert wait_for_run(store.engine, first), "the first sync ended before it began"
        waiter = start_sync(env, tmp_path, args=["--wait"])
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(line.decode() for line in waiter.stderr or ()))
        reader.start()
        deadline = time.monotonic() + 60
        while not any('"sync.waiting"' in line for line in said):
            assert waiter.poll() is None and time.monotonic() < deadline, "".join(said)[-2000:]
            time.sleep(0.05)
        slow.latency = 0
        _, err = first.communicate(timeout=120)
        assert waiter.wait(timeout=120) == 0, "".join(said)[-2000:]
        reader.join(30)
    finally:
        for proc in (first, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert first.returncode == 0, err.decode()[-2000:]
    waiting = [line for line in said if '"sync.waiting"' in line]
    assert len(waiting) == 1 and f'"pid {first.pid} on host ' in waiting[0]
    with opened(database_url) as store:
        before, after = sorted(store.recent_runs(5), key=lambda r: r["id"])
    assert (before["pid"], before["status"], after["pid"], after["status"]) == (
        first.pid, "success", waiter.pid, "success")
    assert after["started_at"] >= before["finished_at"]  # it ran after the first, not beside it
    # Incremental: the events since the first, not the account again.
    assert after["requests"] < before["requests"] / 2, (after["requests"], before["requests"])
    assert sum(after["counts"].values()) == 0


def test_a_killed_sync_leaves_no_lock_behind(database_url: str, slow: FakeStripe, tmp_path: Path) -> None:
    env = cli_env(slow, database_url, STRIPE_MAX_RPS="1000")
    killed = start_sync(env, tmp_path)
    try:
        with opened(database_url) as store:
            assert wait_for_run(store.engine, killed), "the sync ended before it began"
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)
    finally:
        if killed.poll() is None:
            killed.kill()
    slow.latency = 0
    code, err = finish_sync(env, tmp_path)  # without --wait: it would exit 75 on a leftover lock
    assert code == 0, err[-2000:]
    with opened(database_url) as store:
        statuses = [(r["pid"], r["status"]) for r in store.recent_runs(5)]
    assert statuses[-1] == (killed.pid, "interrupted") and statuses[0][1] == "success"
