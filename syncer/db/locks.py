"""Locks kept by the database itself, which die with the process that holds them.

Four locks, each under its own key, so none waits for another:

- ``leader``: one ``nrr run`` replica runs the scheduled jobs (``syncer.daemon.leader``);
- ``sync``: one sync at a time per database (per schema on PostgreSQL), whoever starts
  it: ``nrr sync`` by hand or from cron, a daemon's tick. Per database, not per Stripe
  account: a sync covers every account the database holds, and so would a second one;
- ``migrate``: one process at a time brings the schema to the newest revision;
- ``normalize``: one normalization at a time replaces an account's facts. It lives as
  long as the transaction that replaces them (``hold_for_transaction``): two first
  normalizations would otherwise each rebuild, unaware of the other's facts.

None of them is a row with an expiry: a lock must go away with its holder, however the
holder ends, without anyone cleaning up.

- PostgreSQL: a session-level advisory lock on a dedicated connection held open for as
  long as the lock is held. A killed process, a dropped network or a terminated backend
  ends the session, and the server drops the lock with it. The key names the database
  and the schema: installations (and tests) sharing a database in different schemas do
  not wait for each other.
- SQLite: ``flock`` on a file beside the database file. The kernel drops the lock when
  the process exits, however it exits (``kill -9`` included).
- SQLite in memory: a process-local lock; nobody outside the process sees the database.

A holder may leave a *label* that the others read while it holds the lock (the PostgreSQL
session's ``application_name``, the lock file's content), so that "busy" can say who.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from syncer.db.engine import database_error, describe, is_sqlite
from syncer.errors import AnotherSyncRunning, DatabaseUnavailable

LEADER = "leader"
SYNC = "sync"
MIGRATE = "migrate"
NORMALIZE = "normalize"
# The file beside a SQLite database. The leader's keeps the name it always had, so that
# replicas of two versions still exclude each other during a rolling upgrade.
FILE_SUFFIX = {LEADER: ".leader", SYNC: ".sync.lock", MIGRATE: ".migrate.lock"}
SYNC_POLL_SECONDS = 1.0  # how often ``nrr sync --wait`` asks again
SYNC_RECHECK_SECONDS = 30.0  # how often a sync checks that it still holds the lock
_LABEL_PREFIX = "nrr sync "
_LABEL_BYTES = 200  # more than any label we write; a reader never reads a whole file


class DatabaseLock(Protocol):
    """A process-lifetime lock on one database; see the module docstring."""

    description: str

    def try_acquire(self, label: str | None = None) -> bool:
        """Take the lock if free, leaving ``label`` for others to read; True when we hold
        it (also when we already did). Raises ``DatabaseUnavailable`` when the database
        cannot be asked."""
        ...

    def acquire(self, label: str | None = None) -> None:
        """Take the lock, waiting for as long as its holder keeps it."""
        ...

    def still_held(self) -> bool:
        """A cheap check that we still hold it; False once it was lost."""
        ...

    def release(self) -> None:
        """Give the lock up; safe to call when not held."""
        ...

    def holder(self) -> str | None:
        """The label its current holder left, when it left one and can be read."""
        ...


def lock_for(engine: Engine, name: str) -> DatabaseLock:
    """The lock ``name`` (``LEADER``, ``SYNC``, ``MIGRATE``) of the database behind
    *engine*; does not connect yet."""
    if is_sqlite(engine):
        path = sqlite_file(engine.url.database)
        if path is None:
            return ProcessLock(f"{name} lock of {describe(engine.url)}")
        return FileLock(path.with_name(path.name + FILE_SUFFIX[name]))
    return PostgresAdvisoryLock(engine, name)


# ---- who holds the sync lock ---------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """The process holding the sync lock, as its label says."""

    pid: int
    host: str
    started: int

    def label(self) -> str:
        # The host goes last: PostgreSQL cuts an application_name at 63 bytes.
        return f"{_LABEL_PREFIX}{self.pid} {self.started} {self.host}"

    @classmethod
    def parse(cls, label: str | None) -> Holder | None:
        if not label or not label.startswith(_LABEL_PREFIX):
            return None
        parts = label[len(_LABEL_PREFIX):].split(" ", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        return cls(pid=int(parts[0]), host=parts[2].strip(), started=int(parts[1]))

    def __str__(self) -> str:
        started = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"pid {self.pid} on host {self.host}, started {started}"


def _holder(lock: DatabaseLock) -> str:
    holder = Holder.parse(lock.holder())
    return str(holder) if holder else f"it holds the {lock.description}"


def _busy(lock: DatabaseLock) -> AnotherSyncRunning:
    who = _holder(lock)
    return AnotherSyncRunning(f"another sync is running ({who}); wait for it or run `nrr sync --wait`", holder=who)


def _taken(lock: DatabaseLock) -> AnotherSyncRunning:
    who = _holder(lock)
    return AnotherSyncRunning(f"another sync took the sync lock ({who}) when this one's database connection "
                              "dropped it; this sync stopped and keeps what it synced", holder=who)


@contextmanager
def sync_lock(
    engine: Engine,
    *,
    wait: bool = False,
    clock: Callable[[], float] = time.time,
    stop: threading.Event | None = None,
    waiting: Callable[[str], None] | None = None,
    poll_seconds: float = SYNC_POLL_SECONDS,
    recheck_seconds: float = SYNC_RECHECK_SECONDS,
) -> Iterator[threading.Event]:
    """Hold the database's sync lock inside the block; yields the event the sync stops on.

    Busy: raises ``AnotherSyncRunning`` naming the holder at once; with ``wait``, calls
    ``waiting(holder)`` once and asks again every ``poll_seconds`` until the lock is free,
    or until ``stop`` is set (then raises ``AnotherSyncRunning`` after all). Polling
    rather than a blocking wait, so that a SIGTERM during the wait ends it.

    Held: every ``recheck_seconds`` the lock is checked. A PostgreSQL lock goes with its
    connection (a server restart, a dropped network), a lock file with its path: the lock
    is then taken again, and if another sync took it first, the yielded event is set and
    ``AnotherSyncRunning`` raised once the block ends (the stopped sync keeps what it
    wrote and resumes next time). The event is also set when ``stop`` is.
    """
    lock = lock_for(engine, SYNC)

    def label() -> str:
        return Holder(pid=os.getpid(), host=socket.gethostname(), started=int(clock())).label()

    halt = stop or threading.Event()
    mine = label()
    if not lock.try_acquire(mine):
        busy = _busy(lock)
        if not wait:
            raise busy
        if waiting is not None:
            waiting(busy.holder)
        while not lock.try_acquire(mine := label()):
            if halt.wait(poll_seconds):
                raise _busy(lock)
    watch = _Watch(lock, mine, halt, recheck_seconds)
    try:
        yield watch.stop
    finally:
        watch.end()
        lock.release()
    if watch.lost is not None:
        raise watch.lost


class _Watch:
    """Checks a held lock in a thread of its own and takes it again if it went away;
    ``stop`` is set when ``caller_stop`` is or when another took the lock (``lost``)."""

    def __init__(self, lock: DatabaseLock, label: str, caller_stop: threading.Event, every: float) -> None:
        self.lock, self.label, self.caller_stop, self.every = lock, label, caller_stop, every
        self.stop = threading.Event()
        self.lost: AnotherSyncRunning | None = None
        self._ended = False
        self._mutex = threading.Lock()  # no check once the lock is released: it would take it again
        threading.Thread(target=self._run, name="sync-lock-watch", daemon=True).start()

    def _run(self) -> None:
        while True:
            # Waits on the caller's stop, so that the sync stops as soon as it is set.
            stopped = self.caller_stop.wait(self.every)
            with self._mutex:
                if self._ended:
                    return
                if stopped:
                    self.stop.set()
                    return
                try:
                    if self.lock.still_held() or self.lock.try_acquire(self.label):
                        continue
                except DatabaseUnavailable:
                    continue  # the sync meets the same error; the lock is asked again next time
                self.lost = _taken(self.lock)
                self.stop.set()
                return

    def end(self) -> None:
        with self._mutex:
            self._ended = True


@contextmanager
def migration_lock(engine: Engine, *, waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the database's migration lock inside the block, waiting for it if need be.

    A blocking wait: migrating takes seconds, and the one waiting has nothing else to do.
    On SQLite this is a ``flock`` rather than ``BEGIN EXCLUSIVE``: a transaction would
    give up after the busy timeout (30 s) however long the migration takes, failing the
    very race this lock exists for, and it would not cover reading the current revision,
    which the waiter must do again once the lock is its.
    """
    lock = lock_for(engine, MIGRATE)
    if not lock.try_acquire():
        if waiting is not None:
            waiting(lock.description)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


