"""Leader election: one holder per database (and schema), handed over when the holder dies."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from syncer.daemon.leader import LeaderLock, leader_lock_for
from syncer.db.engine import create_db_engine
from syncer.db.locks import (
    LEADER,
    MIGRATE,
    SYNC,
    FileLock,
    PostgresAdvisoryLock,
    ProcessLock,
    advisory_key,
)
from syncer.errors import DatabaseUnavailable
from tests.conftest import POSTGRES_URL, postgres_url_for_test
from tests.e2e.harness import advisory_lock_holders

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on the same database, as two replicas of the daemon would have."""
    first, second = create_db_engine(database_url), create_db_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


@pytest.fixture
def locks(engines: tuple[Engine, Engine]) -> Iterator[tuple[LeaderLock, LeaderLock]]:
    a, b = leader_lock_for(engines[0]), leader_lock_for(engines[1])
    yield a, b
    a.release()
    b.release()


def test_only_one_of_two_replicas_leads_and_release_hands_over(locks: tuple[LeaderLock, LeaderLock]) -> None:
    a, b = locks
    assert a.try_acquire()
    assert not b.try_acquire()
    assert a.still_held() and not b.still_held()

    a.release()
    assert not a.still_held()
    assert b.try_acquire()
    assert b.still_held()
    assert not a.try_acquire()


def test_acquire_is_idempotent_and_release_is_safe_twice(locks: tuple[LeaderLock, LeaderLock]) -> None:
    a, b = locks
    b.release()  # never held: a no-op
    assert a.try_acquire()
    assert a.try_acquire()  # already ours: still one lock, not a second (stacked) one
    a.release()
    a.release()
    # One release freed it completely: a stacked PostgreSQL lock would still block b here.
    assert b.try_acquire()


def test_lock_kind_matches_the_backend(engines: tuple[Engine, Engine], database_url: str, tmp_path: Path) -> None:
    lock = leader_lock_for(engines[0])
    if database_url.startswith("sqlite"):
        assert isinstance(lock, FileLock)
        assert lock.path == tmp_path / "nrr.db.leader"
        assert lock.description == f"file lock {tmp_path / 'nrr.db.leader'}"
    else:
        assert isinstance(lock, PostgresAdvisoryLock)
        assert lock.try_acquire()
        assert lock.description.startswith("PostgreSQL advisory lock ")
        assert "nrr_test_" in lock.description  # the schema is part of what is locked
        lock.release()


# ---- SQLite ------------------------------------------------------------------------


