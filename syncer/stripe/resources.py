"""What is synced: one entry per Stripe list endpoint, in dependency-free data.

This registry is the single place that knows Stripe's paths, list parameters, which
embedded lists need paging, which restricted-key permission each resource needs and
which customer each table's rows belong to. The sync engine, the projection, the raw
loader, ``nrr db forget-customer``, the fake Stripe server and ``nrr doctor`` all read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter
from typing import Any

# ``Link.table`` of a row that describes an object of any table (an event).
ANY_TABLE = "*"


@dataclass(frozen=True)
class Link:
    """Another row this row names: its ``column`` holds that row's ``key`` (an invoice
    payment's ``invoice`` is an ``invoices`` row's ``id``; a refund's ``payment_intent``
    is a ``charges`` row's ``payment_intent``)."""

    column: str
    table: str
    key: str = "id"


@dataclass(frozen=True)
class Owner:
    """Which customer a table's rows belong to.

    The customer its own ``column`` names (``customers``: its ``id``). A row with no such
    column, or None in it, belongs to the customer of its ``parent`` (an invoice payment
    is its invoice's customer's; an Accounts v2 customer's charge, which names no
    customer, is the customer's whose invoice its payment intent paid). ``refs`` are the
    other rows of a customer it names (legacy fields, payment intents): in Stripe's data
    they agree with the column; ``forget-customer`` follows them too so that nothing of
    the customer stays behind. The raw loader batches rows by the column, else the parent.
    """

    column: str | None = "customer"
    parent: Link | None = None
    refs: tuple[Link, ...] = ()

    @property
    def links(self) -> tuple[Link, ...]:
        return (self.parent, *self.refs) if self.parent is not None else self.refs


# Rows whose ``customer`` column says whose they are.
BY_CUSTOMER = Owner("customer")
# Rows of no customer: account-wide lookups every customer's objects share.
ACCOUNT_WIDE: Owner | None = None


@dataclass(frozen=True)
class Child:
    """An embedded list (``invoice.lines``) whose rows live in their own table."""

    field: str  # attribute of the parent holding the list object, e.g. "lines"
    table: str  # table of the child rows, e.g. "invoice_lines"
    path: str  # list endpoint for the rest, e.g. "/v1/invoices/{id}/lines"
    object: str  # Stripe's ``object`` value of a child, e.g. "line_item"
    parent_column: str  # the child table's column holding its parent's id, e.g. "invoice"
    parent_param: str | None = None  # when the path takes the parent as a query param
    expand: tuple[str, ...] = ()  # expansions asked of that endpoint's pages


@dataclass(frozen=True)
class Resource:
    name: str  # table and CLI name, e.g. "invoices"
    path: str  # list endpoint, e.g. "/v1/invoices"
    object: str  # Stripe's ``object`` value, e.g. "invoice"
    permission: str  # restricted-key permission, as Stripe's dashboard names it
    # Which customer its rows belong to (``ACCOUNT_WIDE``: none, every customer's).
    owner: Owner | None = field(kw_only=True)
    # The same permission as Stripe's API names it in a 403 (``rak_invoice_read``).
    permission_key: str = field(kw_only=True)
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

# A payment intent has no table: a refund or a dispute names the customer's through the
# charge or the invoice payment that names it too.
_BY_PAYMENT_INTENT = (
    Link("payment_intent", "charges", "payment_intent"),
    Link("payment_intent", "invoice_payments", "payment_intent"),
)

