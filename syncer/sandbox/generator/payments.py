"""Money moving: charges (of an invoice, or standalone) with their invoice payments,
balance transactions (in the account's currency) and refunds.
"""

from __future__ import annotations

from typing import Any

from syncer.sandbox.generator.invoicing import mark_paid
from syncer.sandbox.generator.pricing import rdiv
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Sub
from syncer.sandbox.generator.units import DAY, JSON

# Shared by every charge that embeds them (never mutated).
_OUTCOME_OK: JSON = {
    "advice_code": None,
    "network_advice_code": None,
    "network_decline_code": None,
    "network_status": "approved_by_network",
    "reason": None,
    "risk_level": "normal",
    "seller_message": "Payment complete.",
    "type": "authorized",
}

_OUTCOME_FAILED: JSON = {
    "advice_code": "try_again_later",
    "network_advice_code": None,
    "network_decline_code": "51",
    "network_status": "declined_by_network",
    "reason": "insufficient_funds",
    "risk_level": "normal",
    "seller_message": "The bank returned the decline code `insufficient_funds`.",
    "type": "issuer_declined",
}


def charge_invoice(sim: Sim, cust: Cust, inv: JSON, t: int, pi: str, *, failed: bool) -> JSON:
    """Charge an invoice's amount due: its invoice payment, paid (or still open)."""
    amount = inv["amount_due"]
    desc = {"subscription_create": "Subscription creation",
            "subscription_cycle": "Subscription update",
            "subscription_update": "Subscription update"}.get(inv["billing_reason"],
                                                               "Payment for Invoice")
    ch = charge(sim, cust, t, amount, pi, desc, failed=failed)
    inv["attempted"] = True
    inv["attempt_count"] = max(inv["attempt_count"], 1)
    pay = sim.inpay_by_invoice.get(inv["id"])
    if pay is None:
        pay = {
            "id": sim.ids.long("inpay"),
            "object": "invoice_payment",
            "amount_paid": None,
            "amount_requested": amount,
            "created": t,
            "currency": cust.currency,
            "invoice": inv["id"],
            "is_default": True,
            "livemode": sim.livemode,
            "payment": {"payment_intent": pi, "type": "payment_intent"},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        }
        sim.inpay_by_invoice[inv["id"]] = pay
        sim.acct.invoice_payments.append(pay)
    if failed:
        inv["next_payment_attempt"] = t + 3 * DAY
        sim.events.emit(t, "invoice.payment_failed", inv)
        return ch
    sim.paid_charge[inv["id"]] = ch
    pay["status"] = "paid"
    pay["amount_paid"] = amount
    pay["status_transitions"] = {"canceled_at": None, "paid_at": t}
    mark_paid(sim, inv, t)
    sim.events.emit(t, "invoice_payment.paid", pay)
    return ch


def charge(sim: Sim, cust: Cust, t: int, amount: int, pi: str, desc: str, *,
           failed: bool) -> JSON:
    """A card charge (``charge.succeeded`` or ``charge.failed``)."""
    ch_id = sim.ids.long("ch")
    txn = None
    if not failed:
        txn = balance_txn(sim, t, amount, cust.currency, ch_id, "charge", "charge", desc)
    ch: JSON = {
        "id": ch_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": 0 if failed else amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": txn,
        "billing_details": cust.billing,
        "calculated_statement_descriptor": "NORTHWIND",
        "captured": not failed,
        "created": t,
        "currency": cust.currency,
        "customer": cust.customer,
        "description": desc,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": "card_declined" if failed else None,
        "failure_message": "Your card was declined." if failed else None,
        "fraud_details": {},
        "livemode": sim.livemode,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": _OUTCOME_FAILED if failed else _OUTCOME_OK,
        "paid": not failed,
        "payment_intent": pi,
        "payment_method": cust.pm,
        "payment_method_details": cust.pm_details,
        "radar_options": {},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None if failed else (
            f"https://pay.stripe.com/receipts/payment/{ch_id[3:]}"),
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,  # paid through a PaymentIntent, not a legacy source
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "failed" if failed else "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    sim.acct.charges.append(ch)
    if cust.customer_account is not None:  # a charge has no field for it; its refunds do
        sim.charge_accounts[ch_id] = cust.customer_account
    sim.events.emit(t, "charge.failed" if failed else "charge.succeeded", ch)
    return ch


def balance_txn(sim: Sim, t: int, amount: int, currency: str, source: str, type_: str,
                category: str, desc: str | None, *, fee: int | None = None) -> str:
    """A balance transaction in the account's currency (Stripe's fee on charges)."""
    rate = sim.fx(currency, t)
    converted = amount if rate is None else round(amount * rate)
    if fee is None:
        fee = rdiv(abs(converted) * 29, 1000) + 30 if type_ == "charge" else 0
    txn_id = sim.ids.long("txn")
    available = t + 2 * DAY
    sim.acct.balance_transactions[txn_id] = {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": converted,
        "available_on": available,
        "balance_type": "payments",
        "created": t,
        "currency": sim.currency,
        "description": desc,
        "exchange_rate": rate,
        "fee": fee,
        "fee_details": [{"amount": fee, "application": None, "currency": sim.currency,
                         "description": "Stripe processing fees", "type": "stripe_fee"}]
        if fee else [],
        "net": converted - fee,
        "reporting_category": category,
        "source": source,
        "status": "available" if available <= sim.now else "pending",
        "type": type_,
    }
    return txn_id


def refund_charge(sim: Sim, ch: JSON, t: int, amount: int, reason: str | None) -> JSON:
    """Refund ``amount`` of a charge (at most what is left of it)."""
    amount = min(amount, ch["amount"] - ch["amount_refunded"])
    re_id = sim.ids.long("re")
    txn = balance_txn(sim, t, -amount, ch["currency"], re_id, "refund", "refund",
                      "REFUND FOR CHARGE")
    refund: JSON = {
        "id": re_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn,
        "charge": ch["id"],
        "created": t,
        "currency": ch["currency"],
        "customer": ch["customer"],
        "customer_account": sim.charge_accounts.get(ch["id"]),
        "destination_details": {"card": {"reference": None, "reference_status": "pending",
                                         "reference_type": "acquirer_reference_number",
                                         "type": "refund"}, "type": "card"},
        "metadata": {},
        "payment_intent": ch["payment_intent"],
        "payment_method": ch["payment_method"],
        "reason": reason or "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    ch["amount_refunded"] = ch["amount_refunded"] + amount
    ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
    sim.acct.refunds.append(refund)
    sim.events.emit(t, "refund.created", refund)
    sim.events.emit(t, "charge.refunded", ch)
    return refund


def on_refund_last(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """Part or all of the subscription's last charge refunded."""
    ch = sub.last_charge
    if ch is None or ch["amount_refunded"] or ch["disputed"]:
        return
    refund_charge(sim, ch, t, rdiv(ch["amount"], sim.rng.choice((1, 2, 4))), None)
