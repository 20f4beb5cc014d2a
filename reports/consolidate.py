"""Several Stripe accounts as one (METRICS.md §5): their customers matched by a key.

A company with one Stripe account per entity or region reports them together: every
account's facts, in the reporting currency, with a customer found in several accounts
(the same e-mail address, or the same value of a metadata key) counted once. A customer
who moves from one account to another is then a continuing customer, not a churn in one
and a new customer in the other: its spans in both accounts are one history.

A matched customer takes the id (and the name) it has in the first account that holds it,
in the order the accounts are given; a customer without a key, or whose key no other
customer shares, keeps its own id. Customer ids are unique across Stripe accounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reports.facts import (
    ChurnEvent,
    Customer,
    CustomerFacts,
    MrrSpan,
    PaymentFailure,
    SubscriptionLabels,
)

BY_EMAIL, NO_MATCH, BY_METADATA = "email", "none", "metadata."
DEFAULT_MATCH_KEY = BY_EMAIL


def parse_match_key(text: str) -> str:
    """``ACCOUNT_MATCH_KEY``: ``email``, ``none`` or ``metadata.KEY`` (a customer metadata
    key, looked up in a JSON path: no double quote), else ``ValueError`` saying so."""
    value = text.strip()
    if value.lower() in (BY_EMAIL, NO_MATCH):
        return value.lower()
    key = value.removeprefix(BY_METADATA)
    if not value.startswith(BY_METADATA) or not key or '"' in key or len(key) > 40:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise ValueError(f"{shown!r} is not email, none or metadata.KEY (a customer metadata key)")
    return value


@dataclass(frozen=True)
class AccountFacts:
    """One account's facts (its batches of customers) and each customer's match key."""

    account: str
    batches: Iterable[CustomerFacts]
    keys: Mapping[str, str]  # customer id → key (a customer without one is not matched)


def consolidate(accounts: Sequence[AccountFacts], batch_size: int) -> list[CustomerFacts]:
    """The facts of every account as batches of at most ``batch_size`` customers, matched
    customers merged under one id (each whole in one batch, as reports need)."""
    owner: dict[str, str] = {}  # match key → the consolidated customer id
    by_customer: dict[str, list[CustomerFacts]] = {}
    for acct in accounts:
        for batch in acct.batches:
            for cid, part in _per_customer(batch).items():
                key = acct.keys.get(cid)
                target = owner.setdefault(key, cid) if key else cid
                by_customer.setdefault(target, []).append(_renamed(part, cid, target))
    out: list[CustomerFacts] = []
    ids = sorted(by_customer)
    for i in range(0, len(ids), batch_size):
        out.append(_merged([p for cid in ids[i : i + batch_size] for p in by_customer[cid]]))
    return out


@dataclass
class _Part:
    """One customer's facts being gathered from a batch."""

    customers: list[Customer] = field(default_factory=list)
    spans: list[MrrSpan] = field(default_factory=list)
    churns: list[ChurnEvent] = field(default_factory=list)
    failures: list[PaymentFailure] = field(default_factory=list)
    subscriptions: list[SubscriptionLabels] = field(default_factory=list)

    def facts(self) -> CustomerFacts:
        return CustomerFacts(tuple(self.customers), tuple(self.spans), tuple(self.churns), tuple(self.failures),
                             tuple(self.subscriptions))


def _per_customer(batch: CustomerFacts) -> dict[str, CustomerFacts]:
    """A batch split into one part per customer (a customer with only its record too)."""
    parts: dict[str, _Part] = {}
    for c in batch.customers:
        parts.setdefault(c.id, _Part()).customers.append(c)
    for s in batch.spans:
        parts.setdefault(s.customer, _Part()).spans.append(s)
    for e in batch.churns:
        parts.setdefault(e.customer, _Part()).churns.append(e)
    for f in batch.failures:
        parts.setdefault(f.customer, _Part()).failures.append(f)
    for sub in batch.subscriptions:
        parts.setdefault(sub.customer, _Part()).subscriptions.append(sub)
    return {cid: part.facts() for cid, part in parts.items()}


def _renamed(part: CustomerFacts, cid: str, target: str) -> CustomerFacts:
    if cid == target:
        return part
    return CustomerFacts(
        customers=tuple(replace(c, id=target) for c in part.customers),
        spans=tuple(replace(s, customer=target) for s in part.spans),
        churns=tuple(replace(e, customer=target) for e in part.churns),
        failures=tuple(replace(f, customer=target) for f in part.failures),
        subscriptions=tuple(replace(s, customer=target) for s in part.subscriptions),
    )


def _merged(parts: Sequence[CustomerFacts]) -> CustomerFacts:
    """The parts as one batch; a customer found in several accounts keeps one record (the
    first account's, with a name from the first that has one)."""
    customers: dict[str, Customer] = {}
    for part in parts:
        for c in part.customers:
            first = customers.setdefault(c.id, c)
            if first.name is None and c.name is not None:
                customers[c.id] = replace(first, name=c.name)
    return CustomerFacts(
        customers=tuple(customers.values()),
        spans=tuple(s for p in parts for s in p.spans),
        churns=tuple(e for p in parts for e in p.churns),
        failures=tuple(f for p in parts for f in p.failures),
        subscriptions=tuple(s for p in parts for s in p.subscriptions),
    )
