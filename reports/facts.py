"""The contract between the two halves: normalized facts, small and frozen.

``syncer.normalize`` turns raw Stripe rows into these; ``reports.metrics`` turns them and
a month into a snapshot. Amounts are integers in minor units of ``currency``; instants
are epoch seconds (UTC). Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Cause(StrEnum):
    """Why an item's MRR changed at the start of a span (METRICS.md §1)."""

    NEW_ITEM = "new_item"
    PRICE_CHANGE = "price_change"
    QUANTITY = "quantity"
    DISCOUNT_START = "discount_start"
    DISCOUNT_END = "discount_end"
    TRIAL_END = "trial_end"
    CANCELLATION = "cancellation"
    PAUSE = "pause"
    RESUME = "resume"
    PAST_DUE = "past_due"  # the grace rule (§1.2) set MRR to 0
    RECOVERED = "recovered"  # a past-due subscription paid again
    STATUS = "status"  # any other status change (incomplete → active, …)


# Facts have slots: normalization makes hundreds of thousands (266,000 spans at size L),
# and without a __dict__ each takes less than half the memory.
@dataclass(frozen=True, slots=True)
class MrrSpan:
    """The MRR of one subscription item, in force over ``[start, end)``.

    ``end`` None means still in force. Spans of one item never overlap. An item whose
    MRR drops to 0 (trial, pause, past-due rule) is a span with ``mrr == 0`` so that the
    cause of the drop is kept; cancellation ends the last span.
    """

    customer: str
    subscription: str
    item: str
    price: str | None
    currency: str
    start: int
    end: int | None
    mrr: int  # monthly-normalised, after the discounts in force, never below 0
    contract_mrr: int  # the same before discounts
    cause: Cause


class ChurnKind(StrEnum):
    VOLUNTARY = "voluntary"
    INVOLUNTARY = "involuntary"


@dataclass(frozen=True, slots=True)
class ChurnEvent:
    """A subscription that ended (or fell to 0 by the past-due rule), and why (§3)."""

    customer: str
    subscription: str
    # Effective time: ``ended_at`` (or the request time, per settings). For a cancellation
    # requested and not yet effective, when it will take effect (after the data's "now"):
    # the report counts it as pending churn until then.
    at: int
    requested_at: int | None  # ``canceled_at``: when the cancellation was asked for
    kind: ChurnKind
    rule: str  # the §3 rule that decided: payment_failed, payment_disputed, past_due, ...
    derived: bool  # decided from payment state rather than said by Stripe
    reason: str | None  # cancellation_details.reason
    feedback: str | None  # cancellation_details.feedback
    comment: str | None  # personal data: never in Slack


class RevenueKind(StrEnum):
    RECURRING = "recurring"
    USAGE = "usage"
    ONE_TIME = "one_time"
    REFUND = "refund"
    CREDIT_NOTE = "credit_note"


@dataclass(frozen=True, slots=True)
class RevenueLine:
    """Money billed (or given back) at an instant (§4); tax excluded, after discounts."""

    at: int  # invoice finalization, charge, refund creation or credit note issue time
    customer: str | None
    source: str  # invoice line, charge, refund or credit note id
    kind: RevenueKind
    amount: int  # positive; refunds and credit notes are reported beside, not netted
    currency: str


@dataclass(frozen=True, slots=True)
class PaymentFailure:
    """One invoice whose payment failed at least once (§3)."""

    invoice: str
    customer: str
    subscription: str | None
    currency: str
    amount: int  # amount due
    first_failed_at: int
    attempts: int
    recovered_at: int | None  # paid after failing
    closed_at: int | None  # voided or marked uncollectible without payment


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str | None
    currency: str | None
    deleted: bool = False
    # What segments read (METRICS.md §6), loaded only when asked: the customer's country
    # and the values of the metadata keys segmented by. Stripe keeps only current values.
    country: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str | None:
        """The name a report shows: a customer deleted in Stripe is said to be, since its
        past MRR still counts and Stripe keeps no name for it."""
        if not self.deleted:
            return self.name
        return f"{self.name} (deleted)" if self.name else "(deleted customer)"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a reader calls a price: its product's name (``price`` is the price id)."""

    price: str
    name: str
    interval: str | None = None  # "month", "year", "3 months": its billing interval (segments)


@dataclass(frozen=True, slots=True)
class SubscriptionLabels:
    """The values of the subscription metadata keys segmented by (METRICS.md §6)."""

    customer: str
    subscription: str
    metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CustomerFacts:
    """The facts of some customers: every span, churn event and payment failure of each.

    A report can be computed from these a batch of customers at a time (no customer in two
    batches), so that memory does not grow with the account."""

    customers: tuple[Customer, ...]
    spans: tuple[MrrSpan, ...]
    churns: tuple[ChurnEvent, ...]
    failures: tuple[PaymentFailure, ...]
    subscriptions: tuple[SubscriptionLabels, ...] = ()  # only when segments ask for their metadata


@dataclass(frozen=True)
class Facts:
    """Everything the metrics need about one account."""

    customers: tuple[Customer, ...]
    spans: tuple[MrrSpan, ...]
    churns: tuple[ChurnEvent, ...]
    revenue: tuple[RevenueLine, ...]
    failures: tuple[PaymentFailure, ...]
    default_currency: str
    account_name: str | None = None
    plans: tuple[Plan, ...] = ()  # for labelling movers; a price without one shows its id
    subscriptions: tuple[SubscriptionLabels, ...] = ()

    def of_customers(self) -> CustomerFacts:
        """The per-customer facts, all customers in one batch."""
        return CustomerFacts(self.customers, self.spans, self.churns, self.failures, self.subscriptions)
