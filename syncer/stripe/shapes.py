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


# ---- legacy fallbacks: each written once, read by the projection and the normalizer -------


def line_detail(line: Obj, name: str, details: Obj | None = None) -> Any:
    """A field about what produced an invoice line (``subscription``, ``subscription_item``,
    ``invoice_item``, ``proration``): in its details now (``line_details``), on the line
    itself before 2025. ``details``: the line's details when they were read already."""
    if details is None:
        details = line_details(line)[0]
    return first(details.get(name), line.get(name))


def subscription_detail(obj: Obj, name: str) -> Any:
    """A field about the subscription an invoice or an invoice item bills
    (``subscription``, ``subscription_item``): ``parent.subscription_details.<name>``
    now, ``<name>`` on the object itself before 2025."""
    return first(get(obj, "parent", "subscription_details", name), obj.get(name))


def invoice_subscription(obj: Obj) -> str | None:
    """The id of the subscription an invoice (or an invoice item) bills."""
    return ref(subscription_detail(obj, "subscription"))


def invoice_item_proration(item: Obj) -> Any:
    """Whether an invoice item is a proration: its own ``proration``, else its
    subscription details' (read in that order, unlike ``subscription_detail``)."""
    return first(item.get("proration"), get(item, "parent", "subscription_details", "proration"))


def line_price_id(obj: Obj) -> str | None:
    """The id of the price an invoice line or an invoice item bills:
    ``pricing.price_details.price`` now; ``price`` (an object or an id) before, or its
    older twin ``plan``."""
    return ref(first(get(obj, "pricing", "price_details", "price"), obj.get("price"), obj.get("plan")))


def line_product_id(obj: Obj) -> str | None:
    """The id of the product an invoice line or an invoice item bills (as ``line_price_id``)."""
    return ref(first(get(obj, "pricing", "price_details", "product"), get(obj, "price", "product"),
                     get(obj, "plan", "product")))


def item_price(item: Obj) -> Any:
    """A subscription item's price, an object or an id: ``price``, or its pre-2020 twin ``plan``."""
    return first(item.get("price"), item.get("plan"))


def discount_coupon(discount: Obj) -> Any:
    """A discount's coupon, an object (expanded) or an id: ``source.coupon`` now, ``coupon``
    (an object) before."""
    return first(get(discount, "source", "coupon"), discount.get("coupon"))


def next_billed_item(sub: Any) -> Any:
    """The subscription's item whose period ends first: the one Stripe bills next.

    Each item has its own period; in flexible billing mode one subscription may mix a
    monthly and a yearly item, whose periods diverge, so the first item's period says
    nothing about the subscription. That item's start goes with its end (a start and an
    end of two items are no period)."""
    items = get(sub, "items", "data")
    if not isinstance(items, list):
        return None
    ends = [(end, n) for n, item in enumerate(items) if (end := as_int(get(item, "current_period_end"))) is not None]
    return items[min(ends)[1]] if ends else None


def current_period_start(sub: Any) -> int | None:
    """Start of a subscription's current period: its own field in legacy versions, else
    its next billed item's (``next_billed_item``)."""
    return _current_period(sub, "current_period_start")


def current_period_end(sub: Any) -> int | None:
    """End of a subscription's current period (as ``current_period_start``)."""
    return _current_period(sub, "current_period_end")


def _current_period(sub: Any, name: str) -> int | None:
    legacy = as_int(get(sub, name))
    return legacy if legacy is not None else as_int(get(next_billed_item(sub), name))
