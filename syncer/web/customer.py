"""The dashboard's customer page: which accounts hold the customer asked, and what the page
shows of it (MRR spans, churn events, invoices, payments, credit notes), each with its link
into Stripe's dashboard.

A customer is looked up in one account (``?account=acct_…``, ``platform``, or by default
whichever synced account holds the id: Stripe's customer ids are unique across accounts),
or in all of them (``?account=all``): then, as in a consolidated report, the customers
of every account matched with it by ``ACCOUNT_MATCH_KEY`` are one customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from reports.facts import CustomerFacts
from reports.render.email_text import as_of, cash
from syncer.app.accounts import AccountRef, platform_account, scope_of, synced_accounts
from syncer.app.settings import Settings
from syncer.db.documents import (
    DOCUMENTS_SHOWN,
    CustomerDocuments,
    Listed,
    accounts_holding,
    customer_documents,
)
from syncer.db.facts_store import customer_facts, load_plans, matched_customers
from syncer.db.store import Store

STRIPE_DASHBOARD = "https://dashboard.stripe.com"


@dataclass(frozen=True)
class Holder:
    """The customer as one account holds it."""

    ref: AccountRef
    customer: str
    stripe: str  # the account's Stripe dashboard URL, every object's link starts with it


def holders(settings: Settings, store: Store, conn: Connection, customer: str, account: str | None) -> list[Holder]:
    """Where to read ``customer``: the account asked (``platform``, ``all`` or an id;
    raises ``ConfigError`` for an account not synced), else the one account holding it,
    else the platform's. With ``all``, every matched customer (none when no account holds it)."""
    platform = platform_account(store)
    scope = scope_of(settings, store, account) if account else None
    refs = scope.accounts if scope else synced_accounts(settings, store)
    by_id = {r.account: r for r in refs}
    if scope is None:
        held = accounts_holding(conn, list(by_id), platform.livemode, customer)
        found = [(held[0] if len(held) == 1 else platform.account, customer)]
    elif scope.consolidated:
        found = (matched_customers(conn, list(by_id), platform.livemode, customer, settings.account_match_key)
                 or [(a, customer) for a in accounts_holding(conn, list(by_id), platform.livemode, customer)])
    else:
        found = [(scope.first.account, customer)]
    return [Holder(by_id[a], cid, stripe_dashboard(by_id[a], platform)) for a, cid in found]


def stripe_dashboard(ref: AccountRef, platform: AccountRef) -> str:
    """The root of ``ref``'s objects in Stripe's dashboard: a connected account's are under
    its id (the platform's login sees them there), test data under ``/test``."""
    connected = "" if ref.account == platform.account else f"/{ref.account}"
    return f"{STRIPE_DASHBOARD}{connected}{'' if ref.livemode else '/test'}"


def customer_page(conn: Connection, found: Sequence[Holder]) -> dict[str, Any] | None:
    """The page's context: ``found``'s facts and documents together (the first one's name),
    newest documents first; None when none of them has any fact or record."""
    parts = [(h, customer_facts(conn, h.ref.account, h.ref.livemode, [h.customer])) for h in found]
    parts = [(h, f) for h, f in parts if f.customers or f.spans]
    if not parts:
        return None
    names = [c.label for _, f in parts for c in f.customers if c.label]
    spans = [row for h, facts in parts for row in _span_rows(conn, h, facts)]
    churns = [row for h, facts in parts for row in _churn_rows(h, facts)]
    docs = [(h, customer_documents(conn, h.ref.account, h.ref.livemode, h.customer, DOCUMENTS_SHOWN))
            for h, _ in parts]
    first = parts[0][0]
    return {
        "customer": first.customer, "name": names[0] if names else first.customer,
        "stripe_url": _link(first, "customers", first.customer),
        "elsewhere": [{"account": h.ref.account, "customer": h.customer, "url": _link(h, "customers", h.customer)}
                      for h, _ in parts[1:]],
        "spans": sorted(spans, key=lambda s: s["sort"]),
        "churns": sorted(churns, key=lambda e: e["sort"]),
        "invoices": _newest([_invoice_rows(h, d) for h, d in docs], [d.invoices for _, d in docs]),
        "payments": _newest([_payment_rows(h, d) for h, d in docs], [d.payments for _, d in docs]),
        "credit_notes": _newest([_credit_note_rows(h, d) for h, d in docs], [d.credit_notes for _, d in docs]),
    }


