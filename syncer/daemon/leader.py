"""Leader election: only one ``nrr run`` process runs the scheduled jobs.

Every replica asks for the same lock; the one that gets it leads, the others keep asking
and take over once the leader dies. The lock must die *with* the leader, without anyone
cleaning up, so it is never a row with an expiry:

- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a dedicated connection held
  open for as long as we lead. A killed process, a dropped network or a terminated
  backend ends the session, and the server drops the lock with it.
- SQLite: ``flock`` on ``<database>.leader`` next to the database file. The kernel
  drops the lock when the process exits, however it exits (``kill -9`` included).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from syncer.app.logging import get_logger
from syncer.db.engine import database_error, describe, is_sqlite

log = get_logger(__name__)

_KEY_PREFIX = "stripe-nrr leader "


class LeaderLock(Protocol):
    """A non-blocking, process-lifetime lock; whoever holds it runs the scheduled jobs."""

    description: str

    def try_acquire(self) -> bool:
        """Take the lock if free; True when we hold it (also when we already did)."""
        ...

    def still_held(self) -> bool:
        """A cheap check that we still hold it; False once it was lost."""
        ...

    def release(self) -> None:
        """Give the lock up; safe to call when not held."""
        ...


def leader_lock_for(engine: Engine) -> LeaderLock:
    """The leader lock of the database behind *engine*; does not connect yet."""
    if is_sqlite(engine):
        path = _sqlite_file(engine.url.database)
        if path is None:
            return ProcessLock(describe(engine.url))
        return FileLock(path.with_name(path.name + ".leader"))
    return PostgresAdvisoryLock(engine)


def advisory_key(database: str, schema: str) -> int:
    """A signed 64-bit key (what ``pg_try_advisory_lock(bigint)`` takes) for one schema.

    The schema is part of the key: several installations (and every test) may share one
    database in different schemas, and must not wait for each other's leader.
    """
    digest = hashlib.blake2b(f"{_KEY_PREFIX}{database}.{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresAdvisoryLock:
    """``pg_try_advisory_lock`` held by a dedicated autocommit connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._key: int | None = None
        self.description = f"PostgreSQL advisory lock on {describe(engine.url)}"

    def try_acquire(self) -> bool:
        if self._conn is not None and self.still_held():
            return True
        try:
            # Autocommit: every statement is its own transaction, so the session never
            # sits "idle in transaction" holding a snapshot while we lead for days.
            # engine.connect() keeps the engine's connect args (search_path included), so
            # current_schema() below is the schema the sync writes to.
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            log.warning("leader.connect_failed", error=str(database_error(self._engine, exc)))
            return False
        try:
            key = self._key_for(conn)
            got = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar())
        except SQLAlchemyError as exc:
            log.warning("leader.acquire_failed", error=str(database_error(self._engine, exc)))
            _discard(conn)
            return False
        if not got:
            # Someone else leads; do not keep a connection open just to wait.
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        conn = self._conn
        if conn is None or self._key is None:
            return False
        unsigned = self._key & 0xFFFF_FFFF_FFFF_FFFF
        try:
            # A bigint advisory key shows in pg_locks split in two oids (high, low 32 bits),
            # objsubid 1. A dead session raises here instead.
            row = conn.exec_driver_sql(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                f" AND classid::bigint = {unsigned >> 32} AND objid::bigint = {unsigned & 0xFFFF_FFFF}"
                " AND objsubid = 1 AND granted"
            ).first()
        except SQLAlchemyError:
            self._conn = None
            _discard(conn)
            return False
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
            conn.close()
        except SQLAlchemyError:
            # Closing the session for real drops the lock just as well.
            _discard(conn)

    def _key_for(self, conn: Connection) -> int:
        if self._key is None:
            row = conn.exec_driver_sql("SELECT current_database(), current_schema()").one()
            database, schema = str(row[0]), str(row[1])
            self._key = advisory_key(database, schema)
            self.description = f"PostgreSQL advisory lock {self._key} ({database}.{schema})"
        return self._key


def _discard(conn: Connection) -> None:
    """Close *conn* without returning it to the pool (its session may hold our lock)."""
    try:
        conn.invalidate()
        conn.close()
    except SQLAlchemyError:
        pass


class FileLock:
    """``flock(LOCK_EX | LOCK_NB)`` on a file; the kernel drops it when the process ends.

    ``flock`` locks belong to the open file, so two ``FileLock`` objects in one process
    exclude each other too, like two processes would.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.description = f"file lock {path}"

    def try_acquire(self) -> bool:
        if self._fd is not None and self.still_held():
            return True
        # Owner-only, like the database itself; O_NOFOLLOW so a planted symlink cannot
        # make us create or lock some other file.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def still_held(self) -> bool:
        fd = self._fd
        if fd is None:
            return False
        # The lock is on the file we opened; if someone deleted or replaced the path, the
        # next replica locks a different file, so we no longer exclude anybody.
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
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


class ProcessLock:
    """For an in-memory SQLite database: nobody outside this process can see it anyway."""

    def __init__(self, name: str) -> None:
        with _process_locks_guard:
            self._lock = _process_locks.setdefault(name, threading.Lock())
        self._held = False
        self.description = f"process-local lock for {name}"

    def try_acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def still_held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


def _sqlite_file(database: str | None) -> Path | None:
    """The file behind a SQLite URL's database part, or None when it is in memory."""
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        path, _, query = database[len("file:"):].partition("?")
        if not path or path == ":memory:" or "mode=memory" in query:
            return None
        database = path
    return Path(database).resolve()
