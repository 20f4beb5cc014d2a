"""Invoices: built from their lines and the pending invoice items, with discounts and
taxes; then paid, voided or marked uncollectible.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncer.sandbox.generator.discount_amounts import apply_discounts, apply_item_discounts
from syncer.sandbox.generator.lines import ii_line
from syncer.sandbox.generator.pricing import rdiv
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Disc, Sub
from syncer.sandbox.generator.units import JSON

TAX_PERCENT = 20  # VAT on foreign-currency customers, exclusive

# Shared by every invoice that embeds them (never mutated).
_INVOICE_PAYMENT_SETTINGS: JSON = {
    "default_mandate": None,
    "payment_method_options": None,
    "payment_method_types": None,
}

_AUTOMATIC_TAX: JSON = {
    "disabled_reason": None,
    "enabled": False,
    "liability": None,
    "provider": None,
    "status": None,
}

_ISSUER_SELF: JSON = {"type": "self"}

_NO_TRANSITIONS: JSON = {
    "finalized_at": None,
    "marked_uncollectible_at": None,
    "paid_at": None,
    "voided_at": None,
}


@dataclass(frozen=True, slots=True)
class _Totals:
    """An invoice's amounts, in minor units of its currency."""

    subtotal: int
    discounts: dict[str, int]  # discount id -> its amount off
    tax: int
    starting: int  # the customer's balance before it (negative: a credit)

    @property
    def excluding_tax(self) -> int:
        return self.subtotal - sum(self.discounts.values())

    @property
    def total(self) -> int:
        return self.excluding_tax + self.tax

    @property
    def due(self) -> int:
        return max(0, self.total + self.starting)


def invoice(sim: Sim, cust: Cust, t: int, reason: str, *, sub: Sub | None,
            lines: list[JSON], period: tuple[int, int], finalize_at: int,
            inv_id: str | None = None, items: list[JSON] | None = None,
            finalize: bool = True) -> JSON:
    """Build (and append) an invoice, with pending invoice items folded in.

    ``finalize=False``: a draft kept as one (``auto_advance`` false).
    """
    inv_id = inv_id or sim.ids.long("in")
    pending = items if items is not None else (sub.pending if sub is not None else [])
    lines = lines + [ii_line(sim, inv_id, ii) for ii in pending]
    if sub is not None and items is None:
        sub.pending = []
    total_disc = apply_item_discounts(lines, sub) if sub and sub.item_discounts else {}
    discounts = _invoice_discounts(cust, sub, t)
    for di, amount in apply_discounts(lines, discounts).items():
        total_disc[di] = total_disc.get(di, 0) + amount
    tax_total = _apply_taxes(sim, lines) if cust.taxed else 0
    subtotal = sum(ln["amount"] for ln in lines)
    totals = _Totals(subtotal, total_disc, tax_total, starting=cust.balance)
    cust.balance = min(0, totals.total + totals.starting)
    finalized = finalize and finalize_at <= sim.now
    number = None
    if finalized:
        cust.seq += 1
        number = f"{cust.obj['invoice_prefix']}-{cust.seq:04d}"
    inv = _invoice_object(sim, inv_id, cust, t, reason, sub=sub, lines=lines, period=period,
                          discounts=discounts, totals=totals, finalize=finalize,
                          finalize_at=finalize_at, number=number)
    sim.acct.invoices.append(inv)
    if sub is not None:
        sub.latest_invoice = inv_id
    sim.events.emit(t, "invoice.created", inv, status="draft", number=None,
                    status_transitions=_NO_TRANSITIONS)
    if finalized:
        sim.events.emit(finalize_at, "invoice.finalized", inv)
    return inv


def mark_paid(sim: Sim, inv: JSON, t: int) -> None:
    """The invoice is paid in full."""
    inv["status"] = "paid"
    inv["amount_paid"] = inv["amount_due"]
    inv["amount_remaining"] = 0
    inv["attempted"] = True
    inv["auto_advance"] = False
    inv["next_payment_attempt"] = None
    inv["status_transitions"] = {**inv["status_transitions"], "paid_at": t}
    sim.events.emit(t, "invoice.paid", inv)
    sim.events.emit(t, "invoice.payment_succeeded", inv)


