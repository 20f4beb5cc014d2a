"""Reading an account's raw Stripe objects back for normalization: whole, or a batch of
customers at a time.

Embedded lists that Stripe truncated are made whole again from their child tables, so
the normalizer sees every invoice line, subscription item and credit note line.

Batches (``customer_ranges``, then ``fetch_batch`` for each) keep memory flat on large accounts: every object goes to
the batch of the customer it belongs to, as its table's owner declares
(``syncer.stripe.resources.OWNERS``): its own ``customer`` column, which holds
``shapes.customer_of`` (an Accounts v2 customer's ``customer_account``); else its parent's
(an invoice payment's invoice, a refund's charge, an event's subscription). Objects of
no known customer come last in a batch of their own. Normalizing batch by batch gives
the facts of the whole account because every link the rules follow (invoice → its
subscription, payments and charges; refund → charge; discounts) stays within one
customer in Stripe's data. Prices, products, coupons and discounts are few: every batch
shares them (``load_shared``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    Table,
    and_,
    exists,
    func,
    null,
    select,
    union,
)
from sqlalchemy.engine import Connection

from syncer.app.gc_tuning import collector_paused
from syncer.db.store import Store, table
from syncer.normalize.model import RawAccount
from syncer.stripe.resources import ACCOUNT_WIDE, EVENTS, OWNERS, RESOURCES, Link, Owner

CHILDREN = {
    # parent table: (field on the parent, child table, parent column)
    r.name: (c.field, c.table, c.parent_column) for r in RESOURCES for c in r.children
}
PLAIN = tuple(r.name for r in RESOURCES if not r.children)
SHARED = tuple(r.name for r in RESOURCES if r.owner is ACCOUNT_WIDE)
# A batch holds, of each customer, what the normalizer reads.
BATCHED = tuple(r.name for r in RESOURCES
                if r.owner is not ACCOUNT_WIDE and r.name in {f.name for f in fields(RawAccount)})
SUBSCRIPTION_EVENTS = "customer.subscription.%"
# Objects whose state the rules date, lacking other evidence, when the sync saw it change
# (``_changed_at``, from the ``changed_at`` column; syncer.normalize.history).
SEEN = frozenset({"subscriptions", "customers"})
# Tables whose rows can belong to a customer through another row (their parent).
THROUGH_ANOTHER_ROW = frozenset(name for name in BATCHED if (owner := OWNERS[name]) is not None and owner.parent)
# About 1 MB of parsed objects per customer (3 years of monthly invoices): a batch
# of 25 stays near 25 MB in each of the two processes that normalize; larger batches
# cost memory and bring no speed.
BATCH_CUSTOMERS = 25
# Values per ``IN (...)``: well under every database's limit on bound parameters.
_IN_CHUNK = 500


def load_raw(store: Store, account: str, livemode: bool) -> dict[str, Any]:
    """Every stored object of the account: ``{table: [object, …]}``, deleted ones
    flagged ``"deleted": true`` when Stripe's tombstone did not already say so; plus
    ``discounts`` by id and the subscription events."""
    out: dict[str, Any] = {}
    with store.reading() as conn, collector_paused():
        for name in PLAIN:
            out[name] = _objects(conn, _owned(name, account, livemode))
        for name, (field, child, parent_column) in CHILDREN.items():
            parents = _objects(conn, _owned(name, account, livemode))
            _attach(parents, field, _children(conn, _child_query(name, child, parent_column, account, livemode)))
            out[name] = parents
        out["discounts"] = _discounts(conn, account, livemode)
        out["events"] = _events(conn, _event_query(account, livemode))
    return out


def load_shared(conn: Connection, account: str, livemode: bool,
                customers: Sequence[str] | None = None) -> dict[str, Any]:
    """The account-wide lookups every batch needs: products, prices, coupons, discounts.
    With ``customers``, only their discounts and those of no customer: the only ones
    batches of those customers use (a discount applies to its own customer's objects),
    and on a large account an incremental run's few customers would otherwise read and
    parse every discount of the account."""
    out: dict[str, Any] = {name: _objects(conn, _owned(name, account, livemode)) for name in SHARED}
    out["discounts"] = _discounts(conn, account, livemode, customers)
    return out


@dataclass(frozen=True)
class CustomerRange:
    """Customers ``lo < id <= hi`` (an open end when None); ``none``: objects of no customer;
    ``ids``: exactly these customers (an incremental normalization's)."""

    lo: str | None = None
    hi: str | None = None
    none: bool = False
    ids: tuple[str, ...] | None = None

    def holds(self, column: Any) -> ColumnElement[bool]:
        if self.none:
            return column.is_(None)
        if self.ids is not None:
            return column.in_(self.ids)
        # Always two-sided: SQLite's planner, which has no statistics, takes a two-sided
        # range for a selective one and reads it through the customer index (one-sided,
        # it scanned a whole table per query). Below, ``>= ''``
        # also keeps objects of no customer out of the first range (they have their own);
        # above, the open end is the column's largest value, one lookup in that index.
        low = column > self.lo if self.lo is not None else column >= ""
        return and_(low, column <= (self.hi if self.hi is not None else _largest(column)))


def _largest(column: Any) -> Any:
    """``max(column)`` of the column's table, as a subquery of its own (not correlated
    with the query it bounds, which reads the same table)."""
    other = column.table.alias()
    return select(func.max(other.c[column.key])).scalar_subquery()


def customer_ranges(conn: Connection, account: str, livemode: bool, size: int | None = None) -> list[CustomerRange]:
    """Ranges of ``size`` (default ``BATCH_CUSTOMERS``) listed customers covering every
    customer id (listed or only referenced), then the range of objects with no customer."""
    ids = conn.execute(_customer_ids(account, livemode)).scalars()
    return [*ranges_covering(ids, size or BATCH_CUSTOMERS), CustomerRange(none=True)]


def ranges_covering(ids: Iterable[Any], size: int) -> list[CustomerRange]:
    """Ranges of ``size`` of ``ids`` (in the database's order), open at both ends so that
    together they cover every id, listed or not. Only the bounds are kept: ``ids`` may
    be streamed."""
    bounds = [str(i) for n, i in enumerate(ids, 1) if n % size == 0]
    return [CustomerRange(lo, hi) for lo, hi in zip([None, *bounds], [*bounds, None], strict=True)]


def _customer_ids(account: str, livemode: bool) -> CompoundSelect:
    """Every customer id in the database's own order (the one ``holds`` compares in): the
    listed customers and those only referenced by subscriptions and invoices, so batches
    stay small when customers were not synced (``nrr sync --resource invoices``).

    The referenced ids are read from the customer indexes alone, of every account: checking
    each row's account would read the tables themselves. Ids of other accounts
    only split some ranges further; the ranges still cover every id between them."""
    cus = table("customers")
    listed = select(cus.c.id.label("id")).where(cus.c.account == account, cus.c.livemode == livemode)
    referenced = [select(t.c.customer).where(t.c.customer >= "") for t in (table("subscriptions"), table("invoices"))]
    return union(listed, *referenced).order_by("id")


def fetch_batch(conn: Connection, account: str, livemode: bool, rng: CustomerRange) -> dict[str, Any]:
    with collector_paused():
        return _fetch_batch(conn, account, livemode, rng)


def _fetch_batch(conn: Connection, account: str, livemode: bool, rng: CustomerRange) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in BATCHED:
        owner = _owner(name)
        query = _in_range(name, owner, account, livemode, rng)
        objects = [] if query is None else _objects(conn, query)
        if name in CHILDREN:
            field, child, parent_column = CHILDREN[name]
            kids = _child_query(name, child, parent_column, account, livemode, by_customer=True)
            _attach(objects, field, _children(conn, kids.where(rng.holds(_customer_column(name)))))
        out[name] = objects
    out["events"] = _events(conn, _event_query(account, livemode, rng).where(rng.holds(_customer_column("subscriptions"))))
    return out


# ---- whose rows: the owner declarations --------------------------------------------------------


def _owner(name: str) -> Owner:
    owner = OWNERS[name]
    if owner is None:
        raise KeyError(f"{name!r} belongs to no customer")
    return owner


def _parent(owner: Owner) -> Link:
    if owner.parent is None:
        raise KeyError(f"{owner!r} has no parent")
    return owner.parent


def _customer_column(name: str) -> Any:
    """The column of ``name`` that holds its rows' customer."""
    column = _owner(name).column
    if column is None:
        raise KeyError(f"{name!r} has no customer column")
    return table(name).c[column]


def _in_range(name: str, owner: Owner, account: str, livemode: bool, rng: CustomerRange) -> Select[Any] | None:
    """The rows of ``name`` that belong to the range's customers (None: none can)."""
    if owner.column is None:
        return _via_parent(name, _parent(owner), account, livemode, rng)
    column = _customer_column(name)
    if owner.column == "id":  # the customers themselves, read through the primary key
        return None if rng.none else _owned(name, account, livemode).where(rng.holds(column))
    q = _owned(name, account, livemode, by_customer=True)
    if owner.parent is None:
        return q.where(rng.holds(column))
    return _by_column_or_parent(q, name, owner, account, livemode, rng)


# ---- queries --------------------------------------------------------------------------------


def _owned(name: str, account: str, livemode: bool, *, by_customer: bool = False) -> Select[Any]:
    t = table(name)
    seen = t.c.changed_at if name in SEEN else null()
    return select(t.c.raw, t.c.deleted_at, seen).where(of_account(t, account, livemode, by_customer)).order_by(t.c.id)


def of_account(t: Table, account: str, livemode: bool, by_customer: bool) -> ColumnElement[bool]:
    """Rows of the account. ``by_customer``: the query selects by another indexed column (a
    customer range; for ``syncer.db.changes``, a change number or a reference), so the
    account test is written so that no index serves it (``account || ''``): SQLite, which
    has no statistics, would otherwise scan the whole account through the primary key
    instead of using that column's index."""
    column = t.c.account.concat("") if by_customer else t.c.account
    return and_(column == account, t.c.livemode == livemode)


def _same_row(parent: Table, t: Table, column: str) -> ColumnElement[bool]:
    """``t``'s row's parent; looked up from the parent through ``t``'s ``column`` index
    (not through ``t``'s primary key, see ``of_account``)."""
    return and_(parent.c.account == t.c.account.concat(""), parent.c.livemode == t.c.livemode,
                parent.c.id == t.c[column])


def _via_parent(name: str, link: Link, account: str, livemode: bool, rng: CustomerRange) -> Select[Any]:
    """Rows of ``name`` whose parent (``link``, by id) belongs to the range; in the range of
    no customer, also those whose parent is not stored (only there does it read the whole
    table: against two lists of the account's parents, read from indexes, it is twice
    as fast as an outer join)."""
    t, parent, customer = table(name), table(link.table), _customer_column(link.table)
    q = _owned(name, account, livemode, by_customer=True)
    if rng.none:
        stored = select(parent.c.id).where(parent.c.account == account, parent.c.livemode == livemode)
        of_no_customer = select(parent.c.id).where(of_account(parent, account, livemode, True),
                                                   customer.is_(None))
        ref = t.c[link.column]
        return q.where(ref.is_(None) | ref.not_in(stored) | ref.in_(of_no_customer))
    return q.join(parent, _same_row(parent, t, link.column)).where(rng.holds(customer))


def _by_column_or_parent(
    q: Select[Any], name: str, owner: Owner, account: str, livemode: bool, rng: CustomerRange
) -> Select[Any]:
    """Rows of the range by their customer column; a row with None there belongs to its
    parent's customer, the parent being named by a key and owned through its own parent.
    Charges: a charge without a customer (an Accounts v2 customer's: Stripe's charges
    have no ``customer_account``) belongs to the customer of the invoice its payment
    intent paid, so that the invoice, its payments and the charge are normalized
    together, as in the whole account."""
    t, link = table(name), _parent(owner)
    middle, up = table(link.table), _parent(_owner(link.table))
    top, top_customer = table(up.table), _customer_column(up.table)
    column, ref = _customer_column(name), t.c[link.column]
    if rng.none:
        # Row by row through the key's index (a few thousand rows): against the list of
        # every key of the account it read all of the middle table.
        paid = (select(1).select_from(middle.join(top, _same_row(top, middle, up.column)))
                .where(middle.c.account.concat("") == t.c.account, middle.c.livemode == t.c.livemode,
                       middle.c[link.key] == ref, top_customer >= ""))
        return q.where(column.is_(None), ~exists(paid))
    in_range = (select(middle.c[link.key])
                .join(top, _same_row(top, middle, up.column))
                .where(of_account(middle, account, livemode, True), top_customer >= "", rng.holds(top_customer)))
    # ``|| ''`` (see ``of_account``): the customer-less charges are found through the key's
    # index from the range's invoices, not by reading every one the customer index holds.
    return q.where(rng.holds(column) | (column.concat("").is_(None) & ref.in_(in_range)))


def _child_query(
    name: str, child: str, parent_column: str, account: str, livemode: bool, *, by_customer: bool = False
) -> Select[Any]:
    t, parent = table(child), table(name)
    return (
        select(t.c[parent_column], t.c.raw)
        .join(parent, _same_row(parent, t, parent_column))
        .where(of_account(t, account, livemode, by_customer), t.c.deleted_at.is_(None))
        .order_by(t.c[parent_column], t.c.position)
    )


def _event_query(account: str, livemode: bool, rng: CustomerRange | None = None) -> Select[Any]:
    """Subscription events; by batch, those of the range's subscriptions (events of a
    subscription not stored change no fact: the rules read events per subscription)."""
    ev, subs = table(EVENTS.name), table("subscriptions")
    q = select(ev.c.raw).where(of_account(ev, account, livemode, rng is not None),
                               ev.c.type.like(SUBSCRIPTION_EVENTS)).order_by(ev.c.created, ev.c.id)
    if rng is None:
        return q
    return q.join(subs, _same_row(subs, ev, _parent(_owner(EVENTS.name)).column))


# ---- rows → objects -------------------------------------------------------------------------


def stream_rows(conn: Connection, query: Select[Any], chunk: int = 2000) -> Iterator[Any]:
    """The query's rows fetched a chunk at a time: row by row, SQLAlchemy's fetch path
    costs about as much as parsing the JSON or building the facts; all at once would
    hold every row twice."""
    for part in conn.execute(query).partitions(chunk):
        yield from part


def _objects(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    objs = []
    for raw, deleted_at, changed_at in stream_rows(conn, query):
        obj = orjson.loads(raw)
        if deleted_at is not None and not obj.get("deleted"):
            obj["deleted"] = True
            obj["_deleted_at"] = deleted_at
        if changed_at is not None:
            obj["_changed_at"] = changed_at
        objs.append(obj)
    return objs


def _children(conn: Connection, query: Select[Any]) -> dict[str, list[dict[str, Any]]]:
    kids: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for parent, raw in stream_rows(conn, query):
        kids[parent].append(orjson.loads(raw))
    return kids


def _attach(parents: list[dict[str, Any]], field: str, kids: dict[str, list[dict[str, Any]]]) -> None:
    for obj in parents:
        listed = obj.get(field)
        obj[field] = {**(listed if isinstance(listed, dict) else {}), "object": "list", "has_more": False,
                      "data": kids.get(obj["id"], [])}


def _discounts(conn: Connection, account: str, livemode: bool,
               customers: Sequence[str] | None = None) -> dict[str, Any]:
    if customers is None:
        found = _objects(conn, _owned("discounts", account, livemode))
    else:
        column = table("discounts").c.customer
        wanted = sorted(set(customers))
        found = _objects(conn, _owned("discounts", account, livemode, by_customer=True).where(column.is_(None)))
        for i in range(0, len(wanted), _IN_CHUNK):
            found += _objects(conn, _owned("discounts", account, livemode, by_customer=True)
                              .where(column.in_(wanted[i : i + _IN_CHUNK])))
    # Ordered here, not by the database's collation: the rules see a customer's discounts
    # in the same order whichever of them were read.
    return {d["id"]: d for d in sorted(found, key=lambda d: str(d["id"]))}


def _events(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for (raw,) in stream_rows(conn, query)]
