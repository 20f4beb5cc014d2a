"""What is synced: one entry per Stripe list endpoint, in dependency-free data.

This registry is the single place that knows Stripe's paths, list parameters, which
embedded lists need paging, and which restricted-key permission each resource needs.
The sync engine, the projection, the fake Stripe server and ``nrr doctor`` all read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Child:
    """An embedded list (``invoice.lines``) whose rows live in their own table."""

    field: str  # attribute of the parent holding the list object, e.g. "lines"
    table: str  # table of the child rows, e.g. "invoice_lines"
    path: str  # list endpoint for the rest, e.g. "/v1/invoices/{id}/lines"
    parent_param: str | None = None  # when the path takes the parent as a query param
    expand: tuple[str, ...] = ()  # expansions asked of that endpoint's pages


@dataclass(frozen=True)
class Resource:
    name: str  # table and CLI name, e.g. "invoices"
    path: str  # list endpoint, e.g. "/v1/invoices"
    object: str  # Stripe's ``object`` value, e.g. "invoice"
    permission: str  # restricted-key permission, as Stripe's dashboard names it
    windowed: bool = True  # list accepts created[gte|lt] and can be split in windows
    params: dict[str, str] = field(default_factory=dict)
    expand: tuple[str, ...] = ()
    children: tuple[Child, ...] = ()
    deletable: bool = False  # ``<object>.deleted`` events really delete the object
    retrieve_path: str | None = None  # "/v1/invoices/{id}"; defaults to path + "/{id}"
    created_field: str = "created"  # what the ``created`` list filter compares
    # A listing of part of the resource (its rows go to the same table), e.g. the
    # customers of one test clock: ``{"test_clock": "clock_…"}``. Its checkpoint is its own.
    scope: dict[str, str] = field(default_factory=dict)
    # A scoped listing is done again when this changes (a test clock's frozen time).
    as_of: int | None = None

    @property
    def listing(self) -> str:
        """The name its checkpoints are kept under: the table, or ``table@scope[@as_of]``."""
        if not self.scope:
            return self.name
        name = self.name + "@" + ",".join(f"{k}={v}" for k, v in sorted(self.scope.items()))
        return name if self.as_of is None else f"{name}@{self.as_of}"

    def created_of(self, obj: Mapping[str, Any]) -> int | None:
        value = obj.get(self.created_field)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def retrieve(self, object_id: str) -> str:
        return (self.retrieve_path or self.path + "/{id}").format(id=object_id)


# Stripe expands at most four levels, ``data`` of a list counting as one
# (https://docs.stripe.com/api/expanding_objects: "the deepest expansion allowed when
# listing charges is data.payment_intent.customer.default_source").
MAX_EXPAND_DEPTH = 4


def expand_depth(path: str) -> int:
    return len(path.split("."))


# Discounts come expanded so a row exists for each, and with their coupon where the
# depth allows: a coupon deleted before the first backfill is no longer listed, but
# discounts made from it keep applying, and the expanded one is then its only copy.
# An item's or a line's discounts (``data.items.data.discounts``) are four levels deep
# already: their coupon is fetched afterwards from the item (syncer.sync.referenced).
_DISCOUNTS = ("data.discounts", "data.discounts.source.coupon")

# Order matters only for display and for the order of the first pages fetched.
RESOURCES: tuple[Resource, ...] = (
    Resource("customers", "/v1/customers", "customer", "Customers: Read", deletable=True),
    Resource("products", "/v1/products", "product", "Products: Read", deletable=True),
    # Tiers are left out of price lists unless expanded, and tiered MRR needs them.
    Resource("prices", "/v1/prices", "price", "Prices: Read", expand=("data.tiers",), deletable=True),
    Resource("coupons", "/v1/coupons", "coupon", "Coupons: Read", deletable=True),
    Resource("promotion_codes", "/v1/promotion_codes", "promotion_code", "Promotion codes: Read"),
    Resource(
        "subscriptions",
        "/v1/subscriptions",
        "subscription",
        "Subscriptions: Read",
        params={"status": "all"},
        expand=(*_DISCOUNTS, "data.items.data.discounts"),
        children=(
            Child("items", "subscription_items", "/v1/subscription_items", "subscription", expand=_DISCOUNTS),
        ),
    ),
    Resource(
        "invoices",
        "/v1/invoices",
        "invoice",
        "Invoices: Read",
        expand=(*_DISCOUNTS, "data.lines.data.discounts"),
        children=(Child("lines", "invoice_lines", "/v1/invoices/{id}/lines", expand=_DISCOUNTS),),
        deletable=True,
    ),
    Resource(
        "invoice_items",
        "/v1/invoiceitems",
        "invoiceitem",
        "Invoices: Read",
        expand=_DISCOUNTS,
        deletable=True,
        created_field="date",
    ),
    Resource(
        "invoice_payments",
        "/v1/invoice_payments",
        "invoice_payment",
        "Invoices: Read",
    ),
    Resource(
        "charges",
        "/v1/charges",
        "charge",
        "Charges: Read",
        expand=("data.balance_transaction",),
    ),
    Resource("refunds", "/v1/refunds", "refund", "Charges: Read"),
    Resource(
        "credit_notes",
        "/v1/credit_notes",
        "credit_note",
        "Credit notes: Read",
        children=(Child("lines", "credit_note_lines", "/v1/credit_notes/{id}/lines"),),
    ),
    Resource("disputes", "/v1/disputes", "dispute", "Disputes: Read"),
)

EVENTS = Resource("events", "/v1/events", "event", "Events: Read")

# Test mode only. Stripe leaves customers and subscriptions on a test clock out of their
# lists unless asked by ``test_clock``, so each clock's are listed on their own (see
# ``clock_listings``); invoices, charges and the rest are listed with everything else.
# The clocks get no table: nothing is reported about a clock, and each customer keeps
# its clock's id in ``raw`` (``test_clock``). Unwindowed: a clock's objects are
# ``created`` at its simulated time, which may be earlier than the account itself.
TEST_CLOCKS = Resource(
    "test_clocks", "/v1/test_helpers/test_clocks", "test_helpers.test_clock", "Test clocks: Read", windowed=False
)

BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
BY_OBJECT: dict[str, Resource] = {r.object: r for r in RESOURCES}

# Tables that hold rows but are not listed on their own: children and expansions.
CHILD_TABLES = ("subscription_items", "invoice_lines", "credit_note_lines", "discounts")


# Checkpoints of test clocks' listings have this in their name (see ``clock_listings``).
CLOCK_SCOPE = "@test_clock="


def clock_listings(
    clock_id: str, frozen_time: int | None, resources: tuple[Resource, ...] | list[Resource]
) -> list[Resource]:
    """The listings of one test clock's customers and subscriptions (those of ``resources``).

    They are listed again whenever the clock has moved: advancing a clock bills, renews
    and ends its subscriptions at the clock's time, and the events saying so are
    ``created`` at that simulated time too, behind the events cursor, which reads real
    time. A clock holds a few customers, so listing them again costs a request or two."""
    out = []
    for resource in resources:
        if resource.name in ("customers", "subscriptions"):
            out.append(replace(resource, windowed=False, scope={"test_clock": clock_id}, as_of=frozen_time))
    return out


def resolve(names: list[str] | None) -> tuple[Resource, ...]:
    """The resources to sync, in registry order; unknown names raise ``KeyError``."""
    if not names:
        return RESOURCES
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise KeyError(", ".join(unknown))
    return tuple(r for r in RESOURCES if r.name in names)


_RESOURCE_SEGMENT = re.compile(r"[a-z_]+|v1")


def endpoint_of(path: str) -> str:
    """``/v1/invoices/in_1Nx…/lines`` → ``/v1/invoices/{id}/lines``: the operation Stripe
    rate-limits (25/s each), whatever object it is about. Resource names are lowercase
    words; an id always has a digit or a capital."""
    return "/".join(s if not s or _RESOURCE_SEGMENT.fullmatch(s) else "{id}" for s in path.split("/"))
