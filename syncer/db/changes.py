"""Which customers' objects changed since a change number: what an incremental
normalization re-derives.

Every transaction that alters object rows stamps them with its change number
(``Store.change_number``; the ``changed`` column). A changed row belongs to a customer
by its table's owner declaration (``syncer.stripe.resources.OWNERS``), as the raw loader
batches it: its customer column, else its parent's customer (an invoice line's invoice,
a refund's charge, a customer-less charge's invoice through its payment). Of the
account-wide tables, what the normalizer reads (``RawAccount``) is followed to the
customers using it: a price to the subscription items, invoice lines and invoice items
naming it, a product to its prices, a coupon to the discounts of it. Of events, the
normalizer reads the subscription events: they belong to their subscription's customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.engine import Connection

from syncer.db.meta import ChangeCounter
from syncer.db.raw_loader import SUBSCRIPTION_EVENTS, of_account
from syncer.db.store import table
from syncer.normalize.model import RawAccount
from syncer.stripe.resources import ANY_TABLE, EVENTS, OWNERS

_CHUNK = 500  # values per IN (...)
_READ = {f.name for f in fields(RawAccount)}
# Account-wide tables the normalizer reads, and the (table, column) rows that name them.
_USERS: dict[str, tuple[tuple[str, str], ...]] = {
    "prices": (("subscription_items", "price"), ("invoice_lines", "price"), ("invoice_items", "price")),
    "coupons": (("discounts", "coupon"),),
}
# A product reaches the facts only through its prices.
_THROUGH = {"products": ("prices", "product")}


@dataclass
class Changed:
    """Customers whose objects changed; ``unowned``: objects of no customer changed."""

    customers: set[str] = field(default_factory=set)
    unowned: bool = False

    def add(self, other: Changed) -> None:
        self.customers |= other.customers
        self.unowned |= other.unowned


def last_change(conn: Connection) -> int:
    """The number of the last change committed (0 before any)."""
    cc = ChangeCounter.__table__  # type: ignore[attr-defined]
    return int(conn.execute(select(cc.c.last).where(cc.c.id == 1)).scalar() or 0)


def changed_since(conn: Connection, account: str, livemode: bool, since: int) -> Changed:
    """The customers of the account's object rows changed after change ``since``."""
    out = Changed()
    for name, owner in OWNERS.items():
        t = table(name)
        recent = of_account(t, account, livemode, by_customer=True) & (t.c.changed > since)
        if owner is None:
            if name in _USERS:
                out.add(_users(conn, name, account, livemode, _ids(conn, name, account, livemode, recent)))
            elif name in _THROUGH and name in _READ:
                via, column = _THROUGH[name]
                ids = _ids(conn, name, account, livemode, recent)
                out.add(_users(conn, via, account, livemode,
                               _column_in(conn, via, "id", column, ids, account, livemode)))
        elif name == EVENTS.name:
            subs = _column(conn, name, "object_id", account, livemode, recent & t.c.type.like(SUBSCRIPTION_EVENTS))
            out.add(owners(conn, "subscriptions", "id", subs, account, livemode))
        else:
            out.add(_owners_where(conn, name, account, livemode, recent))
    return out


def owners(conn: Connection, name: str, key: str, values: Iterable[str], account: str, livemode: bool, *,
           column_only: bool = False) -> Changed:
    """The customers of the rows of ``name`` whose ``key`` is one of ``values``, as the raw
    loader batches them; a value no row holds counts as of no customer. ``column_only``:
    by their customer column alone (the loader finds a child's customer in its parent's
    column: a refund of a charge that names no customer is of no customer)."""
    out = Changed()
    wanted = sorted(set(values))
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        # By id, through the primary key (account, livemode, id); else by the key's index.
        where = of_account(table(name), account, livemode, by_customer=key != "id") & table(name).c[key].in_(chunk)
        found = _owners_where(conn, name, account, livemode, where, key=key, column_only=column_only)
        out.add(found)
        if found.keys != set(chunk):
            out.unowned = True
    return out


def links_changed(conn: Connection, names: Iterable[str], account: str, livemode: bool, since: int) -> bool:
    """Whether a row changed after change ``since`` in a table through which rows of
    ``names`` find their customer (their own, their parent's, and its parent's): only such
    a row can give a customer to a row of ``names`` that had none."""
    names = list(names)
    for name in dict.fromkeys([*names, *_parent_tables(names)]):
        t = table(name)
        recent = of_account(t, account, livemode, by_customer=True) & (t.c.changed > since)
        if conn.execute(select(t.c.changed).where(recent).limit(1)).first() is not None:
            return True
    return False


def _parent_tables(names: Iterable[str]) -> list[str]:
    found: list[str] = []
    todo = list(names)
    while todo:
        owner = OWNERS[todo.pop()]
        parent = owner.parent.table if owner is not None and owner.parent is not None else None
        if parent is not None and parent != ANY_TABLE and parent not in found:
            found.append(parent)
            todo.append(parent)
    return found


@dataclass
class _Found(Changed):
    keys: set[str] = field(default_factory=set)


def _owners_where(
    conn: Connection, name: str, account: str, livemode: bool, where: ColumnElement[bool], *, key: str = "id",
    column_only: bool = False,
) -> _Found:
    owner = OWNERS[name]
    if owner is None:
        raise KeyError(f"{name!r} belongs to no customer")
    t = table(name)
    columns = [t.c[key], t.c[owner.column] if owner.column else None,
               t.c[owner.parent.column] if owner.parent and owner.parent.table != ANY_TABLE and not column_only
               else None]
    out = _Found()
    up: set[str] = set()
    query = select(*(c for c in columns if c is not None)).where(where)
    for row in conn.execute(query):
        values = iter(row)
        out.keys.add(next(values))
        customer = next(values) if columns[1] is not None else None
        parent = next(values) if columns[2] is not None else None
        if customer:
            out.customers.add(customer)
        elif parent:
            up.add(parent)
        else:
            out.unowned = True
    if up:
        assert owner.parent is not None
        out.add(owners(conn, owner.parent.table, owner.parent.key, up, account, livemode,
                       column_only=owner.column is None))
    return out


def _users(conn: Connection, name: str, account: str, livemode: bool, ids: Sequence[str]) -> Changed:
    """The customers of the rows that name one of ``ids`` of account-wide ``name``."""
    out = Changed()
    for user, column in _USERS[name]:
        out.add(owners(conn, user, "id", _column_in(conn, user, "id", column, ids, account, livemode),
                       account, livemode))
    return out


def _ids(conn: Connection, name: str, account: str, livemode: bool, where: ColumnElement[bool]) -> list[str]:
    return _column(conn, name, "id", account, livemode, where)


def _column(conn: Connection, name: str, column: str, account: str, livemode: bool,
            where: ColumnElement[bool]) -> list[str]:
    t = table(name)
    rows = conn.execute(select(t.c[column]).where(of_account(t, account, livemode, by_customer=True), where))
    return [str(v) for (v,) in rows if v]


def _column_in(conn: Connection, name: str, column: str, key: str, values: Sequence[Any],
               account: str, livemode: bool) -> list[str]:
    """``column`` of the rows of ``name`` whose ``key`` is one of ``values``."""
    out: list[str] = []
    wanted = sorted(set(values))
    for i in range(0, len(wanted), _CHUNK):
        out += _column(conn, name, column, account, livemode, table(name).c[key].in_(wanted[i : i + _CHUNK]))
    return out
