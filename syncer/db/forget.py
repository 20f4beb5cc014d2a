"""Deleting one customer's personal data from the database (``nrr db forget-customer``).

Stripe objects reach a customer either by a ``customer`` column or through a parent that
has one (an invoice's lines, a charge's refunds), so ids are collected parent first and
each table is then cleared by the ids that point into it. Events are matched by the
object they describe and by any mention of the customer's or their objects' ids in the
event body, since an event copies the object as it was. Derived facts are keyed by
customer. Everything happens in one transaction: all of it goes, or none.

Stripe still holds the customer: delete or anonymise them there first, or the next sync
(and the next reconciliation's full re-list) brings the rows back.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from syncer.db.store import Store, table

# Object tables keyed to the customer by their own ``customer`` column.
_BY_CUSTOMER = ("customers", "subscriptions", "invoices", "invoice_items", "charges",
                "credit_notes", "discounts", "promotion_codes")
DERIVED_TABLES = ("mrr_spans", "churn_events", "revenue_lines", "payment_failures")
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
    """Table -> ids of the rows that belong to ``customer``."""
    own = {name: _ids(conn, name, "id" if name == "customers" else "customer", [customer])
           for name in _BY_CUSTOMER}
    subs, invoices = own["subscriptions"], own["invoices"]
    payments = _ids(conn, "invoice_payments", "invoice", invoices)
    charges = (own["charges"] | _ids(conn, "charges", "invoice", invoices)
               | _column_values(conn, "invoice_payments", "charge", payments))
    intents = (_column_values(conn, "charges", "payment_intent", charges)
               | _column_values(conn, "invoice_payments", "payment_intent", payments))
    credit_notes = own["credit_notes"] | _ids(conn, "credit_notes", "invoice", invoices)
    return {
        **own,
        "charges": charges,
        "credit_notes": credit_notes,
        "subscription_items": _ids(conn, "subscription_items", "subscription", subs),
        "invoice_lines": _ids(conn, "invoice_lines", "invoice", invoices),
        "invoice_items": own["invoice_items"] | _ids(conn, "invoice_items", "invoice", invoices),
        "invoice_payments": payments,
        "refunds": _ids(conn, "refunds", "charge", charges) | _ids(conn, "refunds", "payment_intent", intents),
        "credit_note_lines": _ids(conn, "credit_note_lines", "credit_note", credit_notes),
        "disputes": _ids(conn, "disputes", "charge", charges) | _ids(conn, "disputes", "payment_intent", intents),
        "discounts": (own["discounts"] | _ids(conn, "discounts", "subscription", subs)
                      | _ids(conn, "discounts", "invoice", invoices)),
        # Payment intents have no table, but their events name them.
        "_payment_intents": intents,
    }


def _delete_ids(conn: Connection, name: str, ids: set[str]) -> int:
    t = table(name)
    wanted = sorted(ids)
    deleted = 0
    for i in range(0, len(wanted), _CHUNK):
        deleted += conn.execute(delete(t).where(t.c.id.in_(wanted[i : i + _CHUNK]))).rowcount or 0
    return deleted


def _delete_events(conn: Connection, customer: str, object_ids: set[str]) -> int:
    t = table("events")
    # The quoted id as JSON writes it, so cus_1 does not also match cus_12.
    mentions: ColumnElement[bool] = t.c.raw.contains(f'"{customer}"', autoescape=True)
    doomed = set(conn.execute(select(t.c.id).where(mentions)).scalars())
    doomed |= _ids(conn, "events", "object_id", object_ids)
    return _delete_ids(conn, "events", doomed)


def forget_customer(store: Store, customer: str) -> dict[str, int]:
    """Delete every row of ``customer`` (a ``cus_…`` id, or the ``acct_…`` id of an
    Accounts v2 customer, which the ``customer`` columns hold: ``shapes.customer_of``);
    returns rows deleted per table."""
    with store.transaction() as conn:
        owned = _collect(conn, customer)
        intents = owned.pop("_payment_intents")
        counts = {name: _delete_ids(conn, name, ids) for name, ids in owned.items()}
        everything = set().union(*owned.values(), intents)
        counts["events"] = _delete_events(conn, customer, everything)
        for name in DERIVED_TABLES:
            t = table(name)
            counts[name] = conn.execute(delete(t).where(t.c.customer == customer)).rowcount or 0
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
