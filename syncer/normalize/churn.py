"""Payment failures (METRICS.md §3, last paragraph) and churn events (classified by ``reports.churn``).

Failure time of an invoice: the earliest ``failed`` charge among those that tried to pay
it (charges of the payment intents its invoice payments link, or the legacy
``charge.invoice``). Without charges (not synced, or a Stripe-compatible server), an
invoice that was attempted and is still unpaid, or was paid after more than one
attempt, failed at its finalization (automatic collection attempts payment then).
"""

from __future__ import annotations

from typing import Literal

from reports.churn import EndState, classify_end, classify_payment_state
from reports.facts import ChurnEvent, PaymentFailure
from syncer.normalize.model import Index, invoice_subscription, transition
from syncer.normalize.rules import Obj, as_int, as_str, get, ref
from syncer.stripe.shapes import customer_of


def _failed_charges(ix: Index, invoice: Obj) -> tuple[list[int], int]:
    """(creation times of failed charges, number of charges) that tried to pay ``invoice``."""
    charges = ix.invoice_charges(invoice)
    failed = [as_int(c.get("created")) for c in charges if c.get("status") == "failed"]
    return sorted(t for t in failed if t is not None), len(charges)


def _failure_without_charges(invoice: Obj) -> int | None:
    """First failure time inferred from the invoice alone (see the module docstring)."""
    attempts = as_int(invoice.get("attempt_count")) or 0
    if invoice.get("attempted") is not True or attempts < 1:
        return None
    status = invoice.get("status")
    unpaid = status in ("open", "uncollectible") or (
        status == "void" and transition(invoice, "paid_at") is None
    )
    if not unpaid and not (status == "paid" and attempts >= 2):
        return None
    return transition(invoice, "finalized_at") or as_int(invoice.get("created"))


def payment_failure(ix: Index, invoice: Obj) -> PaymentFailure | None:
    """The failure record of one invoice, or None when it never failed."""
    if invoice.get("status") == "draft":
        return None
    failed, n_charges = _failed_charges(ix, invoice)
    first_failed = failed[0] if failed else _failure_without_charges(invoice)
    if first_failed is None or first_failed > ix.now:
        return None
    attempts = max(as_int(invoice.get("attempt_count")) or 0, n_charges, len(failed), 1)
    paid_at = transition(invoice, "paid_at")
    recovered = paid_at if invoice.get("status") == "paid" and paid_at is not None else None
    closed = None
    if recovered is None:
        closed = transition(invoice, "voided_at") or transition(invoice, "marked_uncollectible_at")
    return PaymentFailure(
        invoice=str(invoice.get("id")),
        customer=customer_of(invoice) or "",
        subscription=invoice_subscription(invoice),
        currency=as_str(invoice.get("currency")) or ix.raw.default_currency,
        amount=as_int(invoice.get("amount_due")) or 0,
        first_failed_at=first_failed,
        attempts=attempts,
        recovered_at=recovered if recovered is not None and recovered <= ix.now else None,
        closed_at=closed if closed is not None and closed <= ix.now else None,
    )


def payment_failures(ix: Index) -> list[PaymentFailure]:
    out = [f for inv in ix.invoices.values() if (f := payment_failure(ix, inv)) is not None]
    return sorted(out, key=lambda f: (f.first_failed_at, f.invoice))


# ---- churn events ------------------------------------------------------------------------------
# What a churn is (voluntary or involuntary, which §3 rule) is decided in
# ``reports.churn``; here, only the evidence read out of Stripe's objects.


def _latest_invoice_owed(ix: Index, sub: Obj, at: int) -> bool:
    """The latest invoice (``latest_invoice``, else the newest one created by ``at``) is
    open or uncollectible. Paid, void, draft or none: nothing was owed."""
    invoice = ix.invoices.get(ref(sub.get("latest_invoice")) or "")
    if invoice is None:
        candidates = [i for i in ix.invoices_by_sub.get(str(sub.get("id")), ())
                      if (as_int(i.get("created")) or 0) <= at]
        invoice = candidates[-1] if candidates else None
    return invoice is not None and invoice.get("status") in ("open", "uncollectible")


def churn_event(ix: Index, sub: Obj, at: int, state: EndState) -> ChurnEvent:
    """The churn of a subscription that ended (or whose cancellation is recognised) at ``at``."""
    details = sub.get("cancellation_details")
    reason = as_str(get(details, "reason"))
    verdict = classify_end(reason, state, _latest_invoice_owed(ix, sub, at))
    return ChurnEvent(
        customer=customer_of(sub) or "",
        subscription=str(sub.get("id")),
        at=at,
        requested_at=as_int(sub.get("canceled_at")),
        kind=verdict.kind,
        rule=verdict.rule,
        derived=verdict.derived,
        reason=reason,
        feedback=as_str(get(details, "feedback")),
        comment=as_str(get(details, "comment")),
    )


def status_churn(sub: Obj, at: int, rule: Literal["past_due", "unpaid"]) -> ChurnEvent:
    """A churn decided by payment state alone (past-due grace rule, or turning unpaid)."""
    verdict = classify_payment_state(rule)
    return ChurnEvent(
        customer=customer_of(sub) or "",
        subscription=str(sub.get("id")),
        at=at,
        requested_at=None,
        kind=verdict.kind,
        rule=verdict.rule,
        derived=verdict.derived,
        reason=None,
        feedback=None,
        comment=None,
    )