# ---- PostgreSQL ----------------------------------------------------------------------


def advisory_key(name: str, database: str, schema: str) -> int:
    """A signed 64-bit key (what ``pg_try_advisory_lock(bigint)`` takes) for the lock
    ``name`` of one schema of one database."""
    digest = hashlib.blake2b(f"stripe-nrr {name} {database}.{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def hold_for_transaction(conn: Connection, name: str) -> None:
    """Wait for the lock ``name``, then hold it until ``conn``'s transaction ends.

    PostgreSQL: a transaction-level advisory lock, which the server drops at commit,
    rollback, or the session's end. SQLite needs none: one writer at a time, and the
    caller's first statement is a write, which waits for the other writer's commit and
    only then takes its snapshot."""
    if is_sqlite(conn.engine):
        return
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name, *_where(conn))})


def _where(conn: Connection) -> tuple[str, str]:
    """The database and schema ``conn`` works in: what a lock's key names."""
    # current_schema() is NULL when no schema of the search_path exists yet.
    row = conn.exec_driver_sql(
        "SELECT current_database(), coalesce(current_schema(), current_setting('search_path'))"
    ).one()
    return str(row[0]), str(row[1])


class PostgresAdvisoryLock:
    """``pg_try_advisory_lock`` / ``pg_advisory_lock`` held by a dedicated autocommit connection."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self.name = name
        self._conn: Connection | None = None
        self._key: int | None = None
        self._labelled = False
        self.description = f"PostgreSQL advisory lock '{name}' on {describe(engine.url)}"

    def try_acquire(self, label: str | None = None) -> bool:
        if self._conn is not None and self.still_held():
            return True
        return self._take(label, blocking=False)

    def acquire(self, label: str | None = None) -> None:
        if self._conn is not None and self.still_held():
            return
        self._take(label, blocking=True)

    def _take(self, label: str | None, *, blocking: bool) -> bool:
        conn = self._connect()
        try:
            key = self._key_for(conn)
            if blocking:  # returns (void) once the lock is ours
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
                got = True
            else:
                got = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar())
            if got and label:
                conn.execute(text("SELECT set_config('application_name', :label, false)"), {"label": label})
        except SQLAlchemyError as exc:
            _discard(conn)
            raise database_error(self._engine, exc) from None
        if not got:
            # Someone else holds it; do not keep a connection open just to wait.
            conn.close()
            return False
        self._conn, self._labelled = conn, bool(label)
        return True

    def _connect(self) -> Connection:
        try:
            # Autocommit: every statement is its own transaction, so the session never
            # sits "idle in transaction" holding a snapshot while it holds the lock for
            # days. engine.connect() keeps the engine's connect args (search_path
            # included), so current_schema() is the schema the sync writes to.
            return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            raise database_error(self._engine, exc) from None

    def still_held(self) -> bool:
        conn = self._conn
        if conn is None or self._key is None:
            return False
        try:
            # A dead session raises here instead.
            row = conn.exec_driver_sql(
                f"SELECT 1 FROM pg_locks WHERE {_lock_row(self._key)} AND pid = pg_backend_pid()"
            ).first()
        except SQLAlchemyError:
            row = None
        if row is None:
            self._conn = None
            _discard(conn)
            return False
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({self._key})")
            if self._labelled:
                conn.exec_driver_sql("RESET application_name")  # the pool hands it out again
            conn.close()
        except SQLAlchemyError:
            # Closing the session for real drops the lock just as well.
            _discard(conn)

    def holder(self) -> str | None:
        try:
            with self._engine.connect() as conn:
                key = self._key_for(conn)
                name = conn.exec_driver_sql(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    f" WHERE {_lock_row(key, 'l.')}"
                ).scalar()
        except SQLAlchemyError:
            return None  # only ever used to word a message
        return str(name) if name else None

    def _key_for(self, conn: Connection) -> int:
        if self._key is None:
            database, schema = _where(conn)
            self._key = advisory_key(self.name, database, schema)
            self.description = f"PostgreSQL advisory lock '{self.name}' {self._key} ({database}.{schema})"
        return self._key


def _lock_row(key: int, alias: str = "") -> str:
    """The pg_locks condition for a granted bigint advisory lock on ``key``: it shows
    split in two oids (high, low 32 bits), objsubid 1, in the current database."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return (
        f"{alias}locktype = 'advisory' AND {alias}granted"
        f" AND {alias}database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        f" AND {alias}classid::bigint = {unsigned >> 32} AND {alias}objid::bigint = {unsigned & 0xFFFF_FFFF}"
        f" AND {alias}objsubid = 1"
    )


