"""Tables of Stripe objects: one row per object, its JSON in ``raw`` plus projected columns.

Every table is keyed by (account, livemode, id) so several accounts and test/live data
share one database. ``raw`` keeps the whole object, so a column added later can be
back-filled from it without asking Stripe again. The projected columns are the ones
normalization joins and filters on (MRR, churn, revenue: METRICS.md); their values come
from ``syncer.sync.projection``, whose rows carry exactly these columns.

Money is in integer minor units and times are epoch seconds: both ``BigInteger``
because minor units of some currencies (and far-future timestamps) overflow int32.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel


def _big(*, index: bool = False) -> Any:
    """A nullable 64-bit integer column: an amount or an epoch-seconds time."""
    return Field(default=None, sa_type=BigInteger, index=index)


def _ref() -> Any:
    """A nullable id of another object that normalization joins on."""
    return Field(default=None, index=True)


class _StripeObject(SQLModel):
    """Columns every object table has; not a table itself."""

    account: str = Field(primary_key=True)
    livemode: bool = Field(primary_key=True)
    id: str = Field(primary_key=True)
    created: int | None = _big()
    raw: str = Field(sa_type=Text)
    api_version: str
    # The time the data describes (not when it was written), so an older copy of an
    # object (a late page, a replayed event) never overwrites a newer one.
    synced_at: int = Field(sa_type=BigInteger)
    deleted_at: int | None = _big()
    # The change (``syncer.db.changes``) that last altered the row's content or deletion:
    # normalization re-derives only the customers of rows changed since it last ran. A
    # rewrite of the same content keeps it. None: written before changes were numbered.
    changed: int | None = _big(index=True)
    # The ``synced_at`` of that change: when the sync saw the object as it is.
    changed_at: int | None = _big()


class Customer(_StripeObject, table=True):
    __tablename__ = "customers"

    name: str | None = None
    email: str | None = None
    currency: str | None = None
    delinquent: bool | None = None
    balance: int | None = _big()


class Product(_StripeObject, table=True):
    __tablename__ = "products"

    name: str | None = None
    active: bool | None = None
    type: str | None = None


class Price(_StripeObject, table=True):
    __tablename__ = "prices"

    product: str | None = _ref()
    currency: str | None = None
    unit_amount: int | None = _big()
    unit_amount_decimal: str | None = None  # sub-cent prices have no integer amount
    type: str | None = None  # one_time | recurring
    billing_scheme: str | None = None  # per_unit | tiered
    tiers_mode: str | None = None  # graduated | volume
    recurring_interval: str | None = None
    recurring_interval_count: int | None = None
    recurring_usage_type: str | None = None  # licensed | metered
    active: bool | None = None


class Coupon(_StripeObject, table=True):
    __tablename__ = "coupons"

    name: str | None = None
    percent_off: float | None = None
    amount_off: int | None = _big()
    currency: str | None = None
    duration: str | None = None  # once | repeating | forever
    duration_in_months: int | None = None
    valid: bool | None = None


class PromotionCode(_StripeObject, table=True):
    __tablename__ = "promotion_codes"

    coupon: str | None = _ref()
    code: str | None = None
    active: bool | None = None
    customer: str | None = None


class Subscription(_StripeObject, table=True):
    __tablename__ = "subscriptions"

    customer: str | None = _ref()
    status: str | None = None
    currency: str | None = None
    start_date: int | None = _big()
    trial_start: int | None = _big()
    trial_end: int | None = _big()
    cancel_at_period_end: bool | None = None
    cancel_at: int | None = _big()
    canceled_at: int | None = _big()
    ended_at: int | None = _big()
    cancellation_reason: str | None = None
    cancellation_feedback: str | None = None
    cancellation_comment: str | None = None  # personal data: never sent to Slack
    pause_behavior: str | None = None
    pause_resumes_at: int | None = _big()
    latest_invoice: str | None = None
    collection_method: str | None = None
    billing_cycle_anchor: int | None = _big()
    current_period_start: int | None = _big()
    current_period_end: int | None = _big()


class SubscriptionItem(_StripeObject, table=True):
    __tablename__ = "subscription_items"

    subscription: str = Field(index=True)
    position: int
    price: str | None = _ref()
    product: str | None = None
    quantity: int | None = _big()
    current_period_start: int | None = _big()
    current_period_end: int | None = _big()
    # Snapshot of the item's price: ad-hoc prices (``price_data``) are not always
    # listed by /v1/prices, and the MRR rules need the amount and interval.
    currency: str | None = None
    unit_amount: int | None = _big()
    billing_scheme: str | None = None
    tiers_mode: str | None = None
    recurring_interval: str | None = None
    recurring_interval_count: int | None = None
    recurring_usage_type: str | None = None


class Invoice(_StripeObject, table=True):
    __tablename__ = "invoices"

    customer: str | None = _ref()
    subscription: str | None = _ref()
    status: str | None = None
    currency: str | None = None
    billing_reason: str | None = None
    collection_method: str | None = None
    amount_due: int | None = _big()
    amount_paid: int | None = _big()
    amount_remaining: int | None = _big()
    subtotal: int | None = _big()
    total: int | None = _big()
    total_excluding_tax: int | None = _big()
    total_discount: int | None = _big()
    tax: int | None = _big()
    period_start: int | None = _big()
    period_end: int | None = _big()
    effective_at: int | None = _big()
    due_date: int | None = _big()
    finalized_at: int | None = _big()
    paid_at: int | None = _big()
    voided_at: int | None = _big()
    marked_uncollectible_at: int | None = _big()
    attempt_count: int | None = None
    attempted: bool | None = None
    next_payment_attempt: int | None = _big()
    payment_intent: str | None = _ref()  # legacy: before invoice payments
    charge: str | None = None  # legacy


class InvoiceLine(_StripeObject, table=True):
    __tablename__ = "invoice_lines"

    invoice: str = Field(index=True)
    position: int
    amount: int | None = _big()
    currency: str | None = None
    quantity: int | None = _big()
    price: str | None = _ref()
    product: str | None = None
    proration: bool | None = None
    line_type: str | None = None  # subscription | invoiceitem
    subscription: str | None = _ref()
    subscription_item: str | None = None
    invoice_item: str | None = None
    period_start: int | None = _big()
    period_end: int | None = _big()
    discount_amount: int | None = _big()
    tax_amount: int | None = _big()


class InvoiceItem(_StripeObject, table=True):
    __tablename__ = "invoice_items"

    customer: str | None = _ref()
    invoice: str | None = _ref()
    amount: int | None = _big()
    currency: str | None = None
    quantity: int | None = _big()
    price: str | None = _ref()
    product: str | None = None
    proration: bool | None = None
    subscription: str | None = _ref()
    subscription_item: str | None = None
    period_start: int | None = _big()
    period_end: int | None = _big()
    date: int | None = _big()


class InvoicePayment(_StripeObject, table=True):
    __tablename__ = "invoice_payments"

    invoice: str | None = _ref()
    payment_type: str | None = None  # payment_intent | charge | out_of_band ...
    payment_intent: str | None = _ref()
    charge: str | None = _ref()
    status: str | None = None
    amount_paid: int | None = _big()
    amount_requested: int | None = _big()
    currency: str | None = None
    is_default: bool | None = None
    paid_at: int | None = _big()
    canceled_at: int | None = _big()


class Charge(_StripeObject, table=True):
    __tablename__ = "charges"
    # The report's FX table reads the rates of charges settled in the reporting currency;
    # without this, every report scanned every charge of the account. The index holds
    # what it reads, too: read from the rows, each behind its raw JSON, the rates cost
    # about ten times what they cost from the index alone.
    __table_args__ = (
        Index("ix_charges_fx", "account", "livemode", "bt_currency", "currency", "created", "exchange_rate"),
    )

    customer: str | None = _ref()
    invoice: str | None = _ref()  # legacy only
    payment_intent: str | None = _ref()
    amount: int | None = _big()
    amount_captured: int | None = _big()
    amount_refunded: int | None = _big()
    currency: str | None = None
    status: str | None = None
    paid: bool | None = None
    refunded: bool | None = None
    disputed: bool | None = None
    failure_code: str | None = None
    balance_transaction: str | None = None
    exchange_rate: float | None = None  # from the expanded balance transaction
    bt_currency: str | None = None


class Refund(_StripeObject, table=True):
    __tablename__ = "refunds"

    charge: str | None = _ref()
    payment_intent: str | None = _ref()
    amount: int | None = _big()
    currency: str | None = None
    status: str | None = None
    reason: str | None = None


class CreditNote(_StripeObject, table=True):
    __tablename__ = "credit_notes"

    invoice: str | None = _ref()
    customer: str | None = _ref()
    amount: int | None = _big()
    subtotal: int | None = _big()
    total: int | None = _big()
    currency: str | None = None
    status: str | None = None
    type: str | None = None  # pre_payment | post_payment | mixed
    reason: str | None = None
    effective_at: int | None = _big()
    voided_at: int | None = _big()


class CreditNoteLine(_StripeObject, table=True):
    __tablename__ = "credit_note_lines"

    credit_note: str = Field(index=True)
    position: int
    amount: int | None = _big()
    type: str | None = None  # invoice_line_item | custom_line_item
    invoice_line_item: str | None = None
    quantity: int | None = _big()
    unit_amount: int | None = _big()
    discount_amount: int | None = _big()
    tax_amount: int | None = _big()


class Dispute(_StripeObject, table=True):
    __tablename__ = "disputes"

    charge: str | None = _ref()
    payment_intent: str | None = _ref()
    amount: int | None = _big()
    currency: str | None = None
    status: str | None = None
    reason: str | None = None


class Discount(_StripeObject, table=True):
    __tablename__ = "discounts"

    customer: str | None = _ref()
    subscription: str | None = _ref()
    subscription_item: str | None = None
    invoice: str | None = _ref()
    invoice_item: str | None = None
    coupon: str | None = _ref()
    promotion_code: str | None = None
    start: int | None = _big()
    end: int | None = _big()
    # Snapshot of the coupon when it came expanded: a deleted coupon can no longer be
    # listed, but discounts made from it still apply.
    percent_off: float | None = None
    amount_off: int | None = _big()
    currency: str | None = None
    duration: str | None = None
    duration_in_months: int | None = None


class Event(_StripeObject, table=True):
    __tablename__ = "events"

    type: str | None = Field(default=None, index=True)
    object_type: str | None = None
    object_id: str | None = Field(default=None, index=True)
    event_api_version: str | None = None
    request_id: str | None = None


# Columns the store fills itself (``Store.upsert_rows``), not the projection.
CHANGE_COLUMNS = ("changed", "changed_at")

# Every table above, in the order defined: each class of ``_StripeObject`` is one.
OBJECT_TABLES: dict[str, type[SQLModel]] = {str(cls.__tablename__): cls for cls in _StripeObject.__subclasses__()}
