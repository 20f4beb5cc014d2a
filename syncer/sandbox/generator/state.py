"""The simulation's state of a customer, a subscription, its items and discounts.

Each holds what the simulation needs to decide what happens next; the Stripe objects are
rendered from it (``subscription_object``) or kept up to date beside it (``Cust.obj``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from heapq import heappush
from typing import Any

from syncer.sandbox.generator.billing_mode import CLASSIC
from syncer.sandbox.generator.catalog import Price
from syncer.sandbox.generator.units import JSON


@dataclass(slots=True)
class Cust:
    """A customer being simulated, and its ``customer`` object (``obj``)."""

    idx: int
    id: str
    obj: JSON
    currency: str
    pm: str
    pm_details: JSON
    billing: JSON
    taxed: bool
    balance: int = 0
    seq: int = 0
    open_failed: int = 0  # invoices currently failing (for ``delinquent``)
    clock: str | None = None  # the test clock it is attached to (test mode)
    discount: Disc | None = None  # its customer-level discount (``customer.discount``)
    # Its ``customer`` and ``customer_account`` fields: an Accounts v2 account billed as a
    # customer (``acct_…``) has the latter only. Fields, not properties: they are hot.
    customer: str | None = field(init=False)
    customer_account: str | None = field(init=False)

    def __post_init__(self) -> None:
        v2 = self.id.startswith("acct_")
        self.customer = None if v2 else self.id
        self.customer_account = self.id if v2 else None


@dataclass(slots=True)
class Item:
    """A subscription item."""

    id: str
    price: Price
    quantity: int
    created: int
    parent: JSON | None = None  # the ``parent`` of its invoice lines (shared)
    # Flexible billing mode: an item with another interval than the subscription's keeps
    # its own period (None: the subscription's), renewed on its own invoices.
    period: tuple[int, int] | None = None
    trial: tuple[int, int, str] | None = None  # its own trial: start, end, trial offer
    discounts: list[Disc] = field(default_factory=list)  # its own (item-level) discounts


@dataclass(slots=True)
class Disc:
    """A discount (of a subscription, an item or a customer) and its ``discount`` object."""

    id: str
    coupon: JSON
    start: int
    end: int | None  # None: forever, or "once" (ends at the first period end)
    obj: JSON

    def active(self, t: int) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass
class Sub:
    """A subscription being simulated, with the queue of what happens to it next."""

    id: str
    cust: Cust
    currency: str
    created: int
    anchor: int
    interval_months: int
    items: list[Item]
    random: bool
    status: str = "active"
    trial_start: int | None = None
    trial_end: int | None = None
    period_start: int = 0
    period_end: int = 0
    period_index: int = 0
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    cancellation: JSON = field(
        default_factory=lambda: {"comment": None, "feedback": None, "reason": None}
    )
    pause: JSON | None = None
    paused_billing: bool = False
    discounts: list[Disc] = field(default_factory=list)
    latest_invoice: str | None = None
    pending: list[JSON] = field(default_factory=list)  # proration invoice items
    mrr: dict[str, int] = field(default_factory=dict)
    fail_next: str | None = None  # "recover" | "churn": the next renewal payment fails
    last_snapshot: JSON | None = None
    last_charge: JSON | None = None
    last_paid_invoice: JSON | None = None
    queue: list[tuple[int, int, int, str, Any]] = field(default_factory=list)
    seq: int = 0
    billing_mode: JSON = field(default_factory=lambda: CLASSIC)
    item_discounts: bool = False  # some item has (or had) its own discounts
    no_payment_method: bool = False  # its customer has none (yet)
    trial_end_pause: bool = False  # ``trial_settings``: pause when the trial ends without one

    @property
    def ended(self) -> bool:
        return self.status in ("canceled", "incomplete_expired")

    def schedule(self, t: int, prio: int, kind: str, arg: Any) -> None:
        """Queue a happening at ``t``; at one instant, a lower ``prio`` comes first."""
        self.seq += 1
        heappush(self.queue, (t, prio, self.seq, kind, arg))

    def changeable(self, t: int) -> bool:
        """Whether a plan, seat or add-on change can happen at ``t``."""
        return (self.status == "active" and self.pause is None and not self.cancel_at_period_end
                and self.period_start < t < self.period_end)

    def discounts_at(self, t: int) -> list[Disc]:
        """The subscription's discounts; its customer's when it has none of its own."""
        if self.discounts:
            return self.discounts
        d = self.cust.discount
        if d is None or not d.active(t):
            return self.discounts  # none
        if self.item_discounts and any(it.discounts for it in self.items):
            return self.discounts
        return [d]
