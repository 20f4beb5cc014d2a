"""The object tables: one per synced resource, keyed per account, portable to PostgreSQL."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from syncer.db.objects import OBJECT_TABLES
from syncer.projection import CHILD_PARENT_COLUMN
from syncer.resources import CHILD_TABLES, EVENTS, RESOURCES


def tables() -> dict[str, Table]:
    return {name: model.__table__ for name, model in OBJECT_TABLES.items()}  # type: ignore[attr-defined]


def test_a_table_for_every_resource_child_and_events() -> None:
    expected = {r.name for r in RESOURCES} | set(CHILD_TABLES) | {EVENTS.name}
    assert set(OBJECT_TABLES) == expected
    assert {c.table for r in RESOURCES for c in r.children} == set(CHILD_PARENT_COLUMN)


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
