"""Raw synced Stripe objects → ``reports.facts`` (pure: no database, network or clock).

Entry point: ``normalize(raw, settings, now=...)``. ``now`` is the instant the data
describes: spans still in force end with None and nothing is computed after it.
Rules: /docs/METRICS.md §1 (MRR spans), §3 (churn, payment failures), §4 (revenue);
see each module's docstring for the choices the contract leaves open.
"""

from __future__ import annotations

from collections import defaultdict

from reports.facts import ChurnEvent, Customer, Facts, MrrSpan, PaymentFailure
from syncer.normalize.churn import payment_failures
from syncer.normalize.model import Index, NormalizeSettings, RawAccount
from syncer.normalize.mrr import subscription_facts
from syncer.normalize.revenue import revenue
from syncer.normalize.rules import as_str

__all__ = [
    "NormalizeSettings",
    "RawAccount",
    "normalize",
]


def _customers(raw: RawAccount) -> tuple[Customer, ...]:
    out = [
        Customer(
            id=str(c["id"]),
            name=as_str(c.get("name")),
            currency=as_str(c.get("currency")),
            deleted=c.get("deleted") is True,
        )
        for c in raw.customers
        if isinstance(c.get("id"), str)
    ]
    return tuple(sorted(out, key=lambda c: c.id))


def normalize(raw: RawAccount, settings: NormalizeSettings, *, now: int) -> Facts:
    """Every fact the metrics need about one account, as of ``now``."""
    ix = Index.build(raw, now)
    failures = payment_failures(ix)
    by_sub: dict[str, list[PaymentFailure]] = defaultdict(list)
    for f in failures:
        if f.subscription is not None:
            by_sub[f.subscription].append(f)
    spans: list[MrrSpan] = []
    churns: list[ChurnEvent] = []
    for sub in raw.subscriptions:
        sub_id = as_str(sub.get("id"))
        if sub_id is None:
            continue
        sub_spans, sub_churns = subscription_facts(ix, sub, settings, by_sub.get(sub_id, []))
        spans += sub_spans
        churns += sub_churns
    return Facts(
        customers=_customers(raw),
        spans=tuple(sorted(spans, key=lambda s: (s.customer, s.subscription, s.item, s.start))),
        churns=tuple(sorted(churns, key=lambda c: (c.at, c.subscription, c.rule))),
        revenue=tuple(revenue(ix)),
        failures=tuple(failures),
        default_currency=raw.default_currency,
        account_name=raw.account_name,
    )
