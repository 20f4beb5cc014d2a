"""Credit notes issued after payment: refunded, or credited to the customer's balance."""

from __future__ import annotations

from typing import Any

from syncer.sandbox.generator.payments import refund_charge
from syncer.sandbox.generator.pricing import rdiv
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Sub
from syncer.sandbox.generator.units import JSON


def credit_note(sim: Sim, cust: Cust, inv: JSON, t: int, parts: list[tuple[JSON, int]], *,
                reason: str, refund: bool) -> None:
    """A credit note on a paid invoice: ``parts`` are (line, amount credited)."""
    if not parts or inv["status"] != "paid":
        return
    cn_id = sim.ids.long("cn")
    total = sum(a for _, a in parts)
    refunds: list[JSON] = []
    cbt = None
    ch = sim.paid_charge.get(inv["id"]) if refund else None
    if ch is not None and ch["amount"] - ch["amount_refunded"] >= total and not ch["disputed"]:
        re = refund_charge(sim, ch, t, total, None)
        refunds.append({"amount_refunded": total, "payment_record_refund": None,
                        "refund": re["id"], "type": "refund"})
    else:  # credited to the customer's balance, used by the next invoices
        cbt = sim.ids.long("cbtxn")
        cust.balance -= total
    lines = [_credit_note_line(sim, ln, a) for ln, a in parts]
    seq = sim.cn_count.get(inv["id"], 0) + 1
    sim.cn_count[inv["id"]] = seq
    cn: JSON = {
        "id": cn_id,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": t,
        "currency": inv["currency"],
        "customer": inv["customer"],
        "customer_account": inv["customer_account"],
        "customer_balance_transaction": cbt,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": t,
        "invoice": inv["id"],
        "lines": {"object": "list", "data": lines, "has_more": False,
                  "url": f"/v1/credit_notes/{cn_id}/lines"},
        "livemode": sim.livemode,
        "memo": None,
        "metadata": {},
        "number": f"{inv['number']}-CN-{seq:02d}",
        "out_of_band_amount": None,
        "pdf": f"https://pay.stripe.com/credit_notes/{sim.acct.account['id']}/{cn_id}/pdf",
        "post_payment_amount": total,
        "pre_payment_amount": 0,
        "pretax_credit_amounts": [],
        "reason": reason,
        "refunds": refunds,
        "shipping_cost": None,
        "status": "issued",
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_excluding_tax": total,
        "total_taxes": [],
        "type": "post_payment",
        "voided_at": None,
    }
    inv["post_payment_credit_notes_amount"] = inv["post_payment_credit_notes_amount"] + total
    sim.acct.credit_notes.append(cn)
    sim.events.emit(t, "credit_note.created", cn)


def on_credit_note_full(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """A tenth of every line of the last paid invoice credited to the balance."""
    inv = sub.last_paid_invoice
    if inv is None:
        return
    lines = [(ln, rdiv(ln["amount"], 10)) for ln in inv["lines"]["data"] if ln["amount"] > 0]
    credit_note(sim, sub.cust, inv, t, lines, reason="product_unsatisfactory", refund=False)


def on_credit_note(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """Part of the last paid invoice's first line credited, refunded or not."""
    inv = sub.last_paid_invoice
    if inv is None or sub.cust.taxed or inv["post_payment_credit_notes_amount"]:
        return
    line = inv["lines"]["data"][0]
    if line["amount"] <= 0:
        return
    amount = rdiv(line["amount"], sim.rng.choice((2, 4, 10)))
    credit_note(sim, sub.cust, inv, t, [(line, amount)], reason="product_unsatisfactory",
                refund=sim.rng.random() < 0.5)


def _credit_note_line(sim: Sim, ln: JSON, a: int) -> JSON:
    """The credit note's line crediting ``a`` of invoice line ``ln``."""
    return {
        "id": sim.ids.long("cnli"),
        "object": "credit_note_line_item",
        "amount": a,
        "description": ln["description"],
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice_line_item": ln["id"],
        "livemode": sim.livemode,
        "metadata": {},
        "pretax_credit_amounts": [],
        "quantity": ln["quantity"],
        "tax_rates": [],
        "taxes": [],
        "type": "invoice_line_item",
        "unit_amount": None,
        "unit_amount_decimal": None,
    }