def void(sim: Sim, inv: JSON, t: int) -> None:
    """The invoice is voided: nothing more is owed."""
    inv["status"] = "void"
    inv["amount_remaining"] = 0
    inv["auto_advance"] = False
    inv["next_payment_attempt"] = None
    inv["status_transitions"] = {**inv["status_transitions"], "voided_at": t}
    sim.events.emit(t, "invoice.voided", inv)


def mark_uncollectible(sim: Sim, inv: JSON, t: int) -> None:
    """The invoice is marked uncollectible: no more payment attempts."""
    inv["status"] = "uncollectible"
    inv["auto_advance"] = False
    inv["next_payment_attempt"] = None
    inv["status_transitions"] = {**inv["status_transitions"], "marked_uncollectible_at": t}
    sim.events.emit(t, "invoice.marked_uncollectible", inv)


def _invoice_discounts(cust: Cust, sub: Sub | None, t: int) -> list[Disc]:
    """Invoice-level discounts: the subscription's, else the customer's."""
    if sub is not None:
        return sub.discounts_at(t)
    d = cust.discount
    return [d] if d is not None and d.active(t) else []


def _apply_taxes(sim: Sim, lines: list[JSON]) -> int:
    """VAT on each line's amount after discounts; the invoice's tax total."""
    tax_total = 0
    for ln in lines:
        net = ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"])
        tax = rdiv(net * TAX_PERCENT, 100)
        tax_total += tax
        ln["taxes"] = [{
            "amount": tax,
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": sim.tax_rate},
            "taxability_reason": "standard_rated",
            "taxable_amount": net,
            "type": "tax_rate_details",
        }]
    return tax_total


def _invoice_object(sim: Sim, inv_id: str, cust: Cust, t: int, reason: str, *,
                    sub: Sub | None, lines: list[JSON], period: tuple[int, int],
                    discounts: list[Disc], totals: _Totals, finalize: bool,
                    finalize_at: int, number: str | None) -> JSON:
    """The ``invoice`` object; ``number`` is given once it is finalized."""
    finalized = number is not None
    return {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": sim.acct.account["business_profile"]["name"],
        "account_tax_ids": None,
        "amount_due": totals.due,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": totals.due,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": finalize and not finalized,
        "automatic_tax": _AUTOMATIC_TAX,
        "automatically_finalizes_at": finalize_at if finalize and not finalized else None,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": t,
        "currency": cust.currency,
        "custom_fields": None,
        "customer": cust.customer,
        "customer_account": cust.customer_account,
        "customer_address": cust.obj["address"],
        "customer_email": cust.obj["email"],
        "customer_name": cust.obj["name"],
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [d.id for d in discounts],
        "due_date": None,
        "effective_at": finalize_at if finalized else None,
        "ending_balance": cust.balance if finalized else None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": (f"https://invoice.stripe.com/i/{sim.acct.account['id']}/"
                               f"{sim.mode}_{inv_id[3:]}" if finalized else None),
        "invoice_pdf": (f"https://pay.stripe.com/invoice/{sim.acct.account['id']}/"
                        f"{sim.mode}_{inv_id[3:]}/pdf" if finalized else None),
        "issuer": _ISSUER_SELF,
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {"object": "list", "data": lines, "has_more": False,
                  "url": f"/v1/invoices/{inv_id}/lines"},
        "livemode": sim.livemode,
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "on_behalf_of": None,
        "parent": None if sub is None else {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": sub.id},
            "type": "subscription_details",
        },
        "payment_settings": _INVOICE_PAYMENT_SETTINGS,
        "period_end": period[1],
        "period_start": period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": totals.starting,
        "statement_descriptor": None,
        "status": "open" if finalized else "draft",
        "status_transitions": {
            "finalized_at": finalize_at if finalized else None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": totals.subtotal,
        "subtotal_excluding_tax": totals.subtotal,
        "test_clock": cust.clock,
        "total": totals.total,
        "total_discount_amounts": [
            {"amount": a, "discount": d} for d, a in totals.discounts.items()
        ],
        "total_excluding_tax": totals.excluding_tax,
        "total_pretax_credit_amounts": [
            {"amount": a, "credit_balance_transaction": None, "discount": d,
             "type": "discount"} for d, a in totals.discounts.items()
        ],
        "total_taxes": [{
            "amount": totals.tax,
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": sim.tax_rate},
            "taxability_reason": "standard_rated",
            "taxable_amount": totals.excluding_tax,
            "type": "tax_rate_details",
        }] if cust.taxed else [],
        "webhooks_delivered_at": t,
    }
