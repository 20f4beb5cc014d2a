"""Raw Stripe JSON → table rows (pure: no I/O, no clock, no Stripe SDK).

One object of a listed resource becomes its own row, the rows of the child lists
embedded in it (subscription items, invoice lines, credit note lines) and the rows of
the discounts that came expanded inside it. Each row has exactly the columns of its
table in ``syncer.db.objects``: the common ones (account, livemode, id, created, raw,
api_version, synced_at, deleted_at) and the projected ones.

Stripe's current shapes are read first, then the shapes of older pinned API versions
(events keep the shape of the version they were created with), e.g. an invoice's
subscription is ``parent.subscription_details.subscription`` today and a top-level
``subscription`` before 2025 (each such fallback is written once, in
``syncer.stripe.shapes``). A field that is missing or of an unexpected type projects
to None: the object is still stored (``raw`` keeps everything) and unknown enum values
or new fields never stop a sync. Only an object without an id is rejected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from syncer.errors import MalformedResponse
from syncer.stripe.resources import BY_NAME, CHILD_PARENT_COLUMN, EVENTS
from syncer.stripe.shapes import as_int as _int
from syncer.stripe.shapes import as_str as _str
from syncer.stripe.shapes import (
    current_period_end,
    current_period_start,
    customer_of,
    discount_coupon,
    invoice_item_proration,
    invoice_subscription,
    item_price,
    line_detail,
    line_details,
    line_price_id,
    line_product_id,
    ref,
    subscription_detail,
)
from syncer.stripe.shapes import first as _first
from syncer.stripe.shapes import get as _get

Row = dict[str, Any]
Rows = dict[str, list[Row]]
Obj = Mapping[str, Any]


@dataclass(frozen=True)
class RowContext:
    """What every row of one fetch shares; ``synced_at`` is the time the data describes."""

    account: str
    livemode: bool
    api_version: str
    synced_at: int


# ---- tolerant readers -------------------------------------------------------------------


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _sum_amounts(items: Any) -> int | None:
    """Sum of ``[].amount`` (0 for an empty list); None when there is no list."""
    if not isinstance(items, list):
        return None
    return sum(_int(_get(item, "amount")) or 0 for item in items)


def _dump(obj: Obj) -> str:
    # orjson writes the same compact JSON as json.dumps(separators=(",", ":"),
    # ensure_ascii=False), keys in order, about ten times faster: a page of invoices
    # would otherwise spend more time here than waiting for Stripe.
    try:
        return orjson.dumps(obj, default=_plain).decode()
    except (TypeError, orjson.JSONEncodeError):
        pass  # a lone surrogate ("\ud83d") or an integer beyond 64 bits: the slow path
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_plain)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be stored as UTF-8 text: escape it.
        text = json.dumps(obj, separators=(",", ":"), default=_plain)
    return text


def _plain(value: Any) -> Any:
    # Mappings that are not dicts (read-only views) serialise as the objects they are.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _object_id(obj: Any, what: str) -> str:
    object_id = obj.get("id") if isinstance(obj, Mapping) else None
    if not isinstance(object_id, str) or not object_id:
        raise MalformedResponse(f"malformed Stripe response: a {what!r} object has no id")
    return object_id


def embedded_list(obj: Obj, field: str) -> tuple[list[dict[str, Any]], bool]:
    """``data`` and ``has_more`` of an embedded list object (absent → ``([], False)``)."""
    value = obj.get(field)
    data: Any
    if value is None:
        return [], False
    if isinstance(value, list):  # a plain array (e.g. ``discounts``) is complete
        data, has_more = value, False
    elif isinstance(value, Mapping):
        data, has_more = value.get("data"), value.get("has_more") is True
    else:
        raise MalformedResponse(f"Stripe sent a malformed '{field}' list")
    if data is None:
        return [], has_more
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        raise MalformedResponse(f"Stripe sent a malformed '{field}' list")
    return [dict(item) for item in data], has_more


def _base(obj: Obj, object_id: str, ctx: RowContext) -> Row:
    return {
        "account": ctx.account,
        "livemode": ctx.livemode,
        "id": object_id,
        "created": _int(obj.get("created")),
        "raw": _dump(obj),
        "api_version": ctx.api_version,
        "synced_at": ctx.synced_at,
        "deleted_at": ctx.synced_at if obj.get("deleted") is True else None,
    }


# ---- projected columns per table ---------------------------------------------------------


def _customer(o: Obj) -> Row:
    return {
        "name": _str(o.get("name")),
        "email": _str(o.get("email")),
        "currency": _str(o.get("currency")),
        "delinquent": _bool(o.get("delinquent")),
        "balance": _int(o.get("balance")),
    }


def _product(o: Obj) -> Row:
    return {
        "name": _str(o.get("name")),
        "active": _bool(o.get("active")),
        "type": _str(o.get("type")),
    }


def _price(o: Obj) -> Row:
    return {
        "product": ref(o.get("product")),
        "currency": _str(o.get("currency")),
        "unit_amount": _int(o.get("unit_amount")),
        "unit_amount_decimal": _str(o.get("unit_amount_decimal")),
        "type": _str(o.get("type")),
        "billing_scheme": _str(o.get("billing_scheme")),
        "tiers_mode": _str(o.get("tiers_mode")),
        "recurring_interval": _str(_get(o, "recurring", "interval")),
        "recurring_interval_count": _int(_get(o, "recurring", "interval_count")),
        "recurring_usage_type": _str(_get(o, "recurring", "usage_type")),
        "active": _bool(o.get("active")),
    }


def _coupon_terms(coupon: Any) -> Row:
    """The terms of a coupon object (all None when the coupon is only an id)."""
    return {
        "percent_off": _float(_get(coupon, "percent_off")),
        "amount_off": _int(_get(coupon, "amount_off")),
        "currency": _str(_get(coupon, "currency")),
        "duration": _str(_get(coupon, "duration")),
        "duration_in_months": _int(_get(coupon, "duration_in_months")),
    }


def _coupon(o: Obj) -> Row:
    return {"name": _str(o.get("name")), "valid": _bool(o.get("valid")), **_coupon_terms(o)}


def _promotion_code(o: Obj) -> Row:
    return {
        # current: promotion.coupon; legacy: a coupon object at the top level
        "coupon": ref(_first(_get(o, "promotion", "coupon"), o.get("coupon"))),
        "code": _str(o.get("code")),
        "active": _bool(o.get("active")),
        "customer": customer_of(o),
    }


def _subscription(o: Obj) -> Row:
    return {
        "customer": customer_of(o),
        "status": _str(o.get("status")),
        "currency": _str(o.get("currency")),
        "start_date": _int(o.get("start_date")),
        "trial_start": _int(o.get("trial_start")),
        "trial_end": _int(o.get("trial_end")),
        "cancel_at_period_end": _bool(o.get("cancel_at_period_end")),
        "cancel_at": _int(o.get("cancel_at")),
        "canceled_at": _int(o.get("canceled_at")),
        "ended_at": _int(o.get("ended_at")),
        "cancellation_reason": _str(_get(o, "cancellation_details", "reason")),
        "cancellation_feedback": _str(_get(o, "cancellation_details", "feedback")),
        "cancellation_comment": _str(_get(o, "cancellation_details", "comment")),
        "pause_behavior": _str(_get(o, "pause_collection", "behavior")),
        "pause_resumes_at": _int(_get(o, "pause_collection", "resumes_at")),
        "latest_invoice": ref(o.get("latest_invoice")),
        "collection_method": _str(o.get("collection_method")),
        "billing_cycle_anchor": _int(o.get("billing_cycle_anchor")),
        # Legacy versions had the period on the subscription; now each item has its own.
        "current_period_start": current_period_start(o),
        "current_period_end": current_period_end(o),
    }


def _subscription_item(o: Obj) -> Row:
    # ``plan`` is the pre-2020 twin of ``price``; both may be objects or ids.
    price, plan = o.get("price"), o.get("plan")
    return {
        "price": ref(item_price(o)),
        "product": ref(_first(_get(price, "product"), _get(plan, "product"))),
        "quantity": _int(o.get("quantity")),
        "current_period_start": _int(o.get("current_period_start")),
        "current_period_end": _int(o.get("current_period_end")),
        "currency": _str(_first(_get(price, "currency"), _get(plan, "currency"))),
        "unit_amount": _int(_first(_get(price, "unit_amount"), _get(plan, "amount"))),
        "billing_scheme": _str(_first(_get(price, "billing_scheme"), _get(plan, "billing_scheme"))),
        "tiers_mode": _str(_first(_get(price, "tiers_mode"), _get(plan, "tiers_mode"))),
        "recurring_interval": _str(
            _first(_get(price, "recurring", "interval"), _get(plan, "interval"))
        ),
        "recurring_interval_count": _int(
            _first(_get(price, "recurring", "interval_count"), _get(plan, "interval_count"))
        ),
        "recurring_usage_type": _str(
            _first(_get(price, "recurring", "usage_type"), _get(plan, "usage_type"))
        ),
    }


def _invoice_tax(o: Obj) -> int | None:
    """Current: sum of ``total_taxes``; legacy: ``tax``; else total minus total excl. tax."""
    taxes = _sum_amounts(o.get("total_taxes"))
    if taxes is not None:
        return taxes
    legacy = _int(o.get("tax"))
    if legacy is not None:
        return legacy
    total, excluding = _int(o.get("total")), _int(o.get("total_excluding_tax"))
    return total - excluding if total is not None and excluding is not None else None


def _invoice(o: Obj) -> Row:
    return {
        "customer": customer_of(o),
        "subscription": invoice_subscription(o),
        "status": _str(o.get("status")),
        "currency": _str(o.get("currency")),
        "billing_reason": _str(o.get("billing_reason")),
        "collection_method": _str(o.get("collection_method")),
        "amount_due": _int(o.get("amount_due")),
        "amount_paid": _int(o.get("amount_paid")),
        "amount_remaining": _int(o.get("amount_remaining")),
        "subtotal": _int(o.get("subtotal")),
        "total": _int(o.get("total")),
        "total_excluding_tax": _int(o.get("total_excluding_tax")),
        "total_discount": _sum_amounts(o.get("total_discount_amounts")),
        "tax": _invoice_tax(o),
        "period_start": _int(o.get("period_start")),
        "period_end": _int(o.get("period_end")),
        "effective_at": _int(o.get("effective_at")),
        "due_date": _int(o.get("due_date")),
        "finalized_at": _int(_get(o, "status_transitions", "finalized_at")),
        "paid_at": _int(_get(o, "status_transitions", "paid_at")),
        "voided_at": _int(_get(o, "status_transitions", "voided_at")),
        "marked_uncollectible_at": _int(_get(o, "status_transitions", "marked_uncollectible_at")),
        "attempt_count": _int(o.get("attempt_count")),
        "attempted": _bool(o.get("attempted")),
        "next_payment_attempt": _int(o.get("next_payment_attempt")),
        "payment_intent": ref(o.get("payment_intent")),
        "charge": ref(o.get("charge")),
    }


def _invoice_line(o: Obj) -> Row:
    details, line_type = line_details(o)
    return {
        "amount": _int(o.get("amount")),
        "currency": _str(o.get("currency")),
        "quantity": _int(o.get("quantity")),
        "price": line_price_id(o),
        "product": line_product_id(o),
        "proration": _bool(line_detail(o, "proration", details)),
        "line_type": line_type,
        "subscription": ref(line_detail(o, "subscription", details)),
        "subscription_item": ref(line_detail(o, "subscription_item", details)),
        "invoice_item": ref(line_detail(o, "invoice_item", details)),
        "period_start": _int(_get(o, "period", "start")),
        "period_end": _int(_get(o, "period", "end")),
        "discount_amount": _sum_amounts(o.get("discount_amounts")),
        "tax_amount": _first(_sum_amounts(o.get("taxes")), _sum_amounts(o.get("tax_amounts"))),
    }


def _invoice_item(o: Obj) -> Row:
    return {
        "customer": customer_of(o),
        "invoice": ref(o.get("invoice")),
        "amount": _int(o.get("amount")),
        "currency": _str(o.get("currency")),
        "quantity": _int(o.get("quantity")),
        "price": line_price_id(o),
        "product": line_product_id(o),
        "proration": _bool(invoice_item_proration(o)),
        "subscription": invoice_subscription(o),
        "subscription_item": ref(subscription_detail(o, "subscription_item")),
        "period_start": _int(_get(o, "period", "start")),
        "period_end": _int(_get(o, "period", "end")),
        "date": _int(o.get("date")),
        # An invoice item has no ``created``: its ``date`` is what list filters use.
        "created": _int(_first(o.get("created"), o.get("date"))),
    }


def _invoice_payment(o: Obj) -> Row:
    payment = o.get("payment")
    return {
        "invoice": ref(o.get("invoice")),
        "payment_type": _str(_get(payment, "type")),
        "payment_intent": ref(_get(payment, "payment_intent")),
        "charge": ref(_get(payment, "charge")),
        "status": _str(o.get("status")),
        "amount_paid": _int(o.get("amount_paid")),
        "amount_requested": _int(o.get("amount_requested")),
        "currency": _str(o.get("currency")),
        "is_default": _bool(o.get("is_default")),
        "paid_at": _int(_get(o, "status_transitions", "paid_at")),
        "canceled_at": _int(_get(o, "status_transitions", "canceled_at")),
    }


def _charge(o: Obj) -> Row:
    txn = o.get("balance_transaction")  # an object only when expanded
    return {
        "customer": customer_of(o),
        "invoice": ref(o.get("invoice")),
        "payment_intent": ref(o.get("payment_intent")),
        "amount": _int(o.get("amount")),
        "amount_captured": _int(o.get("amount_captured")),
        "amount_refunded": _int(o.get("amount_refunded")),
        "currency": _str(o.get("currency")),
        "status": _str(o.get("status")),
        "paid": _bool(o.get("paid")),
        "refunded": _bool(o.get("refunded")),
        "disputed": _bool(o.get("disputed")),
        "failure_code": _str(o.get("failure_code")),
        "balance_transaction": ref(txn),
        "exchange_rate": _float(_get(txn, "exchange_rate")),
        "bt_currency": _str(_get(txn, "currency")),
    }


def _refund(o: Obj) -> Row:
    return {
        "charge": ref(o.get("charge")),
        "payment_intent": ref(o.get("payment_intent")),
        "amount": _int(o.get("amount")),
        "currency": _str(o.get("currency")),
        "status": _str(o.get("status")),
        "reason": _str(o.get("reason")),
    }


def _credit_note(o: Obj) -> Row:
    return {
        "invoice": ref(o.get("invoice")),
        "customer": customer_of(o),
        "amount": _int(o.get("amount")),
        "subtotal": _int(o.get("subtotal")),
        "total": _int(o.get("total")),
        "currency": _str(o.get("currency")),
        "status": _str(o.get("status")),
        "type": _str(o.get("type")),
        "reason": _str(o.get("reason")),
        "effective_at": _int(o.get("effective_at")),
        "voided_at": _int(o.get("voided_at")),
    }


def _credit_note_line(o: Obj) -> Row:
    return {
        "amount": _int(o.get("amount")),
        "type": _str(o.get("type")),
        "invoice_line_item": ref(o.get("invoice_line_item")),
        "quantity": _int(o.get("quantity")),
        "unit_amount": _int(o.get("unit_amount")),
        "discount_amount": _first(
            _int(o.get("discount_amount")), _sum_amounts(o.get("discount_amounts"))
        ),
        "tax_amount": _first(_sum_amounts(o.get("taxes")), _sum_amounts(o.get("tax_amounts"))),
    }


def _dispute(o: Obj) -> Row:
    return {
        "charge": ref(o.get("charge")),
        "payment_intent": ref(o.get("payment_intent")),
        "amount": _int(o.get("amount")),
        "currency": _str(o.get("currency")),
        "status": _str(o.get("status")),
        "reason": _str(o.get("reason")),
    }


def _discount(o: Obj) -> Row:
    coupon = discount_coupon(o)
    return {
        "customer": customer_of(o),
        "subscription": ref(o.get("subscription")),
        "subscription_item": ref(o.get("subscription_item")),
        "invoice": ref(o.get("invoice")),
        "invoice_item": ref(o.get("invoice_item")),
        "coupon": ref(coupon),
        "promotion_code": ref(o.get("promotion_code")),
        "start": _int(o.get("start")),
        "end": _int(o.get("end")),
        **_coupon_terms(coupon),
    }


def _event(o: Obj) -> Row:
    inner = _get(o, "data", "object")
    request = o.get("request")  # an object now, a bare request id in old versions
    return {
        "type": _str(o.get("type")),
        "object_type": _str(_get(inner, "object")),
        "object_id": _str(_get(inner, "id")),
        "event_api_version": _str(o.get("api_version")),
        "request_id": ref(request),
    }


_COLUMNS: dict[str, Callable[[Obj], Row]] = {
    "customers": _customer,
    "products": _product,
    "prices": _price,
    "coupons": _coupon,
    "promotion_codes": _promotion_code,
    "subscriptions": _subscription,
    "subscription_items": _subscription_item,
    "invoices": _invoice,
    "invoice_lines": _invoice_line,
    "invoice_items": _invoice_item,
    "invoice_payments": _invoice_payment,
    "charges": _charge,
    "refunds": _refund,
    "credit_notes": _credit_note,
    "credit_note_lines": _credit_note_line,
    "disputes": _dispute,
    "discounts": _discount,
    "events": _event,
}


# ---- discounts ----------------------------------------------------------------------------


def _discount_rows(
    containers: Iterable[Any], links: Mapping[str, str | None], ctx: RowContext,
    owned: tuple[str, ...] = ("customer",),
) -> list[Row]:
    """Rows of the expanded discounts among ``containers`` (string ids are skipped).

    ``links`` fills a link column (subscription, invoice, …) only when the discount
    object lacks that field altogether (older versions): a field present but null means
    the discount does not belong there, e.g. a subscription's discount shown on an invoice.
    The ``owned`` columns are the exception, filled whenever null: whatever holds the
    discount belongs to that customer, and an item's own discounts (``items.data[].discounts``
    lists no other kind) belong to its subscription too.
    """
    rows: list[Row] = []
    for value in containers:
        candidates = value if isinstance(value, list) else [value]
        for discount in candidates:
            if not isinstance(discount, Mapping):
                continue  # an unexpanded id: the discount itself arrives elsewhere
            row = _row("discounts", discount, ctx)
            for column, link in links.items():
                if row[column] is None and (column in owned or column not in discount):
                    row[column] = link
            rows.append(row)
    return rows


def _row(table: str, obj: Any, ctx: RowContext, **parent: Any) -> Row:
    object_id = _object_id(obj, table)
    return {**_base(obj, object_id, ctx), **parent, **_COLUMNS[table](obj)}


def _child_rows(
    table: str, parent: Obj, parent_id: str, child: Obj, position: int, ctx: RowContext
) -> Rows:
    """The row of one child and the rows of its expanded discounts."""
    column = CHILD_PARENT_COLUMN[table]
    row = _row(table, child, ctx, **{column: parent_id, "position": position})
    discounts: list[Row] = []
    if table == "subscription_items":
        links = {
            "customer": customer_of(parent),
            "subscription": parent_id,
            "subscription_item": row["id"],
        }
        discounts = _discount_rows([child.get("discounts")], links, ctx, owned=tuple(links))
    elif table == "invoice_lines":
        links = {"customer": customer_of(parent), "invoice": parent_id}
        discounts = _discount_rows([child.get("discounts")], links, ctx)
    return {table: [row], "discounts": discounts}


def _own_discounts(table: str, obj: Obj, object_id: str, ctx: RowContext) -> list[Row]:
    """Expanded discounts held by the object itself (lists now, a single one in legacy)."""
    customer = customer_of(obj)
    if table == "customers":
        return _discount_rows([obj.get("discount")], {"customer": object_id}, ctx)
    if table == "subscriptions":
        links = {"customer": customer, "subscription": object_id}
    elif table == "invoices":
        links = {"customer": customer, "invoice": object_id}
    elif table == "invoice_items":
        links = {"customer": customer, "invoice_item": object_id}
    else:
        return []
    return _discount_rows([obj.get("discounts"), obj.get("discount")], links, ctx)


def merge_rows(parts: Iterable[Rows]) -> Rows:
    """Rows of several projections, one row per primary key (the newest, else the last).

    The same discount often appears in many invoices of one page; writing it once saves
    work, and a single multi-row ``INSERT … ON CONFLICT`` on PostgreSQL refuses to touch
    one row twice.
    """
    merged: dict[str, dict[tuple[str, bool, str], Row]] = {}
    for part in parts:
        for table, rows in part.items():
            by_key = merged.setdefault(table, {})
            for row in rows:
                key = (row["account"], row["livemode"], row["id"])
                kept = by_key.get(key)
                if kept is None or kept["synced_at"] <= row["synced_at"]:
                    by_key[key] = _with_coupon_of(kept, row) if table == "discounts" else row
    return {table: list(by_key.values()) for table, by_key in merged.items()}


_COUPON_COLUMNS = ("raw", "percent_off", "amount_off", "currency", "duration", "duration_in_months")


def _with_coupon_of(kept: Row | None, row: Row) -> Row:
    """``row``, keeping ``kept``'s coupon when only ``kept`` has it expanded: a line's or
    an item's copy of a discount names its coupon by id (the store does the same against
    stored rows: ``syncer.db.store._KEPT_WHEN_RICHER``)."""
    if kept is None or has_coupon_terms(row) or not has_coupon_terms(kept):
        return row
    return {**row, **{c: kept[c] for c in _COUPON_COLUMNS}}


def has_coupon_terms(row: Row) -> bool:
    """Whether a discount row carries its coupon's terms (the coupon came expanded)."""
    return row["percent_off"] is not None or row["amount_off"] is not None


