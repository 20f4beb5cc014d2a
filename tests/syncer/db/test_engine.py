"""Database failures say what they are: a database that cannot be used is not a statement
that failed on it, and neither blames the network for the other."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from syncer.db.engine import create_db_engine, database_error
from syncer.db.migrate import current_revision, head_revision, upgrade_db
from syncer.errors import DatabaseUnavailable, GiveUp, MigrationFailed


def _error_of(engine_url: str, sql: str) -> DatabaseUnavailable:
    engine = create_db_engine(engine_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    except SQLAlchemyError as exc:
        return database_error(engine, exc)
    finally:
        engine.dispose()
    raise AssertionError(f"{sql} did not fail")


def test_a_statement_that_fails_is_a_database_error_not_an_unreachable_database(database_url: str) -> None:
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE accounts (id INTEGER)"))
    engine.dispose()
    message = str(_error_of(database_url, "CREATE TABLE accounts (id INTEGER)"))
    assert message.startswith("database error on ")
    assert "already exists" in message and "reachable" not in message


def test_an_unreachable_postgresql_asks_whether_it_runs() -> None:
    message = str(_error_of("postgresql+psycopg://nrr:s3cretpw@127.0.0.1:9/nrr", "SELECT 1"))
    assert message.startswith("cannot use the database postgresql+psycopg://nrr:***@127.0.0.1:9/nrr: ")
    assert message.endswith("; is it running and reachable?")


def test_a_locked_sqlite_file_says_another_process_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "nrr.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=50)
        try:
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE t (id INTEGER)"))
        except OperationalError as exc:
            message = str(database_error(engine, exc))
        else:
            raise AssertionError("the write went through a held lock")
        finally:
            engine.dispose()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert message.startswith(f"cannot use the database sqlite:///{path}: database is locked; ")
    assert "another process" in message and "reachable" not in message


def test_tables_the_migrations_did_not_make_stop_the_upgrade_with_what_to_do(database_url: str) -> None:
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE accounts (id INTEGER)"))
    with pytest.raises(MigrationFailed) as failed:
        upgrade_db(engine)
    error = failed.value
    assert isinstance(error, GiveUp) and error.exit_code == 2  # retrying cannot help
    message = str(error)
    assert "\n" not in message
    assert f"to {head_revision()}: " in message and "accounts" in message and "already exists" in message
    assert "reachable" not in message
    assert current_revision(engine) is None  # nothing half-applied
    engine.dispose()
