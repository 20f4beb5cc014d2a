"""The database's sync and migration locks: one holder at a time, named when busy, gone
with a killed holder; the migration lock lets processes starting together take turns."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from syncer.db import locks
from syncer.db.engine import create_db_engine
from syncer.db.locks import (
    MIGRATE,
    SYNC,
    DatabaseLock,
    FileLock,
    Holder,
    PostgresAdvisoryLock,
    lock_for,
    migration_lock,
    sync_lock,
)
from syncer.db.migrate import current_revision, head_revision
from syncer.errors import AnotherSyncRunning, RetryLater
from tests.e2e.harness import advisory_lock_holders, sync_lock_held_elsewhere

NOW = 1795000000  # 2026-11-18 11:06:40 UTC


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database, as two processes would have."""
    first, second = create_db_engine(database_url), create_db_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


def test_a_second_sync_is_refused_naming_the_first(engines: tuple[Engine, Engine]) -> None:
    a, b = engines
    with sync_lock(a, clock=lambda: NOW), pytest.raises(AnotherSyncRunning) as refused, sync_lock(b):
        pytest.fail("two syncs held the lock")
    error = refused.value
    assert isinstance(error, RetryLater) and error.exit_code == 75
    assert str(error) == (
        f"another sync is running (pid {os.getpid()} on host {socket.gethostname()}, started 2026-11-18 11:06 UTC); "
        "wait for it or run `nrr sync --wait`"
    )
    with sync_lock(b):  # released when the first block ended
        pass


def test_the_sync_and_migration_locks_do_not_wait_for_each_other(engines: tuple[Engine, Engine]) -> None:
    a, b = engines
    with sync_lock(a), migration_lock(b):
        leader = lock_for(b, "leader")
        assert leader.try_acquire()
        leader.release()


def test_wait_waits_for_the_holder_and_says_so_once(engines: tuple[Engine, Engine]) -> None:
    a, b = engines
    said: list[str] = []
    holding, waited = threading.Event(), threading.Event()

    def hold() -> None:
        with sync_lock(a, clock=lambda: NOW):
            holding.set()
            waited.wait(30)  # holds on until the other has said that it waits

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)

    def waiting(who: str) -> None:
        said.append(who)
        waited.set()

    with sync_lock(b, wait=True, waiting=waiting, poll_seconds=0.05):
        assert waited.is_set()
    holder.join(30)
    assert said == [f"pid {os.getpid()} on host {socket.gethostname()}, started 2026-11-18 11:06 UTC"]


def test_a_stop_ends_the_wait(engines: tuple[Engine, Engine]) -> None:
    a, b = engines
    stop = threading.Event()
    with sync_lock(a), pytest.raises(AnotherSyncRunning), \
            sync_lock(b, wait=True, stop=stop, waiting=lambda _: stop.set(), poll_seconds=0.05):
        pytest.fail("the waiter got a held lock")


