"""Schema migrations (Alembic), applied automatically at start and by ``nrr db upgrade``.

Processes starting together on a new database (two ``nrr sync``, replicas of ``nrr run``)
take turns through the database's migration lock (``syncer.db.locks``): the first
migrates, the others wait, then find the schema at the newest revision and go on.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from syncer.app.logging import get_logger
from syncer.db.engine import database_error, describe, error_reason, unavailable
from syncer.db.locks import migration_lock
from syncer.errors import MigrationFailed

MIGRATIONS = Path(__file__).with_name("migrations")

log = get_logger(__name__)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise database_error(engine, exc) from None


def upgrade_db(engine: Engine) -> bool:
    """Bring the schema to the newest revision; True when this call applied anything
    (False also when another process did while this one waited for it)."""
    head = head_revision()
    if current_revision(engine) == head:
        return False

    def waiting(lock: str) -> None:
        log.info("db.migration_waiting", reason="another process is migrating the database", lock=lock)

    with migration_lock(engine, waiting=waiting):
        current = current_revision(engine)  # again: the one we waited for may have done it
        if current == head:
            return False
        cfg = _config()
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            if unavailable(exc):
                raise database_error(engine, exc) from None
            raise MigrationFailed(
                f"cannot upgrade the database {describe(engine.url)} from revision {current or '(empty)'} to "
                f"{head}: {error_reason(exc)}; it holds tables stripe-nrr's migrations did not make: point "
                "DATABASE_URL at an empty database (or PostgreSQL schema), or restore a backup"
            ) from None
    return True