def _span_rows(conn: Connection, h: Holder, facts: CustomerFacts) -> list[dict[str, Any]]:
    plans = {p.price: p.name for p in load_plans(conn, h.ref.account, h.ref.livemode)}
    return [{"sort": (s.start, s.item), "start": as_of(s.start), "end": as_of(s.end) if s.end else "now",
             "item": s.item, "price": plans.get(s.price, s.price) if s.price else "", "mrr": cash(s.mrr, s.currency),
             "cause": str(s.cause), "subscription": s.subscription,
             "subscription_url": _link(h, "subscriptions", s.subscription)} for s in facts.spans]


def _churn_rows(h: Holder, facts: CustomerFacts) -> list[dict[str, Any]]:
    return [{"sort": e.at, "at": as_of(e.at), "kind": str(e.kind), "rule": e.rule, "subscription": e.subscription,
             "subscription_url": _link(h, "subscriptions", e.subscription)} for e in facts.churns]


def _link(h: Holder, kind: str, object_id: str | None) -> str | None:
    return f"{h.stripe}/{kind}/{object_id}" if object_id else None


def _invoice_rows(h: Holder, docs: CustomerDocuments) -> list[dict[str, Any]]:
    return [{"at": i.created or 0, "id": i.id, "number": i.number or "(draft)", "date": _date(i.created),
             "status": i.status or "", "total": cash(i.total, i.currency), "paid": cash(i.amount_paid, i.currency),
             "due": cash(i.amount_due, i.currency), "reason": (i.billing_reason or "").replace("_", " "),
             "url": _link(h, "invoices", i.id)} for i in docs.invoices.rows]


def _payment_rows(h: Holder, docs: CustomerDocuments) -> list[dict[str, Any]]:
    return [{"at": p.created or 0, "id": p.id, "date": _date(p.created), "amount": cash(p.amount, p.currency),
             "status": _PAYMENT_STATUS.get(p.status or "", p.status or ""), "failed": p.status == "failed",
             "failure": ": ".join(x for x in (p.failure_code, p.failure_message) if x),
             "refunded": cash(p.amount_refunded, p.currency) if p.amount_refunded else "",
             "url": _link(h, "payments", p.id)} for p in docs.payments.rows]


# Stripe's dashboard says a charge that succeeded is "Succeeded"; finance says paid.
_PAYMENT_STATUS = {"succeeded": "paid", "failed": "failed", "pending": "pending"}


def _credit_note_rows(h: Holder, docs: CustomerDocuments) -> list[dict[str, Any]]:
    # Linked through their invoice: the dashboard shows a credit note on its invoice's page.
    return [{"at": n.created or 0, "id": n.id, "number": n.number or n.id, "date": _date(n.created),
             "total": cash(n.total, n.currency), "status": n.status or "",
             "reason": (n.reason or "").replace("_", " "), "url": _link(h, "invoices", n.invoice)}
            for n in docs.credit_notes.rows]


def _newest(rows: Iterable[list[dict[str, Any]]], listed: Iterable[Listed[Any]]) -> dict[str, Any]:
    """Rows of every account, the newest ``DOCUMENTS_SHOWN`` first, and how many were left out."""
    every = sorted((r for part in rows for r in part), key=lambda r: (r["at"], r["id"]), reverse=True)
    total = sum(x.total for x in listed)
    shown = every[:DOCUMENTS_SHOWN]
    return {"rows": shown, "total": total, "more": total - len(shown)}


def _date(at: int | None) -> str:
    """``2026-05-03`` (the day of ``as_of``)."""
    return as_of(at)[:10] if at is not None else ""
