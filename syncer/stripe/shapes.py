"""Reading Stripe's JSON shapes (pure): field paths, ids, and which shape a line has.

Shared by the projection (raw object → row) and the normalizer (raw objects → facts) so
that both read the 2025+ shapes and their legacy fallbacks the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = Mapping[str, Any]


def get(obj: Any, *path: str) -> Any:
    """``obj[a][b]…`` or None when any step is missing or not an object."""
    for key in path:
        # ``type is dict`` first: parsed JSON is dicts, and an ABC check is slow when hot.
        if type(obj) is not dict and not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def ref(value: Any) -> str | None:
    """The id of a field that is either a string id or an expanded object."""
    if isinstance(value, str):
        return value or None
    if type(value) is dict or isinstance(value, Mapping):
        inner = value.get("id")
        return inner if isinstance(inner, str) and inner else None
    return None


# Projected integers land in BIGINT columns: a JSON integer beyond 64 bits cannot be
# stored there (SQLite raises OverflowError, PostgreSQL NumericValueOutOfRange), so it is
# read as "not a number" like any other odd value; ``raw`` still keeps it (test_fuzz).
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def customer_of(obj: Any) -> str | None:
    """Who an object belongs to: its ``customer``, else its ``customer_account``.

    An Accounts v2 account can be billed as a customer: its subscriptions and invoices
    carry ``customer_account`` (``acct_…``) and a null ``customer``. That id is the
    customer unit of the metrics, as a ``cus_…`` id is for everyone else.
    """
    return ref(get(obj, "customer")) or as_str(get(obj, "customer_account")) or None


def as_int(value: Any) -> int | None:
    # bool is an int subclass; a boolean where a number belongs is not a number.
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def first(*values: Any) -> Any:
    """The first value that is not None (``or`` would skip a real False or 0)."""
    for value in values:
        if value is not None:
            return value
    return None


def line_details(line: Obj) -> tuple[Obj, str | None]:
    """The details of what produced an invoice line, and its type (subscription | invoiceitem).

    Current: ``parent.type`` names which of ``subscription_item_details`` /
    ``invoice_item_details`` applies. Legacy: the line's own ``type``, no details.
    """
    parent = line.get("parent")
    sub_details = get(parent, "subscription_item_details")
    item_details = get(parent, "invoice_item_details")
    kind = get(parent, "type")
    if kind == "subscription_item_details" and isinstance(sub_details, Mapping):
        return sub_details, "subscription"
    if kind == "invoice_item_details" and isinstance(item_details, Mapping):
        return item_details, "invoiceitem"
    if isinstance(sub_details, Mapping):
        return sub_details, "subscription"
    if isinstance(item_details, Mapping):
        return item_details, "invoiceitem"
    return {}, as_str(line.get("type"))
