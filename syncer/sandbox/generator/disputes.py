"""Disputes of a charge, and the subscription cancelled when one is lost."""

from __future__ import annotations

from syncer.sandbox.generator.lifecycle import end_subscription
from syncer.sandbox.generator.payments import balance_txn
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Sub
from syncer.sandbox.generator.units import DAY, JSON

# Shared by every dispute (never mutated).
_EMPTY_EVIDENCE: JSON = {"enhanced_evidence": {}} | {
    key: None
    for key in (
        "access_activity_log", "billing_address", "cancellation_policy",
        "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
        "customer_email_address", "customer_name", "customer_purchase_ip",
        "customer_signature", "duplicate_charge_documentation",
        "duplicate_charge_explanation", "duplicate_charge_id", "product_description",
        "receipt", "refund_policy", "refund_policy_disclosure",
        "refund_refusal_explanation", "service_date", "service_documentation",
        "shipping_address", "shipping_carrier", "shipping_date", "shipping_documentation",
        "shipping_tracking_number", "uncategorized_file", "uncategorized_text",
    )
}


def on_dispute(sim: Sim, sub: Sub, t: int, status: str) -> None:
    """The last charge disputed; a lost dispute cancels the subscription."""
    ch = sub.last_charge
    if ch is None or ch["disputed"] or ch["amount_refunded"]:
        return
    _dispute_charge(sim, ch, t, status)
    if status == "lost" and sub.status == "active":
        sub.cancellation = {"comment": None, "feedback": None, "reason": "payment_disputed"}
        end_subscription(sim, sub, t, "churn_disputed")


def _dispute_charge(sim: Sim, ch: JSON, t: int, status: str) -> None:
    """A dispute of ``ch`` and its balance transactions (reversed when won)."""
    dp_id = sim.ids.long("dp")
    txn_id = balance_txn(sim, t, -ch["amount"], ch["currency"], dp_id, "adjustment",
                         "dispute", f"Chargeback withdrawal for {ch['id']}", fee=1500)
    txns = [sim.acct.balance_transactions[txn_id]]
    if status == "won":
        back = balance_txn(sim, t + 30 * DAY, ch["amount"], ch["currency"], dp_id,
                           "adjustment", "dispute_reversal",
                           f"Chargeback reversal for {ch['id']}", fee=-1500)
        txns.append(sim.acct.balance_transactions[back])
    dispute: JSON = {
        "id": dp_id,
        "object": "dispute",
        "amount": ch["amount"],
        "balance_transactions": txns,
        "charge": ch["id"],
        "created": t,
        "currency": ch["currency"],
        "enhanced_eligibility_types": [],
        "evidence": _EMPTY_EVIDENCE,
        "evidence_details": {"due_by": t + 21 * DAY, "enhanced_eligibility": {},
                             "has_evidence": status != "needs_response",
                             "past_due": False, "submission_count": int(status != "needs_response"),
                             "submission_method": "not_submitted" if status == "needs_response"
                             else "manual"},
        "is_charge_refundable": False,
        "livemode": sim.livemode,
        "metadata": {},
        "payment_intent": ch["payment_intent"],
        "payment_method_details": {"card": {"brand": ch["payment_method_details"]["card"]["brand"],
                                            "case_type": "chargeback",
                                            "network": ch["payment_method_details"]["card"]["network"],
                                            "network_reason_code": "10.4"}, "type": "card"},
        "reason": "fraudulent",
        "status": status,
    }
    ch["disputed"] = True
    sim.acct.disputes.append(dispute)
    sim.events.emit(t, "charge.dispute.created", dispute)