def test_sqlite_lock_file_is_owner_only(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nrr.db'}")
    lock = leader_lock_for(engine)
    assert lock.try_acquire()
    mode = stat.S_IMODE((tmp_path / "nrr.db.leader").stat().st_mode)
    assert mode & 0o077 == 0
    lock.release()
    engine.dispose()


def test_sqlite_lock_is_lost_when_the_file_is_replaced(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nrr.db'}")
    a, b = leader_lock_for(engine), leader_lock_for(engine)
    assert a.try_acquire()
    (tmp_path / "nrr.db.leader").unlink()
    # b now locks a new file: a must notice it no longer excludes anyone.
    assert b.try_acquire()
    assert not a.still_held()
    b.release()
    engine.dispose()


def test_sqlite_lock_dies_with_a_killed_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nrr.db'}"
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            textwrap.dedent(f"""
                import sys, time
                from syncer.daemon.leader import leader_lock_for
                from syncer.db.engine import create_db_engine
                lock = leader_lock_for(create_db_engine({url!r}))
                print("held" if lock.try_acquire() else "refused", flush=True)
                time.sleep(600)
            """),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        engine = create_db_engine(url)
        lock = leader_lock_for(engine)
        assert not lock.try_acquire()

        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        assert lock.try_acquire()
        assert lock.still_held()
        lock.release()
        engine.dispose()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_in_memory_sqlite_gets_a_process_local_lock() -> None:
    engine = create_db_engine("sqlite://")
    a, b = leader_lock_for(engine), leader_lock_for(engine)
    assert isinstance(a, ProcessLock)
    assert a.try_acquire() and a.try_acquire()
    assert not b.try_acquire()
    a.release()
    assert b.try_acquire()
    b.release()
    engine.dispose()


# ---- PostgreSQL --------------------------------------------------------------------

needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="NRR_TEST_POSTGRES_URL is not set: no PostgreSQL to test on"),
]


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=needs_postgres)], indirect=True)
def test_postgres_terminated_session_loses_the_lock_and_another_replica_takes_over(
    database_url: str, locks: tuple[LeaderLock, LeaderLock],
) -> None:
    a, b = locks
    assert a.try_acquire()
    assert not b.try_acquire()

    observer = create_db_engine(database_url)
    pids = advisory_lock_holders(observer, LEADER)
    assert len(pids) == 1
    with observer.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]}).scalar()

    assert not a.still_held()
    assert b.try_acquire()
    assert advisory_lock_holders(observer, LEADER) != pids
    # The old leader asks again like any replica, and waits its turn.
    assert not a.try_acquire()
    observer.dispose()


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=needs_postgres)], indirect=True)
def test_postgres_lock_leaves_no_transaction_open(database_url: str, locks: tuple[LeaderLock, LeaderLock]) -> None:
    a, _ = locks
    assert a.try_acquire() and a.still_held()
    observer = create_db_engine(database_url)
    pid = advisory_lock_holders(observer, LEADER)[0]
    with observer.connect() as conn:
        state = conn.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar()
    assert state == "idle"
    observer.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="NRR_TEST_POSTGRES_URL is not set: no PostgreSQL to test on")
def test_postgres_schemas_of_one_database_do_not_block_each_other() -> None:
    first_url, second_url = postgres_url_for_test(), postgres_url_for_test()
    engines = [create_db_engine(next(first_url)), create_db_engine(next(second_url))]
    try:
        a, b = (leader_lock_for(e) for e in engines)
        assert a.try_acquire()
        assert b.try_acquire()
        assert a.description != b.description
        a.release()
        b.release()
    finally:
        for e in engines:
            e.dispose()
        for gen in (first_url, second_url):
            next(gen, None)  # drops the schema


def test_postgres_unreachable_database_is_a_one_line_retry_later() -> None:
    # A port nothing listens on: the daemon logs it and asks again (tests/syncer/daemon/test_tick.py).
    engine = create_engine("postgresql+psycopg://nobody:pw@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    lock = leader_lock_for(engine)
    with pytest.raises(DatabaseUnavailable, match="is it running and reachable") as raised:
        lock.try_acquire()
    assert "pw@" not in str(raised.value)
    assert not lock.still_held()
    lock.release()
    engine.dispose()


def test_advisory_key_is_a_signed_64_bit_int_per_schema() -> None:
    keys = {advisory_key(LEADER, "db", s) for s in ("public", "nrr_a", "nrr_b")}
    assert len(keys) == 3
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert advisory_key(LEADER, "db", "public") == advisory_key(LEADER, "db", "public")


def test_the_leader_key_and_file_keep_their_names_across_versions(tmp_path: Path) -> None:
    # Replicas of the previous and the next version must exclude each other during a
    # rolling upgrade: same key, same file. The other locks of a schema have keys of their own.
    before = hashlib.blake2b(b"stripe-nrr leader db.public", digest_size=8).digest()
    assert advisory_key(LEADER, "db", "public") == int.from_bytes(before, "big", signed=True)
    assert len({advisory_key(name, "db", "public") for name in (LEADER, SYNC, MIGRATE)}) == 3
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nrr.db'}")
    lock = leader_lock_for(engine)
    assert isinstance(lock, FileLock) and lock.path == tmp_path / "nrr.db.leader"
    engine.dispose()