def test_the_sync_lock_dies_with_a_killed_holder(database_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(database_url)
    try:
        with sync_lock_held_elsewhere(database_url, tmp_path) as holder:
            with pytest.raises(AnotherSyncRunning, match=f"pid {holder.pid} on host "), sync_lock(engine):
                pass
            holder.send_signal(signal.SIGKILL)  # no release, no clean-up
            holder.wait(30)
            with sync_lock(engine):
                pass
    finally:
        engine.dispose()


def _drop_behind_its_back(engine: Engine) -> None:
    """What a server restart or a dropped network does to a PostgreSQL lock (its session
    ends), and a deleted lock file to a SQLite one (the next holder locks a new file)."""
    held = lock_for(engine, SYNC)
    if isinstance(held, FileLock):
        held.path.unlink()
        return
    assert isinstance(held, PostgresAdvisoryLock)
    pids = advisory_lock_holders(engine, SYNC)
    assert len(pids) == 1
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({pids[0]})")
        for _ in range(600):  # gone, and its locks with it
            if conn.exec_driver_sql(f"SELECT 1 FROM pg_stat_activity WHERE pid = {pids[0]}").first() is None:
                return
            time.sleep(0.01)
    pytest.fail("the terminated session never ended")


def _taken_by_another(engine: Engine) -> FileLock | PostgresAdvisoryLock:
    other = lock_for(engine, SYNC)
    assert other.try_acquire(Holder(pid=4242, host="elsewhere", started=NOW).label())
    assert isinstance(other, FileLock | PostgresAdvisoryLock)
    return other


def test_a_sync_whose_lock_another_took_stops_and_says_so(
    engines: tuple[Engine, Engine], monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = engines
    # The sync's checks wait until the other has taken the lock, however slow the machine.
    taken, lock_for_real = threading.Event(), locks.lock_for

    def checked_once_taken(engine: Engine, name: str) -> DatabaseLock:
        lock = lock_for_real(engine, name)
        check = lock.still_held

        def still_held() -> bool:
            assert taken.wait(30)
            return check()

        lock.still_held = still_held  # type: ignore[method-assign]
        return lock

    monkeypatch.setattr(locks, "lock_for", checked_once_taken)
    with pytest.raises(AnotherSyncRunning) as stopped, sync_lock(a, recheck_seconds=0.05) as halt:
        _drop_behind_its_back(b)
        other = _taken_by_another(b)
        taken.set()
        assert halt.wait(30), "the sync went on without its lock"
    other.release()
    assert str(stopped.value) == (
        "another sync took the sync lock (pid 4242 on host elsewhere, started 2026-11-18 11:06 UTC) when this one's "
        "database connection dropped it; this sync stopped and keeps what it synced")


def test_a_sync_whose_lock_went_away_takes_it_again(engines: tuple[Engine, Engine]) -> None:
    a, b = engines
    with sync_lock(a, clock=lambda: NOW, recheck_seconds=0.05) as halt:
        _drop_behind_its_back(b)
        for _ in range(600):  # asked without taking it, which could beat the sync to it
            if lock_for(b, SYNC).holder() is not None:
                break
            time.sleep(0.05)
        assert Holder.parse(lock_for(b, SYNC).holder()) == Holder(os.getpid(), socket.gethostname(), NOW)
        assert not halt.is_set()
        with pytest.raises(AnotherSyncRunning), sync_lock(b):
            pytest.fail("the lock was not taken again")
    with sync_lock(b):  # and released with the block
        pass


def test_a_stop_reaches_the_sync_through_the_lock(engines: tuple[Engine, Engine]) -> None:
    a, _ = engines
    stop = threading.Event()
    with sync_lock(a, stop=stop) as halt:
        stop.set()
        assert halt.wait(30)


def test_sqlite_lock_files_sit_beside_the_database_and_the_label_goes_with_the_holder(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nrr.db'}")
    sync, migrate = lock_for(engine, SYNC), lock_for(engine, MIGRATE)
    assert isinstance(sync, FileLock) and sync.path == tmp_path / "nrr.db.sync.lock"
    assert isinstance(migrate, FileLock) and migrate.path == tmp_path / "nrr.db.migrate.lock"
    label = Holder(pid=12, host="box", started=NOW).label()
    assert sync.try_acquire(label)
    assert lock_for(engine, SYNC).holder() == label
    sync.release()
    assert lock_for(engine, SYNC).holder() is None
    engine.dispose()


def test_an_in_memory_database_gets_a_process_local_sync_lock() -> None:
    engine = create_db_engine("sqlite://")
    with sync_lock(engine, clock=lambda: NOW), pytest.raises(AnotherSyncRunning, match=f"pid {os.getpid()} "), \
            sync_lock(engine):
        pass
    with sync_lock(engine):
        pass
    engine.dispose()


def test_a_label_that_is_not_ours_is_no_holder() -> None:
    assert Holder.parse(None) is None
    assert Holder.parse("psql") is None
    assert Holder.parse("nrr sync x 1 host") is None
    # PostgreSQL cuts a long application_name: the host goes last, so only it is cut.
    cut = Holder(pid=7, host="h" * 80, started=NOW).label()[:63]
    assert Holder.parse(cut) == Holder(pid=7, host="h" * (63 - len(f"nrr sync 7 {NOW} ")), started=NOW)


# ---- migrations ---------------------------------------------------------------------

_MIGRATE = """
import sys
from syncer.db.engine import create_db_engine
from syncer.db.migrate import upgrade_db
engine = create_db_engine(sys.argv[1])
sys.stdin.readline()  # everything imported: start together
print("applied" if upgrade_db(engine) else "already", flush=True)
"""


def test_processes_migrating_a_new_database_together_take_turns(database_url: str, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", _MIGRATE, database_url], cwd=tmp_path, env=os.environ,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    answers = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, answers, strict=True):
        assert proc.returncode == 0, err[-2000:]
    # One migrated; the others waited for it and found the schema at head.
    assert sorted(out.strip().splitlines()[-1] for out, _ in answers) == ["already", "already", "applied"]
    engine = create_db_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_migration_waiter_says_so_and_goes_on_once_the_holder_is_done(engines: tuple[Engine, Engine]) -> None:
    a, b = engines
    said: list[str] = []
    entered = threading.Event()
    with migration_lock(a):
        def run() -> None:
            with migration_lock(b, waiting=said.append):
                entered.set()

        waiter = threading.Thread(target=run)
        waiter.start()
        while not said and waiter.is_alive():
            waiter.join(0.05)
        assert not entered.is_set()  # still waiting while we hold it
    waiter.join(30)
    assert entered.is_set()
    assert len(said) == 1 and "lock" in said[0]
