"""Alembic environment: runs on the connection handed over by syncer.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import syncer.db.deliveries
import syncer.db.derived
import syncer.db.meta
import syncer.db.objects  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


# Tables created by libraries, not by our migrations: APScheduler's job store.
FOREIGN_TABLES = frozenset({"nrr_scheduler_jobs"})


def _ours(name: str | None, type_: str, _parent: object) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise SystemExit("run migrations with `nrr db upgrade`, not the alembic command")
    _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `nrr db upgrade`")
run_migrations_online()
