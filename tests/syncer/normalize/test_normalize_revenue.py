"""Revenue: recurring, usage, one-time, refunds, credit notes (METRICS.md §4)."""

from __future__ import annotations

from typing import Any

import pytest

from reports.facts import RevenueKind
from tests.syncer.normalize.builders import (
    CUS,
    DAY,
    HOUR,
    JSON,
    T0,
    charge,
    facts_of,
    invoice,
    invoice_payment,
    line,
    month,
    price,
)

NOW = month(3)
PRO = price("price_pro", 9900)
API = price("price_api", 1, usage="metered")
SETUP = price("price_setup", 50000, recurring=False)
FINALIZED = T0 + HOUR


def _lines() -> list[JSON]:
    period = (T0, month(1))
    return [
        line("il_rec", 9900, PRO, discounts=[990], period=period),
        line("il_pro", -2000, PRO, proration=True, period=(T0 + 10 * DAY, month(1))),
        line("il_use", 3000, API, quantity=3000, item_id="si_m", period=(month(-1), T0)),
        line("il_fee", 50000, SETUP, item_id=None),  # setup fee: an invoice item
        line("il_inc", 1200, SETUP, item_id=None, taxes=[(200, "inclusive")]),
        line("il_exc", 1200, SETUP, item_id=None, taxes=[(240, "exclusive")]),
    ]


def _revenue(status: str = "paid", **extra: Any) -> dict[str, tuple[RevenueKind, int, int]]:
    inv = invoice("in_1", _lines(), created=T0, status=status, finalized_at=FINALIZED,
                  reason="subscription_create")
    facts = facts_of(now=NOW, invoices=[inv], prices=[PRO, API, SETUP], **extra)
    return {r.source: (r.kind, r.amount, r.at) for r in facts.revenue}


@pytest.mark.parametrize(
    ("source", "kind", "amount"),
    [
        ("il_rec", RevenueKind.RECURRING, 9900 - 990),  # after its discounts
        ("il_pro", RevenueKind.RECURRING, -2000),  # prorations are recurring revenue
        ("il_use", RevenueKind.USAGE, 3000),
        ("il_fee", RevenueKind.ONE_TIME, 50000),
        ("il_inc", RevenueKind.ONE_TIME, 1000),  # an inclusive tax is taken out
        ("il_exc", RevenueKind.ONE_TIME, 1200),  # an exclusive tax was never in it
    ],
)
def test_invoice_lines_are_classified(source: str, kind: RevenueKind, amount: int) -> None:
    assert _revenue()[source] == (kind, amount, FINALIZED)  # at finalization


@pytest.mark.parametrize("status", ["draft", "void"])
def test_unfinalized_or_void_invoices_bill_nothing(status: str) -> None:
    assert _revenue(status) == {}


def test_standalone_charges_versus_invoice_payments() -> None:
    legacy = dict(charge("ch_legacy", 700, created=T0), invoice="in_old")
    charges = [
        charge("ch_inv", 9900, created=T0, pi="pi_1"),  # pays in_1 (an invoice payment)
        charge("ch_alone", 4900, created=T0 + DAY, pi="pi_2"),
        charge("ch_fail", 4900, created=T0 + DAY, pi="pi_3", status="failed"),
        legacy,
    ]
    rev = _revenue(charges=charges,
                   invoice_payments=[invoice_payment("inpay_1", "in_1", "pi_1", paid_at=T0)])
    assert rev["ch_alone"] == (RevenueKind.ONE_TIME, 4900, T0 + DAY)
    assert not {"ch_inv", "ch_fail", "ch_legacy"} & set(rev)


def test_refunds_and_credit_notes_are_reported_beside() -> None:
    refunds = [
        {"id": "re_1", "object": "refund", "amount": 2500, "charge": "ch_1",
         "created": T0 + 5 * DAY, "currency": "usd", "payment_intent": "pi_1",
         "status": "succeeded"},
        {"id": "re_2", "object": "refund", "amount": 100, "charge": "ch_1",
         "created": T0 + 5 * DAY, "currency": "usd", "payment_intent": "pi_1",
         "status": "failed"},
    ]
    notes = [
        {"id": "cn_1", "object": "credit_note", "amount": 1200, "created": T0 + 6 * DAY,
         "effective_at": T0 + 7 * DAY, "currency": "usd", "customer": CUS, "invoice": "in_1",
         "status": "issued", "subtotal": 1000, "total": 1200, "total_excluding_tax": 1000,
         "total_taxes": [{"amount": 200, "tax_behavior": "exclusive"}]},
        {"id": "cn_2", "object": "credit_note", "amount": 500, "created": T0 + 6 * DAY,
         "effective_at": T0 + 6 * DAY, "currency": "usd", "customer": CUS, "invoice": "in_1",
         "status": "void", "total_excluding_tax": 500},
    ]
    charges = [charge("ch_1", 9900, created=T0, pi="pi_1")]
    rev = _revenue(refunds=refunds, credit_notes=notes, charges=charges)
    assert rev["re_1"] == (RevenueKind.REFUND, 2500, T0 + 5 * DAY)
    assert rev["cn_1"] == (RevenueKind.CREDIT_NOTE, 1000, T0 + 7 * DAY)  # excluding tax
    assert "re_2" not in rev and "cn_2" not in rev


def test_revenue_is_never_mrr() -> None:
    inv = invoice("in_1", [line("il_fee", 50000, SETUP, item_id=None)], created=T0,
                  reason="manual", sub=None)
    facts = facts_of(now=NOW, invoices=[inv], prices=[SETUP],
                     charges=[charge("ch_alone", 4900, created=T0 + DAY)])
    assert facts.spans == () and len(facts.revenue) == 2
