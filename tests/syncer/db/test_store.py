"""The storage layer on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlmodel import SQLModel

from syncer.db.deferred_indexes import deferrable_indexes, missing_indexes
from syncer.db.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_CACHE_KIB,
    SQLITE_CHECKPOINT_PAGES,
    create_db_engine,
    page_cache_of,
)
from syncer.db.migrate import current_revision, head_revision, upgrade_db
from syncer.db.objects import OBJECT_TABLES
from syncer.db.store import Store, table
from syncer.sync.projection import RowContext, project

CUSTOMER = {"id": "cus_1", "object": "customer", "created": 1700000000, "name": "Ada", "email": "a@x.io"}


def ctx(at: int) -> RowContext:
    return RowContext(account="acct_1", livemode=False, api_version="2026-10-28.endive", synced_at=at)


def test_migrations_match_the_models(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    assert upgrade_db(store.engine) is False  # idempotent
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_upsert_keeps_the_newest_version(store: Store) -> None:
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", CUSTOMER, ctx(200)))
    older = {**CUSTOMER, "name": "Old name"}
    newer = {**CUSTOMER, "name": "New name"}
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", older, ctx(100)))
    t = table("customers")
    with store.reading() as conn:
        assert conn.execute(select(t.c.name)).scalar_one() == "Ada"
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", newer, ctx(300)))
    with store.reading() as conn:
        row = conn.execute(select(t.c.name, t.c.raw, t.c.synced_at)).one()
    assert row.name == "New name" and row.synced_at == 300
    assert json.loads(row.raw) == newer


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.upsert_rows(conn, project("customers", CUSTOMER, ctx(1)))
        raise RuntimeError("crash between rows and checkpoint")
    with store.reading() as conn:
        assert store.count_live_and_deleted(conn, "customers") == (0, 0)


def test_mark_deleted_keeps_the_row(store: Store) -> None:
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", CUSTOMER, ctx(10)))
        assert store.mark_deleted(conn, "customers", "cus_1", account="acct_1", livemode=False, at=20) == 1
    t = table("customers")
    with store.reading() as conn:
        row = conn.execute(select(t.c.name, t.c.deleted_at)).one()
    assert row.name == "Ada" and row.deleted_at == 20


def test_missing_children_are_marked_deleted(store: Store) -> None:
    sub = {
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active", "created": 5,
        "items": {"object": "list", "has_more": False, "data": [
            {"id": "si_a", "object": "subscription_item", "subscription": "sub_1", "quantity": 1, "created": 5},
            {"id": "si_b", "object": "subscription_item", "subscription": "sub_1", "quantity": 2, "created": 5},
        ]},
    }
    with store.transaction() as conn:
        store.upsert_rows(conn, project("subscriptions", sub, ctx(10)))
        store.mark_missing_children_deleted(
            conn, "subscription_items", "subscription", {"sub_1": ["si_a"]}, account="acct_1", livemode=False, at=11
        )
    t = table("subscription_items")
    with store.reading() as conn:
        rows = dict(conn.execute(select(t.c.id, t.c.deleted_at)).all())
    assert rows == {"si_a": None, "si_b": 11}


def test_sqlite_connections_get_a_page_cache_and_checkpoint_sized_for_a_backfill(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nrr.db'}")
    try:
        with engine.connect() as conn:
            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("cache_size") == -SQLITE_CACHE_KIB
            assert pragma("wal_autocheckpoint") == SQLITE_CHECKPOINT_PAGES
            assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


def test_a_whole_database_read_borrows_a_small_page_cache_and_gives_it_back(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nrr.db'}", pool_size=1)
    try:
        with engine.connect() as conn:
            def cache() -> object:
                return conn.exec_driver_sql("PRAGMA cache_size").scalar()

            with page_cache_of(conn, 2048):
                assert cache() == -2048
            assert cache() == -SQLITE_CACHE_KIB  # the pool hands this connection to the next sync
            with pytest.raises(RuntimeError), page_cache_of(conn, 1024):
                raise RuntimeError("a failed normalization")
            assert cache() == -SQLITE_CACHE_KIB
    finally:
        engine.dispose()


def _schema_diff(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))


def test_a_first_backfill_drops_the_secondary_indexes_and_they_are_built_back(store: Store) -> None:
    deferrable = {str(ix.name) for ix in deferrable_indexes()}
    # The writer reads a parent's children on every page: those indexes always stay.
    assert not deferrable & {"ix_invoice_lines_invoice", "ix_subscription_items_subscription",
                             "ix_credit_note_lines_credit_note"}
    assert {"ix_charges_customer", "ix_invoices_subscription", "ix_charges_fx"} <= deferrable
    every = {str(ix.name) for t in OBJECT_TABLES.values() for ix in t.__table__.indexes}  # type: ignore[attr-defined]
    assert len(every - deferrable) == 3

    assert set(store.defer_indexes()) == deferrable
    with store.reading() as conn:
        assert {str(ix.name) for ix in missing_indexes(conn)} == deferrable
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", CUSTOMER, ctx(1)))
    # Once anything is stored there is no first backfill to speed up.
    assert store.defer_indexes() == []

    assert set(store.build_deferred_indexes()) == deferrable
    assert _schema_diff(store) == []
    assert store.build_deferred_indexes() == []


def test_a_database_with_objects_keeps_its_indexes(store: Store) -> None:
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", CUSTOMER, ctx(1)))
    assert store.defer_indexes() == []
    assert _schema_diff(store) == []
