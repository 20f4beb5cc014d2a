"""Reading an account's raw Stripe objects back, whole, for normalization.

Embedded lists that Stripe truncated are made whole again from their child tables, so
the normalizer sees every invoice line, subscription item and credit note line.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import select

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


def load_raw(store: Store, account: str, livemode: bool) -> dict[str, Any]:
    """Every stored object of the account: ``{table: [object, …]}``, deleted ones
    flagged ``"deleted": true`` when Stripe's tombstone did not already say so; plus
    ``discounts`` by id and the subscription events."""
    out: dict[str, Any] = {}
    with store.reading() as conn:
        for name in PLAIN:
            out[name] = _objects(conn, name, account, livemode)
        for name, (field, child, parent_column) in CHILDREN.items():
            parents = _objects(conn, name, account, livemode)
            kids = _children(conn, child, parent_column, account, livemode)
            for obj in parents:
                listed = obj.get(field)
                obj[field] = {**(listed if isinstance(listed, dict) else {}), "object": "list", "has_more": False, "data": kids.get(obj["id"], [])}
            out[name] = parents
        out["discounts"] = {d["id"]: d for d in _objects(conn, "discounts", account, livemode)}
        ev = table("events")
        rows = conn.execute(
            select(ev.c.raw)
            .where(ev.c.account == account, ev.c.livemode == livemode, ev.c.type.like("customer.subscription.%"))
            .order_by(ev.c.created, ev.c.id)
        )
        out["events"] = [orjson.loads(raw) for (raw,) in rows]
    return out


def _objects(conn: Any, name: str, account: str, livemode: bool) -> list[dict[str, Any]]:
    t = table(name)
    objs = []
    for raw, deleted_at in conn.execute(
        select(t.c.raw, t.c.deleted_at).where(t.c.account == account, t.c.livemode == livemode)
    ):
        obj = orjson.loads(raw)
        if deleted_at is not None and not obj.get("deleted"):
            obj["deleted"] = True
            obj["_deleted_at"] = deleted_at
        objs.append(obj)
    return objs


def _children(conn: Any, name: str, parent_column: str, account: str, livemode: bool) -> dict[str, list[dict[str, Any]]]:
    t = table(name)
    kids: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for parent, raw in conn.execute(
        select(t.c[parent_column], t.c.raw)
        .where(t.c.account == account, t.c.livemode == livemode, t.c.deleted_at.is_(None))
        .order_by(t.c[parent_column], t.c.position)
    ):
        kids[parent].append(orjson.loads(raw))
    return kids
