"""End to end: a synthetic account's objects → facts, against the simulation's own truth.

``truth_mrr`` replays the MRR changes the generator made. One difference is known and
excused (in generator_truth.py, and only it): a pause resumed mid-period longer ago than
Stripe keeps events. Stripe records no resume time anywhere else, so the facts restore the
MRR with the first period billed normally after the pause, the truth at the resume itself.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from reports.facts import ChurnKind, Facts
from syncer.normalize import NormalizeSettings, RawAccount, normalize
from syncer.sandbox.generator import (
    Account,
    add_months,
    generate_account,
    month_floor,
    truth_mrr,
)
from syncer.stripe.shapes import customer_of
from tests.syncer.normalize.generator_truth import expected_and_facts, mrr_by_sub, truth_by_sub

NOW = int(datetime(2026, 7, 15, 12, tzinfo=UTC).timestamp())


def _with_coupon(discount: dict[str, Any], coupons: dict[str, Any]) -> dict[str, Any]:
    """A discount as the sync stores it: its coupon expanded (``source.coupon``), which is
    how a coupon deleted before the backfill still reaches the normalizer."""
    coupon = coupons.get(discount["source"]["coupon"])
    return dict(discount, source=dict(discount["source"], coupon=coupon)) if coupon else discount


def raw_account(acct: Account) -> RawAccount:
    """The account's objects as the sync stores them (invoices with all their lines)."""
    deleted = [dict(c, deleted=True) for c in acct.deleted.get("customers", {}).values()]
    coupons = {c["id"]: c for c in [*acct.coupons, *acct.deleted.get("coupons", {}).values()]}
    return RawAccount(
        customers=[*acct.customers, *deleted], prices=acct.prices, products=acct.products,
        coupons=acct.coupons, subscriptions=acct.subscriptions, invoices=acct.invoices,
        invoice_items=acct.invoice_items, invoice_payments=acct.invoice_payments,
        charges=acct.charges, refunds=acct.refunds, credit_notes=acct.credit_notes,
        discounts={d_id: _with_coupon(d, coupons) for d_id, d in acct.discounts.items()},
        events=[e for e in acct.events if e["type"].startswith("customer.subscription.")],
        default_currency=acct.currency, account_name="Northwind",
    )


@cache
def _case(seed: int, customers: int) -> tuple[Account, Facts]:
    acct = generate_account(customers=customers, seed=seed, now=NOW)
    return acct, normalize(raw_account(acct), NormalizeSettings(), now=NOW)


INSTANTS = [add_months(month_floor(NOW), -k) for k in range(24)] + [NOW]


@pytest.mark.parametrize(("seed", "customers"), [(1, 40), (2, 120), (7, 120)])
def test_customer_mrr_matches_the_simulation_at_every_month_start(seed: int,
                                                                   customers: int) -> None:
    acct, facts = _case(seed, customers)
    checked = 0
    for customer in sorted({str(customer_of(s)) for s in acct.subscriptions}):
        for at in INSTANTS:
            assert sum(truth_by_sub(acct, customer, at).values()) == truth_mrr(acct, customer, at)
            expected, got = expected_and_facts(acct, facts, customer, at)
            assert got == expected, (customer, at, mrr_by_sub(facts, customer, at),
                                     truth_by_sub(acct, customer, at))
            checked += truth_mrr(acct, customer, at) > 0
    assert checked > customers * 5  # the comparison saw real MRR


def test_spans_are_well_formed() -> None:
    _, facts = _case(2, 120)
    by_item: dict[str, list[tuple[int, int | None]]] = {}
    for s in facts.spans:
        assert s.start <= NOW and (s.end is None or s.start < s.end <= NOW)
        assert 0 <= s.mrr <= s.contract_mrr
        by_item.setdefault(s.item, []).append((s.start, s.end))
    for spans in by_item.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end is not None and end <= start


def _by_script(acct: Account, index: int) -> str:
    """The customer id of the generator's scripted customer ``index``."""
    return next(c["id"] for c in acct.customers if c["email"].startswith(f"billing+{index}@"))


@pytest.mark.parametrize(
    ("index", "kind", "rule"),
    [
        (1, ChurnKind.INVOLUNTARY, "payment_failed"),  # dunning ended in a cancellation
        (4, ChurnKind.VOLUNTARY, "cancellation_requested"),  # at period end
        (8, ChurnKind.INVOLUNTARY, "payment_disputed"),
    ],
)
def test_scripted_churns_are_classified(index: int, kind: ChurnKind, rule: str) -> None:
    acct, facts = _case(1, 40)
    customer = _by_script(acct, index)
    churns = [c for c in facts.churns if c.customer == customer]
    assert churns and (churns[0].kind, churns[0].rule) == (kind, rule)


def test_scripted_failures_and_revenue_are_present() -> None:
    acct, facts = _case(1, 40)
    recovered = _by_script(acct, 2)
    assert any(f.customer == recovered and f.recovered_at for f in facts.failures)
    kinds = {r.kind for r in facts.revenue}
    assert kinds >= {"recurring", "usage", "one_time", "refund", "credit_note"}
