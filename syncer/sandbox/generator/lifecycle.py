"""A subscription's status changes: a cancellation (at period end, withdrawn, at once),
pausing and resuming collection, a trial ending paused, an incomplete start expiring.
"""

from __future__ import annotations

from typing import Any

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.credit_notes import credit_note
from syncer.sandbox.generator.invoicing import mark_uncollectible, void
from syncer.sandbox.generator.pricing import rdiv
from syncer.sandbox.generator.probabilities import P_WITHDRAW
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Sub
from syncer.sandbox.generator.subscription_object import snapshot_event
from syncer.sandbox.generator.truth import record
from syncer.sandbox.generator.units import DAY, HOUR, JSON

# ``cancellation_details``: the feedback Stripe lets a customer give, and some comments.
FEEDBACK = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)
COMMENTS = (
    "We are consolidating tools this quarter.",
    "Budget cuts, may come back next year.",
    "Moved to an in-house solution.",
    "Not enough time to set it up properly.",
)

_PAUSE_BEHAVIORS = ("void", "keep_as_draft", "mark_uncollectible")


def end_subscription(sim: Sim, sub: Sub, t: int, kind: str) -> None:
    """The subscription ends at ``t`` (``kind``: which churn it is)."""
    sub.status = "canceled"
    sub.ended_at = t
    if sub.canceled_at is None:
        sub.canceled_at = t
    sub.discounts = [d for d in sub.discounts if d.end is None or d.end > t]
    record(sim, sub, t, kind)
    snapshot_event(sim, sub, t, "customer.subscription.deleted")


def on_cancel_request(sim: Sim, sub: Sub, t: int, arg: tuple[str, str | None]) -> None:
    """A cancellation at period end is requested (``arg``: feedback, comment)."""
    if sub.status not in ("active", "trialing") or sub.cancel_at_period_end:
        return
    sub.cancel_at_period_end = True
    sub.cancel_at = sub.period_end
    sub.canceled_at = t
    sub.cancellation = {"comment": arg[1], "feedback": arg[0],
                        "reason": "cancellation_requested"}
    snapshot_event(sim, sub, t, "customer.subscription.updated")
    if sub.random and sim.rng.random() < P_WITHDRAW:
        days = sim.rng.randint(1, max(1, (sub.period_end - t) // DAY - 1))
        sub.schedule(t + days * DAY, 3, "withdraw_cancel", None)


def on_withdraw(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """The requested cancellation is withdrawn before the period ends."""
    if not sub.cancel_at_period_end or t >= sub.period_end:
        return
    sub.cancel_at_period_end = False
    sub.cancel_at = sub.canceled_at = None
    sub.cancellation = {"comment": None, "feedback": None, "reason": None}
    snapshot_event(sim, sub, t, "customer.subscription.updated")


def on_cancel_now(sim: Sim, sub: Sub, t: int, credit: bool) -> None:
    """Cancelled at once; ``credit``: the unused time is refunded by a credit note."""
    if sub.status not in ("active", "trialing") or sub.cancel_at_period_end:
        return
    sub.cancellation = {"comment": None, "feedback": sim.rng.choice(FEEDBACK),
                        "reason": "cancellation_requested"}
    end_subscription(sim, sub, t, "churn")
    inv = sub.last_paid_invoice
    if credit and inv is not None and sub.status == "canceled" and inv["amount_paid"] > 0:
        frac_num, frac_den = sub.period_end - t, sub.period_end - sub.period_start
        lines = [ln for ln in inv["lines"]["data"] if ln["amount"] > 0 and
                 ln["parent"]["type"] == "subscription_item_details"]
        parts = [(ln, rdiv(ln["amount"] * frac_num, frac_den)) for ln in lines]
        credit_note(sim, sub.cust, inv, t, [(ln, a) for ln, a in parts if a > 0],
                    reason="order_change", refund=True)


def on_pause(sim: Sim, sub: Sub, t: int, arg: int | tuple[int, str]) -> None:
    """Collection paused for ``arg`` months (0: until resumed), with a behavior."""
    if sub.status != "active" or sub.pause is not None or sub.cancel_at_period_end:
        return
    months, behavior = (arg, "void") if isinstance(arg, int) else arg
    if sub.random:
        behavior = sim.rng.choice(_PAUSE_BEHAVIORS)
    resumes = add_months(t, months) if months else None
    sub.pause = {"behavior": behavior, "resumes_at": resumes}
    snapshot_event(sim, sub, t, "customer.subscription.updated")
    if resumes is not None:
        sub.schedule(resumes, 1, "resume", None)
    elif sub.random and sim.rng.random() < 0.5:
        sub.schedule(t + sim.rng.randint(30, 150) * DAY, 1, "resume", None)


def on_resume(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """Collection resumed."""
    if sub.pause is None:
        return
    sub.pause = None
    if sub.paused_billing:
        sub.paused_billing = False
        record(sim, sub, t, "resume")
    snapshot_event(sim, sub, t, "customer.subscription.updated")


def expire_incomplete(sim: Sim, sub: Sub, inv: JSON, t0: int) -> None:
    """The first payment failed: ``incomplete``, then ``incomplete_expired`` a day later."""
    sub.status = "incomplete"
    snapshot_event(sim, sub, t0, "customer.subscription.created")
    t = t0 + 23 * HOUR
    if t > sim.now:
        return
    sub.status = "incomplete_expired"
    sub.ended_at = sub.canceled_at = t
    void(sim, inv, t)
    pay = sim.inpay_by_invoice.get(inv["id"])
    if pay is not None:
        pay["status"] = "canceled"
        pay["status_transitions"] = {"canceled_at": t, "paid_at": None}
    sub.cust.open_failed -= 1
    snapshot_event(sim, sub, t, "customer.subscription.deleted")


def settle_paused(sim: Sim, sub: Sub, inv: JSON, t: int) -> None:
    """An invoice billed while collection is paused, per ``pause_collection.behavior``."""
    if inv["status"] != "open":
        return
    assert sub.pause is not None
    if sub.pause["behavior"] == "mark_uncollectible":
        mark_uncollectible(sim, inv, t)
    else:
        void(sim, inv, t)


def pause_at_trial_end(sim: Sim, sub: Sub, t: int) -> None:
    """The trial ended without a payment method: ``paused``, nothing invoiced."""
    sub.status = "paused"
    record(sim, sub, t, "trial_end")
    snapshot_event(sim, sub, t, "customer.subscription.updated")
    if sub.last_snapshot is not None:
        sim.events.emit(t, "customer.subscription.paused", sub.last_snapshot)
