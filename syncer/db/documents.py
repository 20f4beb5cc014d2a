"""A customer's billing documents as synced: its invoices, payments (charges) and credit
notes, the most recent first, for the dashboard's customer page.

Read from the raw object tables (``syncer.db.objects``): the projected columns, and from
the stored JSON the few fields no column holds (an invoice's number and hosted page, a
charge's failure message). Money stays in integer minor units; the web layer formats it.
Objects deleted in Stripe (a deleted draft invoice) are left out, as Stripe lists them no more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Table, func, select, union
from sqlalchemy.engine import Connection

from syncer.db.facts_store import SPANS, json_text
from syncer.db.store import table

# Documents of each kind a page lists: a customer billed monthly for years has a few
# dozen invoices; a page of hundreds helps nobody (Stripe's dashboard holds them all).
DOCUMENTS_SHOWN = 50

T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """The most recent ``rows`` of a kind, and how many the customer has in all."""

    rows: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        """How many older ones were left out."""
        return self.total - len(self.rows)


@dataclass(frozen=True)
class InvoiceDoc:
    id: str
    number: str | None  # None for a draft (Stripe numbers an invoice when it finalizes it)
    created: int | None
    status: str | None
    currency: str
    total: int
    amount_paid: int
    amount_due: int
    billing_reason: str | None
    subscription: str | None


@dataclass(frozen=True)
class PaymentDoc:
    id: str
    created: int | None
    currency: str
    amount: int
    status: str | None  # succeeded | pending | failed
    failure_code: str | None
    failure_message: str | None
    amount_refunded: int
    invoice: str | None  # set on charges of the legacy invoice API only


@dataclass(frozen=True)
class CreditNoteDoc:
    id: str
    number: str | None
    created: int | None
    currency: str
    total: int
    status: str | None  # issued | void
    reason: str | None
    invoice: str | None


@dataclass(frozen=True)
class CustomerDocuments:
    invoices: Listed[InvoiceDoc]
    payments: Listed[PaymentDoc]
    credit_notes: Listed[CreditNoteDoc]


def customer_documents(conn: Connection, account: str, livemode: bool, customer: str,
                       limit: int = DOCUMENTS_SHOWN) -> CustomerDocuments:
    """The customer's ``limit`` most recent invoices, payments and credit notes of each kind
    in ``account``, each list with the count of all of them."""
    def listed(name: str, columns: Callable[[Table], Sequence[Any]], make: Callable[..., T]) -> Listed[T]:
        t = table(name)
        # ``account || ''``, not ``account``: SQLite's planner, which has no statistics,
        # would read the primary key's (account, livemode), every row of the account,
        # rather than the customer index (seconds at size M, against milliseconds).
        where = ((t.c.account + "") == account, t.c.livemode == livemode, t.c.customer == customer,
                 t.c.deleted_at.is_(None))
        total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
        rows = conn.execute(select(*columns(t)).where(*where).order_by(t.c.created.desc(), t.c.id.desc()).limit(limit))
        return Listed(tuple(make(*row) for row in rows), int(total))

    return CustomerDocuments(
        invoices=listed("invoices", lambda t: _invoice_columns(conn, t), _invoice),
        payments=listed("charges", lambda t: _payment_columns(conn, t), _payment),
        credit_notes=listed("credit_notes", lambda t: _credit_note_columns(conn, t), _credit_note),
    )


def _invoice_columns(conn: Connection, t: Table) -> Sequence[Any]:
    c = t.c
    return (c.id, json_text(conn, c.raw, "number"), c.created, c.status, c.currency, c.total, c.amount_paid,
            c.amount_due, c.billing_reason, c.subscription)


def _invoice(id: str, number: str | None, created: int | None, status: str | None, currency: str | None,
             total: int | None, paid: int | None, due: int | None, reason: str | None,
             subscription: str | None) -> InvoiceDoc:
    return InvoiceDoc(id, number or None, created, status, currency or "", total or 0, paid or 0, due or 0, reason,
                      subscription)


def _payment_columns(conn: Connection, t: Table) -> Sequence[Any]:
    c = t.c
    return (c.id, c.created, c.currency, c.amount, c.status, c.failure_code, json_text(conn, c.raw, "failure_message"),
            c.amount_refunded, c.invoice)


def _payment(id: str, created: int | None, currency: str | None, amount: int | None, status: str | None,
             failure_code: str | None, failure_message: str | None, refunded: int | None,
             invoice: str | None) -> PaymentDoc:
    return PaymentDoc(id, created, currency or "", amount or 0, status, failure_code or None, failure_message or None,
                      refunded or 0, invoice)


def _credit_note_columns(conn: Connection, t: Table) -> Sequence[Any]:
    c = t.c
    return (c.id, json_text(conn, c.raw, "number"), c.created, c.currency, c.total, c.status, c.reason, c.invoice)


def _credit_note(id: str, number: str | None, created: int | None, currency: str | None, total: int | None,
                 status: str | None, reason: str | None, invoice: str | None) -> CreditNoteDoc:
    return CreditNoteDoc(id, number or None, created, currency or "", total or 0, status, reason, invoice)


def accounts_holding(conn: Connection, accounts: Sequence[str], livemode: bool, customer: str) -> list[str]:
    """Which of ``accounts`` hold ``customer``: list it, or hold MRR of it (a customer that
    was not synced itself can still be referenced by subscriptions), in their order."""
    customers = table("customers")
    query: Select[Any] = select(customers.c.account).where(
        customers.c.id == customer, customers.c.livemode == livemode, customers.c.account.in_(accounts))
    spans = select(SPANS.c.account).where(
        SPANS.c.customer == customer, SPANS.c.livemode == livemode, SPANS.c.account.in_(accounts))
    found = {str(a) for (a,) in conn.execute(union(query, spans))}
    return [a for a in accounts if a in found]
