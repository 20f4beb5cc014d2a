"""Reading an account's raw Stripe objects back for normalization: whole, or a batch of
customers at a time.

Embedded lists that Stripe truncated are made whole again from their child tables, so
the normalizer sees every invoice line, subscription item and credit note line.

Batches (``customer_ranges``, then ``fetch_batch`` for each) keep memory flat on large accounts: every object goes to
the batch of the customer it belongs to (its own ``customer`` column, which holds
``shapes.customer_of``: an Accounts v2 customer's ``customer_account``; else its parent's:
an invoice payment's invoice, a refund's charge, an event's subscription), and objects of
no known customer come last in a batch of their own. Normalizing batch by batch gives
the facts of the whole account because every link the rules follow (invoice → its
subscription, payments and charges; refund → charge; discounts) stays within one
customer in Stripe's data. Prices, products, coupons and discounts are few: every batch
shares them (``load_shared``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, CompoundSelect, Select, Table, and_, func, select, union
from sqlalchemy.engine import Connection

from syncer.app.gc_tuning import collector_paused
from syncer.db.store import Store, table

CHILDREN = {
    # parent table: (field on the parent, child table, parent column)
    "subscriptions": ("items", "subscription_items", "subscription"),
    "invoices": ("lines", "invoice_lines", "invoice"),
    "credit_notes": ("lines", "credit_note_lines", "credit_note"),
}
PLAIN = (
    "customers", "products", "prices", "coupons", "promotion_codes", "invoice_items", "invoice_payments",
    "charges", "refunds", "disputes",
)
SHARED = ("products", "prices", "coupons")
SUBSCRIPTION_EVENTS = "customer.subscription.%"
# About 1 MB of parsed objects per customer (3 years of monthly invoices): a batch
# of 25 stays near 25 MB in each of the two processes that normalize; larger batches
# cost memory and bring no speed.
BATCH_CUSTOMERS = 25


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


def load_shared(conn: Connection, account: str, livemode: bool) -> dict[str, Any]:
    """The account-wide lookups every batch needs: products, prices, coupons, discounts."""
    out: dict[str, Any] = {name: _objects(conn, _owned(name, account, livemode)) for name in SHARED}
    out["discounts"] = _discounts(conn, account, livemode)
    return out


@dataclass(frozen=True)
class CustomerRange:
    """Customers ``lo < id <= hi`` (an open end when None); ``none``: objects of no customer."""

    lo: str | None = None
    hi: str | None = None
    none: bool = False

    def holds(self, column: Any) -> ColumnElement[bool]:
        if self.none:
            return column.is_(None)
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
    cus = table("customers")
    out["customers"] = [] if rng.none else _objects(conn, _owned("customers", account, livemode).where(rng.holds(cus.c.id)))
    items = table("invoice_items")
    out["invoice_items"] = _objects(conn, _owned("invoice_items", account, livemode, by_customer=True)
                                    .where(rng.holds(items.c.customer)))
    out["charges"] = _objects(conn, _charges(account, livemode, rng))
    out["invoice_payments"] = _objects(conn, _via_parent("invoice_payments", "invoice", "invoices", account, livemode, rng))
    out["refunds"] = _objects(conn, _via_parent("refunds", "charge", "charges", account, livemode, rng))
    for name, (field, child, parent_column) in CHILDREN.items():
        parent = table(name)
        parents = _objects(conn, _owned(name, account, livemode, by_customer=True).where(rng.holds(parent.c.customer)))
        kids = _child_query(name, child, parent_column, account, livemode, by_customer=True)
        _attach(parents, field, _children(conn, kids.where(rng.holds(parent.c.customer))))
        out[name] = parents
    subs = table("subscriptions")
    out["events"] = _events(conn, _event_query(account, livemode, rng).where(rng.holds(subs.c.customer)))
    return out


# ---- queries --------------------------------------------------------------------------------


def _owned(name: str, account: str, livemode: bool, *, by_customer: bool = False) -> Select[Any]:
    t = table(name)
    return select(t.c.raw, t.c.deleted_at).where(_of_account(t, account, livemode, by_customer)).order_by(t.c.id)


def _of_account(t: Table, account: str, livemode: bool, by_customer: bool) -> ColumnElement[bool]:
    """Rows of the account. ``by_customer``: the query selects by a customer range, so the
    account test is written so that no index serves it (``account || ''``): SQLite, which
    has no statistics, would otherwise scan the whole account through the primary key
    for every batch instead of using the customer index."""
    column = t.c.account.concat("") if by_customer else t.c.account
    return and_(column == account, t.c.livemode == livemode)


def _same_row(parent: Table, t: Table, column: str) -> ColumnElement[bool]:
    """``t``'s row's parent; looked up from the parent through ``t``'s ``column`` index
    (not through ``t``'s primary key, see ``_of_account``)."""
    return and_(parent.c.account == t.c.account.concat(""), parent.c.livemode == t.c.livemode,
                parent.c.id == t.c[column])


def _via_parent(name: str, column: str, parent_name: str, account: str, livemode: bool, rng: CustomerRange) -> Select[Any]:
    """Rows of ``name`` whose ``column`` parent belongs to the range; in the range of no
    customer, also those whose parent is not stored (only there does it read the whole
    table: against two lists of the account's parents, read from indexes, it is twice
    as fast as an outer join)."""
    t, parent = table(name), table(parent_name)
    q = _owned(name, account, livemode, by_customer=True)
    if rng.none:
        stored = select(parent.c.id).where(parent.c.account == account, parent.c.livemode == livemode)
        of_no_customer = select(parent.c.id).where(_of_account(parent, account, livemode, True),
                                                   parent.c.customer.is_(None))
        ref = t.c[column]
        return q.where(ref.is_(None) | ref.not_in(stored) | ref.in_(of_no_customer))
    return q.join(parent, _same_row(parent, t, column)).where(rng.holds(parent.c.customer))


def _charges(account: str, livemode: bool, rng: CustomerRange) -> Select[Any]:
    """Charges of the range: by their ``customer``; a charge without one (an Accounts v2
    customer's: Stripe's charges have no ``customer_account``) belongs to the customer of
    the invoice its payment intent paid, so that the invoice, its payments and the charge
    are normalized together, as in the whole account."""
    charges, payments, invoices = table("charges"), table("invoice_payments"), table("invoices")
    q = _owned("charges", account, livemode, by_customer=True)
    paid_for = (select(payments.c.payment_intent)
                .join(invoices, _same_row(invoices, payments, "invoice"))
                .where(_of_account(payments, account, livemode, True), invoices.c.customer >= "",
                       payments.c.payment_intent.is_not(None)))  # NOT IN a NULL is never true
    if rng.none:
        return q.where(charges.c.customer.is_(None), charges.c.payment_intent.is_(None)
                       | charges.c.payment_intent.not_in(paid_for))
    in_range = paid_for.where(rng.holds(invoices.c.customer))
    return q.where(rng.holds(charges.c.customer)
                   | (charges.c.customer.is_(None) & charges.c.payment_intent.in_(in_range)))


def _child_query(
    name: str, child: str, parent_column: str, account: str, livemode: bool, *, by_customer: bool = False
) -> Select[Any]:
    t, parent = table(child), table(name)
    return (
        select(t.c[parent_column], t.c.raw)
        .join(parent, _same_row(parent, t, parent_column))
        .where(_of_account(t, account, livemode, by_customer), t.c.deleted_at.is_(None))
        .order_by(t.c[parent_column], t.c.position)
    )


def _event_query(account: str, livemode: bool, rng: CustomerRange | None = None) -> Select[Any]:
    """Subscription events; by batch, those of the range's subscriptions (events of a
    subscription not stored change no fact: the rules read events per subscription)."""
    ev, subs = table("events"), table("subscriptions")
    q = select(ev.c.raw).where(_of_account(ev, account, livemode, rng is not None),
                               ev.c.type.like(SUBSCRIPTION_EVENTS)).order_by(ev.c.created, ev.c.id)
    if rng is None:
        return q
    return q.join(subs, _same_row(subs, ev, "object_id"))


# ---- rows → objects -------------------------------------------------------------------------


def stream_rows(conn: Connection, query: Select[Any], chunk: int = 2000) -> Iterator[Any]:
    """The query's rows fetched a chunk at a time: row by row, SQLAlchemy's fetch path
    costs about as much as parsing the JSON or building the facts; all at once would
    hold every row twice."""
    for part in conn.execute(query).partitions(chunk):
        yield from part


def _objects(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    objs = []
    for raw, deleted_at in stream_rows(conn, query):
        obj = orjson.loads(raw)
        if deleted_at is not None and not obj.get("deleted"):
            obj["deleted"] = True
            obj["_deleted_at"] = deleted_at
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


def _discounts(conn: Connection, account: str, livemode: bool) -> dict[str, Any]:
    return {d["id"]: d for d in _objects(conn, _owned("discounts", account, livemode))}


def _events(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for (raw,) in stream_rows(conn, query)]
