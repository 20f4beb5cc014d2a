"""The object tables: one per synced resource, keyed per account, portable to PostgreSQL."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import BigInteger, Boolean, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from syncer.db.engine import create_db_engine
from syncer.db.migrate import _config, upgrade_db
from syncer.db.objects import OBJECT_TABLES
from syncer.db.store import table as object_table
from syncer.stripe.resources import ANY_TABLE, CHILD_TABLES, EVENTS, OWNERS, RESOURCES
from syncer.sync.projection import CHILD_PARENT_COLUMN, RowContext, project


def tables() -> dict[str, Table]:
    return {name: model.__table__ for name, model in OBJECT_TABLES.items()}  # type: ignore[attr-defined]


def test_a_table_for_every_resource_child_and_events() -> None:
    expected = {r.name for r in RESOURCES} | set(CHILD_TABLES) | {EVENTS.name}
    assert set(OBJECT_TABLES) == expected
    assert {c.table for r in RESOURCES for c in r.children} == set(CHILD_PARENT_COLUMN)


def test_owner_declarations_name_columns_the_tables_have() -> None:
    for name, owner in OWNERS.items():
        if owner is None:
            continue
        columns = tables()[name].c
        assert owner.column is None or owner.column in columns, name
        for link in owner.links:
            assert link.column in columns, (name, link)
            assert link.table == ANY_TABLE or link.key in tables()[link.table].c, (name, link)


def test_every_table_is_keyed_by_account_livemode_and_id() -> None:
    for name, table in tables().items():
        assert [c.name for c in table.primary_key.columns] == ["account", "livemode", "id"], name
        assert isinstance(table.c.livemode.type, Boolean)
        assert isinstance(table.c.raw.type, Text)
        assert not table.c.raw.nullable and not table.c.synced_at.nullable
        assert table.c.deleted_at.nullable and table.c.created.nullable


def test_money_and_times_are_64_bit() -> None:
    wide = {
        "created",
        "synced_at",
        "deleted_at",
        "amount",
        "amount_due",
        "amount_paid",
        "amount_off",
        "unit_amount",
        "total",
        "tax",
        "period_start",
        "current_period_end",
        "ended_at",
        "finalized_at",
        "start",
        "end",
    }
    for name, table in tables().items():
        for column in table.columns:
            if column.name in wide:
                assert isinstance(column.type, BigInteger), f"{name}.{column.name}"


def test_children_carry_their_parent_and_position() -> None:
    for name, parent in CHILD_PARENT_COLUMN.items():
        table = tables()[name]
        assert not table.c[parent].nullable and not table.c.position.nullable
        assert table.c[parent].index, name


def test_join_columns_are_indexed() -> None:
    joins = {
        "subscriptions": ["customer"],
        "subscription_items": ["subscription", "price"],
        "invoices": ["customer", "subscription"],
        "invoice_lines": ["invoice", "subscription", "price"],
        "invoice_items": ["customer", "invoice", "subscription", "price"],
        "invoice_payments": ["invoice", "payment_intent"],
        "charges": ["customer", "payment_intent"],
        "refunds": ["charge"],
        "credit_notes": ["invoice", "customer"],
        "discounts": ["customer", "subscription", "invoice", "coupon"],
    }
    for name, columns in joins.items():
        indexed = {c.name for index in tables()[name].indexes for c in index.columns}
        assert set(columns) <= indexed, name


def test_ddl_compiles_for_sqlite_and_postgresql() -> None:
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        for table in tables().values():
            assert "PRIMARY KEY (account, livemode, id)" in str(
                CreateTable(table).compile(dialect=dialect)
            )
            for index in table.indexes:
                str(CreateIndex(index).compile(dialect=dialect))
    index_names = [i.name for t in tables().values() for i in t.indexes]
    assert len(index_names) == len(set(index_names))  # PostgreSQL index names are per schema


def test_rows_stored_before_accounts_v2_get_their_customer_account_as_customer(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_db(engine)
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
        billed = {"id": "sub_v2", "object": "subscription", "customer": None, "customer_account": "acct_1Billed",
                  "items": {"object": "list", "data": [], "has_more": False}}
        row = project("subscriptions", billed, RowContext("acct_1", False, "v", 1))["subscriptions"][0]
        row["customer"] = None  # as the projection stored it before
        plain = dict(row, id="sub_plain", customer="cus_1", raw=json.dumps({"id": "sub_plain", "customer": "cus_1"}))
        with engine.begin() as conn:  # as the code of revision 0008 wrote them (no change number)
            conn.execute(object_table("subscriptions").insert(), [row, plain])
        upgrade_db(engine)
        t = object_table("subscriptions")
        with engine.connect() as conn:
            assert dict(conn.execute(select(t.c.id, t.c.customer)).all()) == {"sub_v2": "acct_1Billed", "sub_plain": "cus_1"}
    finally:
        engine.dispose()
