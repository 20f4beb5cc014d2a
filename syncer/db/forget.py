"""Deleting one customer's personal data from the database (``nrr db forget-customer``).

Which rows are a customer's is declared per table (``syncer.stripe.resources.OWNERS``):
by a ``customer`` column or through the rows they link to (an invoice's lines, a
charge's refunds), so ids are collected parents first and each table is then cleared by
the ids that point into it. Events are matched by the object they describe and by any
mention of the customer's id in the event body, since an event copies the object as it
was. Derived facts are keyed by customer. Everything happens in one transaction: all of
it goes, or none.

Stripe still holds the customer: delete or anonymise them there first, or the next sync
(and the next reconciliation's full re-list) brings the rows back.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from reports.alerts import ALERT_KEY_PREFIX
from syncer.db.deliveries import deliveries_table
from syncer.db.store import Store, table
from syncer.stripe.resources import ANY_TABLE, EVENTS, OWNED_TABLES, OWNERS, Link

DERIVED_TABLES = ("mrr_spans", "churn_events", "revenue_lines", "payment_failures", "fact_horizons")
_CHUNK = 500  # ids per IN (...): well under every backend's bound-parameter limit


def _ids(conn: Connection, name: str, column: str, values: Iterable[str]) -> set[str]:
    t = table(name)
    wanted = sorted({v for v in values if v})
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        found.update(conn.execute(select(t.c.id).where(t.c[column].in_(wanted[i : i + _CHUNK]))).scalars())
    return found


def _column_values(conn: Connection, name: str, column: str, ids: Iterable[str]) -> set[str]:
    t = table(name)
    wanted = sorted(ids)
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        rows = conn.execute(select(t.c[column]).where(t.c.id.in_(wanted[i : i + _CHUNK]))).scalars()
        found.update(v for v in rows if v)
    return found


def _collect(conn: Connection, customer: str) -> dict[str, set[str]]:
    """Table -> ids of the rows that belong to ``customer``, as each table's owner says:
    its own column names the customer, or it links to a row that belongs to them."""
    owned: dict[str, set[str]] = {}
    named: dict[tuple[str, str], set[str]] = {}  # (table, key) -> the keys its owned rows hold
    for name in OWNED_TABLES:
        owner = OWNERS[name]
        assert owner is not None  # OWNED_TABLES holds the tables of some customer's rows
        ids = _ids(conn, name, owner.column, [customer]) if owner.column else set()
        for link in owner.links:
            ids |= _ids(conn, name, link.column, _linked(conn, link, owned, named))
        owned[name] = ids
    return owned


def _linked(conn: Connection, link: Link, owned: dict[str, set[str]], named: dict[tuple[str, str], set[str]]) -> set[str]:
    """The values of ``link.key`` in the customer's rows of ``link.table``: their ids, or
    another key they hold (a payment intent, which has no table). A row describing any
    object (an event) may name any of them."""
    if link.table == ANY_TABLE:
        return set().union(*owned.values(), *named.values())
    if link.key == "id":
        return owned[link.table]
    if (link.table, link.key) not in named:
        named[link.table, link.key] = _column_values(conn, link.table, link.key, owned[link.table])
    return named[link.table, link.key]


def _delete_ids(conn: Connection, name: str, ids: set[str]) -> int:
    t = table(name)
    wanted = sorted(ids)
    deleted = 0
    for i in range(0, len(wanted), _CHUNK):
        deleted += conn.execute(delete(t).where(t.c.id.in_(wanted[i : i + _CHUNK]))).rowcount or 0
    return deleted


def _mentioning(conn: Connection, customer: str) -> set[str]:
    """Ids of the events whose body names ``customer`` (an event copies the object as it was)."""
    t = table(EVENTS.name)
    # The quoted id as JSON writes it, so cus_1 does not also match cus_12.
    mentions: ColumnElement[bool] = t.c.raw.contains(f'"{customer}"', autoescape=True)
    return set(conn.execute(select(t.c.id).where(mentions)).scalars())


def forget_customer(store: Store, customer: str) -> dict[str, int]:
    """Delete every row of ``customer`` (a ``cus_…`` id, or the ``acct_…`` id of an
    Accounts v2 customer, which the ``customer`` columns hold: ``shapes.customer_of``);
    returns rows deleted per table."""
    with store.transaction() as conn:
        owned = _collect(conn, customer)
        owned[EVENTS.name] |= _mentioning(conn, customer)
        counts = {name: _delete_ids(conn, name, ids) for name, ids in owned.items()}
        for name in DERIVED_TABLES:
            t = table(name)
            counts[name] = conn.execute(delete(t).where(t.c.customer == customer)).rowcount or 0
        # The movement alerts sent about them: each row is named after the customer and
        # keeps their name. (Their facts are gone, so no alert of theirs is due again.)
        ledger = deliveries_table()
        counts["deliveries"] = conn.execute(delete(ledger).where(
            ledger.c.month.startswith(f"{ALERT_KEY_PREFIX}{customer}/", autoescape=True))).rowcount or 0
    return counts


def mentions_anywhere(store: Store, customer: str) -> dict[str, int]:
    """Rows of any object or derived table that still name ``customer`` (for checks)."""
    from syncer.db.objects import OBJECT_TABLES

    found: dict[str, int] = {}
    with store.reading() as conn:
        for name in (*OBJECT_TABLES, *DERIVED_TABLES):
            t = table(name)
            conds: list[ColumnElement[bool]] = []
            if "raw" in t.c:
                conds.append(t.c.raw.contains(f'"{customer}"', autoescape=True))
            if "customer" in t.c:
                conds.append(t.c.customer == customer)
            n = conn.execute(select(func.count()).select_from(t).where(or_(*conds))).scalar_one()
            if n:
                found[name] = n
    return found
