"""Opening the database: SQLite (WAL, owner-only file) or PostgreSQL (psycopg 3).

The only place that turns a ``DATABASE_URL`` into an engine, and that maps "cannot
connect" into a one-line ``DatabaseUnavailable`` / ``ConfigError``, worded apart from a
statement that failed on a database that answered (``unavailable``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlmodel import create_engine

from syncer.errors import ConfigError, DatabaseUnavailable

SQLITE_CACHE_KIB = 32 * 1024  # per connection; a sync uses two or three
SQLITE_CHECKPOINT_PAGES = 10_000  # of 4 KiB: the WAL is copied back at about 40 MB
SQLITE_BUSY_TIMEOUT_MS = 30_000


def parse_url(database_url: str) -> URL:
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL is not a database URL; use sqlite:///path.db "
            "or postgresql+psycopg://user@host/db"
        ) from None
    if url.get_backend_name() == "postgresql" and url.drivername != "postgresql+psycopg":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL uses '{url.get_backend_name()}'; stripe-nrr supports sqlite and postgresql"
        )
    return url


def describe(url: URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)


def _prepare_sqlite_file(url: URL) -> None:
    # The database holds a company's revenue data: create it readable by its owner only.
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path)
    if not file.parent.exists():
        raise ConfigError(f"DATABASE_URL points into {file.parent}, which does not exist")
    if not file.exists():
        fd = os.open(file, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def _on_sqlite_connect(
    dbapi_conn: Any, _record: Any, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, cache_kib: int = SQLITE_CACHE_KIB
) -> None:
    # WAL lets readers (nrr status, reports) run while a sync writes; NORMAL is durable
    # across process crashes in WAL mode, which is the failure we care about.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # With SQLite's 2 MB page cache every insert of a backfill re-reads index pages from
    # the OS and every 4 MB of WAL is copied back into the database, rewriting the same
    # hot pages each time; 32 MB of cache and a checkpoint every 40 MB of WAL spare most
    # of that (a fifth of the backfill's system time in `make bench`).
    cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cur.close()


def create_db_engine(
    database_url: str, *, pool_size: int = 8, busy_timeout_ms: int | None = None,
    sqlite_cache_kib: int = SQLITE_CACHE_KIB,
) -> Engine:
    """An engine for ``database_url``; does not connect yet. ``busy_timeout_ms`` is how
    long SQLite waits for another process's lock, ``SQLITE_BUSY_TIMEOUT_MS`` unless given
    (fault tests shorten it, by this or by patching the constant; not a user setting).
    ``sqlite_cache_kib``: each connection's page cache (a reader that reads each page
    once, like a normalization worker, gains nothing from a large one)."""
    url = parse_url(database_url)
    if url.get_backend_name() == "sqlite":
        if busy_timeout_ms is None:
            busy_timeout_ms = SQLITE_BUSY_TIMEOUT_MS
        _prepare_sqlite_file(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )
        event.listen(engine, "connect", partial(_on_sqlite_connect, busy_timeout_ms=busy_timeout_ms,
                                                cache_kib=sqlite_cache_kib))
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"connect_timeout": 10},
    )


@contextmanager
def page_cache_of(conn: Connection, kib: int) -> Iterator[None]:
    """SQLite: ``conn``'s page cache at most ``kib`` inside, as before after (the pool
    keeps the connection). A cache is only memory held once it fills: a whole-database
    read through the 32 MB cache that suits a sync holds 32 MB for nothing."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{int(kib)}")
    try:
        yield
    finally:
        # On a failed connection the error that failed it matters, not this one.
        with contextlib.suppress(SQLAlchemyError):
            conn.exec_driver_sql(f"PRAGMA cache_size={int(before or 0)}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def check_connection(engine: Engine) -> None:
    """Connect once; a database that is down becomes a one-line ``DatabaseUnavailable``."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        raise database_error(engine, exc) from None


# SQLite primary result codes (the low byte of an extended code) that mean the file
# cannot be used at all, as opposed to a statement that is wrong for this schema.
_SQLITE_BUSY = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_SQLITE_FILE = frozenset({3, 8, 10, 11, 13, 14, 26})  # PERM READONLY IOERR CORRUPT FULL CANTOPEN NOTADB
# PostgreSQL SQLSTATEs of a server that is gone, refusing or out of resources: the
# classes connection exception, insufficient resources and system error, and the server
# shutting down or starting (57P; the rest of class 57 is a cancelled statement).
_PG_UNAVAILABLE = ("08", "53", "58", "57P")


def unavailable(exc: SQLAlchemyError) -> bool:
    """Whether *exc* says the database could not be used at all (down, unreachable, locked,
    unreadable), rather than that a statement failed on it (a table that already exists,
    a missing column): only the first is worth "is it running?" and a later retry."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _SQLITE_BUSY | _SQLITE_FILE
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        return state.startswith(_PG_UNAVAILABLE)
    return True  # no code at all: the driver failed to connect or lost the connection


def error_reason(exc: SQLAlchemyError) -> str:
    """The driver's own first line, without SQLAlchemy's statement and parameters."""
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__


def database_error(engine: Engine, exc: SQLAlchemyError) -> DatabaseUnavailable:
    where = describe(engine.url)
    reason = error_reason(exc)
    if not unavailable(exc):
        return DatabaseUnavailable(f"database error on {where}: {reason}")
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_BUSY:
        return DatabaseUnavailable(
            f"cannot use the database {where}: {reason}; another process kept it locked too long, "
            "try again when it is done"
        )
    if isinstance(code, int):
        return DatabaseUnavailable(
            f"cannot use the database {where}: {reason}; check the file, its folder's permissions and the free disk space"
        )
    return DatabaseUnavailable(f"cannot use the database {where}: {reason}; is it running and reachable?")