# ---- public entry points ----------------------------------------------------------------


def project(resource: str, obj: Mapping[str, Any], ctx: RowContext) -> Rows:
    """Rows per table for one object of a listed resource (or ``events``).

    Keys: the resource's own table, each of its child tables (embedded rows with their
    ``position``) and ``discounts`` (except for events); lists may be empty. Children
    beyond an embedded list's first page (``embedded_list(...)[1]``) come through
    ``project_child``.
    """
    if resource == EVENTS.name:
        return {"events": [_row("events", obj, ctx)]}
    spec = BY_NAME.get(resource)
    if spec is None:
        raise KeyError(f"unknown resource {resource!r}")
    object_id = _object_id(obj, spec.object)
    rows: Rows = {resource: [_row(resource, obj, ctx)]}
    discounts = _own_discounts(resource, obj, object_id, ctx)
    for child in spec.children:
        rows[child.table] = []
        children, _ = embedded_list(obj, child.field)
        for position, item in enumerate(children):
            part = _child_rows(child.table, obj, object_id, item, position, ctx)
            rows[child.table].extend(part[child.table])
            discounts.extend(part["discounts"])
    rows["discounts"] = merge_rows([{"discounts": discounts}]).get("discounts", [])
    return rows


def project_discounts(
    discounts: Iterable[Any], links: Mapping[str, str | None], ctx: RowContext, *, owned: tuple[str, ...] = ("customer",)
) -> Rows:
    """Rows of discounts fetched on their own (an item's, with its coupon expanded);
    ``links`` and ``owned`` as for discounts embedded in an object (``_discount_rows``)."""
    return {"discounts": _discount_rows([list(discounts)], links, ctx, owned)}


def project_child(
    table: str, parent_id: str, child: Mapping[str, Any], position: int, ctx: RowContext
) -> Rows:
    """The row (and discount rows) of one child fetched from a child list endpoint.

    ``position`` is the child's index in its parent's complete list.
    """
    if table not in CHILD_PARENT_COLUMN:
        raise KeyError(f"{table!r} is not a child table")
    # The parent is not at hand: its customer is unknown to discounts lacking one.
    return _child_rows(table, {}, parent_id, child, position, ctx)