# Order matters only for display and for the order of the first pages fetched.
RESOURCES: tuple[Resource, ...] = (
    Resource("customers", "/v1/customers", "customer", "Customers: Read", deletable=True,
             owner=Owner("id"), permission_key="rak_customer_read"),
    Resource("products", "/v1/products", "product", "Products: Read", deletable=True,
             owner=ACCOUNT_WIDE, permission_key="rak_product_read"),
    # Tiers are left out of price lists unless expanded, and tiered MRR needs them.
    Resource("prices", "/v1/prices", "price", "Prices: Read", expand=("data.tiers",), deletable=True,
             owner=ACCOUNT_WIDE, permission_key="rak_plan_read"),
    Resource("coupons", "/v1/coupons", "coupon", "Coupons: Read", deletable=True,
             owner=ACCOUNT_WIDE, permission_key="rak_coupon_read"),
    # A code restricted to one customer is theirs; the others are account-wide (None).
    Resource("promotion_codes", "/v1/promotion_codes", "promotion_code", "Promotion codes: Read",
             owner=BY_CUSTOMER, permission_key="rak_promotion_code_read"),
    Resource(
        "subscriptions",
        "/v1/subscriptions",
        "subscription",
        "Subscriptions: Read",
        params={"status": "all"},
        expand=(*_DISCOUNTS, "data.items.data.discounts"),
        children=(
            Child("items", "subscription_items", "/v1/subscription_items", "subscription_item", "subscription",
                  parent_param="subscription", expand=_DISCOUNTS),
        ),
        owner=BY_CUSTOMER,
        permission_key="rak_subscription_read",
    ),
    Resource(
        "invoices",
        "/v1/invoices",
        "invoice",
        "Invoices: Read",
        expand=(*_DISCOUNTS, "data.lines.data.discounts"),
        children=(Child("lines", "invoice_lines", "/v1/invoices/{id}/lines", "line_item", "invoice", expand=_DISCOUNTS),),
        deletable=True,
        owner=BY_CUSTOMER,
        permission_key="rak_invoice_read",
    ),
    Resource(
        "invoice_items",
        "/v1/invoiceitems",
        "invoiceitem",
        "Invoices: Read",
        expand=_DISCOUNTS,
        deletable=True,
        created_field="date",
        owner=Owner("customer", refs=(Link("invoice", "invoices"),)),
        permission_key="rak_invoice_read",
    ),
    Resource(
        "invoice_payments",
        "/v1/invoice_payments",
        "invoice_payment",
        "Invoices: Read",
        owner=Owner(None, parent=Link("invoice", "invoices")),
        permission_key="rak_invoice_read",
    ),
    Resource(
        "charges",
        "/v1/charges",
        "charge",
        "Charges: Read",
        expand=("data.balance_transaction",),
        # Stripe's charges have no ``customer_account``: an Accounts v2 customer's charge
        # is theirs through the invoice its payment intent paid. ``invoice``: legacy.
        owner=Owner("customer", parent=Link("payment_intent", "invoice_payments", "payment_intent"),
                    refs=(Link("invoice", "invoices"), Link("id", "invoice_payments", "charge"))),
        permission_key="rak_charge_read",
    ),
    Resource("refunds", "/v1/refunds", "refund", "Charges: Read",
             owner=Owner(None, parent=Link("charge", "charges"), refs=_BY_PAYMENT_INTENT),
             permission_key="rak_charge_read"),
    Resource(
        "credit_notes",
        "/v1/credit_notes",
        "credit_note",
        "Credit notes: Read",
        children=(Child("lines", "credit_note_lines", "/v1/credit_notes/{id}/lines", "credit_note_line_item",
                        "credit_note"),),
        owner=Owner("customer", refs=(Link("invoice", "invoices"),)),
        permission_key="rak_credit_note_read",
    ),
    Resource("disputes", "/v1/disputes", "dispute", "Disputes: Read",
             owner=Owner(None, parent=Link("charge", "charges"), refs=_BY_PAYMENT_INTENT),
             permission_key="rak_dispute_read"),
)

# An event is the customer's whose object it describes (``data.object``).
EVENTS = Resource("events", "/v1/events", "event", "Events: Read",
                  owner=Owner(None, parent=Link("object_id", ANY_TABLE)), permission_key="rak_event_read")
# Stripe lists the events of the last 30 days (https://docs.stripe.com/api/events/list):
# a listing of them starts there, not at the account's creation.
STRIPE_KEEPS_EVENTS_SECONDS = 30 * 86400

# Test mode only. Stripe leaves customers and subscriptions on a test clock out of their
# lists unless asked by ``test_clock``, so each clock's are listed on their own (see
# ``clock_listings``); invoices, charges and the rest are listed with everything else.
# The clocks get no table: nothing is reported about a clock, and each customer keeps
# its clock's id in ``raw`` (``test_clock``). Unwindowed: a clock's objects are
# ``created`` at its simulated time, which may be earlier than the account itself.
# Stripe's dashboard lists test clocks under Billing; the permission's API name is not
# published, so this one is named after the others.
TEST_CLOCKS = Resource(
    "test_clocks", "/v1/test_helpers/test_clocks", "test_helpers.test_clock", "Test clocks: Read", windowed=False,
    owner=ACCOUNT_WIDE, permission_key="rak_test_clock_read",
)

BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
BY_OBJECT: dict[str, Resource] = {r.object: r for r in RESOURCES}

# Each child table's column holding its parent's id.
CHILD_PARENT_COLUMN: dict[str, str] = {c.table: c.parent_column for r in RESOURCES for c in r.children}

# Discounts are listed by no endpoint: they come expanded in the objects they apply to.
DISCOUNTS = "discounts"

# Tables that hold rows but are not listed on their own: children and expansions.
CHILD_TABLES: tuple[str, ...] = (*CHILD_PARENT_COLUMN, DISCOUNTS)

# Which customer the rows of each table belong to (``ACCOUNT_WIDE``: none).
OWNERS: dict[str, Owner | None] = {
    **{r.name: r.owner for r in RESOURCES},
    **{c.table: Owner(None, parent=Link(c.parent_column, r.name)) for r in RESOURCES for c in r.children},
    # A discount names its customer, or (legacy) only what it applies to.
    DISCOUNTS: Owner("customer", refs=(Link("subscription", "subscriptions"), Link("invoice", "invoices"))),
    EVENTS.name: EVENTS.owner,
}


def _parents_first(owners: Mapping[str, Owner | None]) -> tuple[str, ...]:
    """The tables of some customer's rows, each after the tables its rows link to."""
    owned = {name: owner for name, owner in owners.items() if owner is not None}
    graph = {name: _linked_tables(name, owner, set(owned)) for name, owner in owned.items()}
    return tuple(TopologicalSorter(graph).static_order())


def _linked_tables(name: str, owner: Owner, owned: set[str]) -> set[str]:
    """The tables ``owner``'s links point to: every other one for a row describing any
    table's object."""
    tables = {link.table for link in owner.links}
    return owned - {name} if ANY_TABLE in tables else tables


# The owned tables in an order where a row's links point to tables before its own.
OWNED_TABLES: tuple[str, ...] = _parents_first(OWNERS)


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