def _discard(conn: Connection) -> None:
    """Close *conn* without returning it to the pool (its session may hold our lock)."""
    try:
        conn.invalidate()
        conn.close()
    except SQLAlchemyError:
        pass


# ---- SQLite --------------------------------------------------------------------------


class FileLock:
    """``flock(LOCK_EX)`` on a file; the kernel drops it when the process ends.

    ``flock`` locks belong to the open file, so two ``FileLock`` objects in one process
    exclude each other too, like two processes would.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._labelled = False
        self.description = f"file lock {path}"

    def try_acquire(self, label: str | None = None) -> bool:
        if self._fd is not None and self.still_held():
            return True
        return self._take(fcntl.LOCK_EX | fcntl.LOCK_NB, label)

    def acquire(self, label: str | None = None) -> None:
        if self._fd is not None and self.still_held():
            return
        self._take(fcntl.LOCK_EX, label)

    def _take(self, operation: int, label: str | None) -> bool:
        try:
            # Owner-only, like the database itself; O_NOFOLLOW so a planted symlink
            # cannot make us create or lock some other file.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot open the lock file {self.path}: {exc.strerror}; check its folder's permissions"
            ) from None
        try:
            fcntl.flock(fd, operation)
            if label is not None:
                os.ftruncate(fd, 0)
                os.pwrite(fd, label.encode()[:_LABEL_BYTES], 0)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._labelled = fd, label is not None
        return True

    def still_held(self) -> bool:
        fd = self._fd
        if fd is None:
            return False
        # The lock is on the file we opened; if someone deleted or replaced the path, the
        # next process locks a different file, so we no longer exclude anybody.
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except OSError:
            same = False
        if not same:
            self.release()
        return same

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._labelled:
                os.ftruncate(fd, 0)  # a killed holder's label stays until the next one's
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def holder(self) -> str | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return os.read(fd, _LABEL_BYTES).decode(errors="replace").strip() or None
        finally:
            os.close(fd)


_process_locks: dict[str, threading.Lock] = {}
_process_labels: dict[str, str] = {}
_process_locks_guard = threading.Lock()


class ProcessLock:
    """For an in-memory SQLite database: nobody outside this process can see it anyway."""

    def __init__(self, name: str) -> None:
        with _process_locks_guard:
            self._lock = _process_locks.setdefault(name, threading.Lock())
        self._name = name
        self._held = False
        self.description = f"process-local {name}"

    def try_acquire(self, label: str | None = None) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
            self._label(label)
        return self._held

    def acquire(self, label: str | None = None) -> None:
        if not self._held:
            self._held = self._lock.acquire()
            self._label(label)

    def _label(self, label: str | None) -> None:
        if self._held and label is not None:
            _process_labels[self._name] = label

    def still_held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            _process_labels.pop(self._name, None)
            self._lock.release()

    def holder(self) -> str | None:
        return _process_labels.get(self._name) if self._lock.locked() else None


def sqlite_file(database: str | None) -> Path | None:
    """The file behind a SQLite URL's database part, or None when it is in memory."""
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        path, _, query = database[len("file:"):].partition("?")
        if not path or path == ":memory:" or "mode=memory" in query:
            return None
        database = path
    return Path(database).resolve()
