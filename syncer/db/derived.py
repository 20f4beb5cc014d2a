"""Derived tables: normalized facts, rebuilt from the raw rows by ``nrr normalize``.

Never edited by hand: each normalization replaces an account's rows in one transaction,
so a report always reads one consistent set of facts.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel


class MrrSpanRow(SQLModel, table=True):
    __tablename__ = "mrr_spans"
    __table_args__ = (Index("ix_mrr_spans_customer", "account", "livemode", "customer", "start"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str
    livemode: bool
    customer: str
    subscription: str
    item: str
    price: str | None = None
    currency: str
    start: int = Field(sa_type=BigInteger)
    end: int | None = Field(default=None, sa_type=BigInteger)
    mrr: int = Field(sa_type=BigInteger)
    contract_mrr: int = Field(sa_type=BigInteger)
    cause: str


class ChurnEventRow(SQLModel, table=True):
    __tablename__ = "churn_events"
    # A report reads the facts a range of customers at a time.
    __table_args__ = (Index("ix_churn_events_customer", "account", "livemode", "customer"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str
    livemode: bool
    customer: str
    subscription: str
    at: int = Field(sa_type=BigInteger)
    requested_at: int | None = Field(default=None, sa_type=BigInteger)
    kind: str
    rule: str
    derived: bool
    reason: str | None = None
    feedback: str | None = None
    comment: str | None = Field(default=None, sa_type=Text)


class RevenueLineRow(SQLModel, table=True):
    __tablename__ = "revenue_lines"
    # A report reads one account's lines of a few months: without the account in the same
    # index as the time, SQLite read every line of the account to find them.
    # By customer: an incremental normalization replaces the lines of the customers whose
    # data changed. No more than these two: each one is written for every line.
    __table_args__ = (Index("ix_revenue_lines_period", "account", "livemode", "at"),
                      Index("ix_revenue_lines_customer", "account", "livemode", "customer"))

    id: int | None = Field(default=None, primary_key=True)
    account: str
    livemode: bool
    at: int = Field(sa_type=BigInteger)
    customer: str | None = None
    source: str
    kind: str
    amount: int = Field(sa_type=BigInteger)
    currency: str


class PaymentFailureRow(SQLModel, table=True):
    __tablename__ = "payment_failures"
    __table_args__ = (Index("ix_payment_failures_customer", "account", "livemode", "customer"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str
    livemode: bool
    invoice: str
    customer: str
    subscription: str | None = None
    currency: str
    amount: int = Field(sa_type=BigInteger)
    first_failed_at: int = Field(sa_type=BigInteger)
    attempts: int
    recovered_at: int | None = Field(default=None, sa_type=BigInteger)
    closed_at: int | None = Field(default=None, sa_type=BigInteger)


class NormalizationRun(SQLModel, table=True):
    """When an account's facts were last brought up to date, and from data as of when."""

    __tablename__ = "normalizations"

    account: str = Field(primary_key=True)
    livemode: bool = Field(primary_key=True)
    data_as_of: int = Field(sa_type=BigInteger)
    finished_at: int = Field(sa_type=BigInteger)
    # Facts stored for the account after the run.
    spans: int = 0
    churns: int = 0
    revenue_lines: int = 0
    failures: int = 0
    customers: int = 0
    # The facts reflect every object change numbered up to ``through_change``, under the
    # settings and code whose fingerprint is ``fingerprint``; None: before either was kept
    # (the next run rebuilds everything).
    through_change: int | None = Field(default=None, sa_type=BigInteger)
    fingerprint: str | None = None
    kind: str | None = None  # full | incremental
    customers_updated: int | None = None  # customers whose facts the run re-derived
    full_at: int | None = Field(default=None, sa_type=BigInteger)  # the last full rebuild


class FactHorizon(SQLModel, table=True):
    """Until when a customer's facts stay true without new data: the first instant at
    which the rules, given the same objects, could derive other facts (a trial or a
    period ends, a grace period runs out, a scheduled cancellation takes effect).
    Normalization re-derives the customers whose horizon ``data_as_of`` has reached.
    Customer ``""``: the objects of no customer."""

    __tablename__ = "fact_horizons"
    __table_args__ = (Index("ix_fact_horizons_until", "account", "livemode", "valid_until"),)

    account: str = Field(primary_key=True)
    livemode: bool = Field(primary_key=True)
    customer: str = Field(primary_key=True)
    valid_until: int = Field(sa_type=BigInteger)


class UnownedObject(SQLModel, table=True):
    """An object the last normalization found in no customer's batch although it can
    belong to one through another row (a refund whose charge was not stored): when that
    row arrives, the facts of no customer are re-derived without it."""

    __tablename__ = "unowned_objects"

    account: str = Field(primary_key=True)
    livemode: bool = Field(primary_key=True)
    table_name: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
