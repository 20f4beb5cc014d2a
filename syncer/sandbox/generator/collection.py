"""Collecting an invoice: its payment when finalized and, when that fails, the retries and
what follows the last one (recovered, cancelled, or left ``unpaid``).
"""

from __future__ import annotations

from syncer.sandbox.generator.invoicing import mark_paid
from syncer.sandbox.generator.lifecycle import end_subscription
from syncer.sandbox.generator.payments import charge_invoice
from syncer.sandbox.generator.probabilities import P_UNPAID
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Sub
from syncer.sandbox.generator.subscription_object import snapshot_event
from syncer.sandbox.generator.truth import record
from syncer.sandbox.generator.units import DAY, HOUR, JSON


def collect(sim: Sim, sub: Sub, inv: JSON, t: int, *, fail: str | None) -> None:
    """Finalize-time payment of an invoice: paid, or failed with retries scheduled."""
    if inv["status"] != "open":
        return
    cust = sub.cust
    if inv["amount_due"] == 0:
        mark_paid(sim, inv, t)
        sub.last_paid_invoice = inv
        return
    pi = sim.ids.long("pi")
    if fail is None:
        sub.last_charge = charge_invoice(sim, cust, inv, t, pi, failed=False)
        sub.last_paid_invoice = inv
        return
    cust.open_failed += 1
    charge_invoice(sim, cust, inv, t, pi, failed=True)
    if fail == "incomplete":
        return
    sub.status = "past_due"
    rng = sim.rng
    retries = (3 * DAY, 8 * DAY, 15 * DAY)
    if fail == "recover":
        k = rng.randrange(len(retries))
        for i in range(k):
            sub.schedule(t + retries[i], 3, "retry", (inv, pi, False))
        sub.schedule(t + retries[k] + rng.randrange(HOUR), 3, "retry", (inv, pi, True))
    elif fail == "unpaid" or (sub.random and rng.random() < P_UNPAID):
        # The account's settings leave a subscription unpaid after the last retry.
        for r in retries:
            sub.schedule(t + r, 3, "retry", (inv, pi, False))
        sub.schedule(t + retries[-1] + HOUR, 3, "mark_unpaid", inv)
    else:
        for r in retries:
            sub.schedule(t + r, 3, "retry", (inv, pi, False))
        sub.schedule(t + rng.randint(16, 25) * DAY, 3, "dunning_cancel", inv)


def on_fail_next(sim: Sim, sub: Sub, t: int, outcome: str) -> None:
    """The next renewal's payment will fail (``outcome``: recover, churn or unpaid)."""
    sub.fail_next = outcome


def on_retry(sim: Sim, sub: Sub, t: int, arg: tuple[JSON, str, bool]) -> None:
    """A retry of a failed invoice's payment (``arg``: invoice, intent, success)."""
    inv, pi, success = arg
    inv["attempt_count"] += 1
    if success:
        sub.last_charge = charge_invoice(sim, sub.cust, inv, t, pi, failed=False)
        sub.last_paid_invoice = inv
        sub.status = "active"
        sub.cust.open_failed -= 1
        snapshot_event(sim, sub, t, "customer.subscription.updated")
    else:
        charge_invoice(sim, sub.cust, inv, t, pi, failed=True)


def on_dunning_cancel(sim: Sim, sub: Sub, t: int, inv: JSON) -> None:
    """The retries are over: the invoice is uncollectible, the subscription cancelled."""
    sub.cancellation = {"comment": None, "feedback": None, "reason": "payment_failed"}
    inv["status"] = "uncollectible"
    inv["status_transitions"] = {**inv["status_transitions"], "marked_uncollectible_at": t}
    inv["next_payment_attempt"] = None
    pay = sim.inpay_by_invoice.get(inv["id"])
    if pay is not None:
        pay["status"] = "canceled"
        pay["status_transitions"] = {"canceled_at": t, "paid_at": None}
    sub.cust.open_failed -= 1
    sim.events.emit(t, "invoice.marked_uncollectible", inv)
    end_subscription(sim, sub, t, "churn_payment_failed")


def on_mark_unpaid(sim: Sim, sub: Sub, t: int, inv: JSON) -> None:
    """After the last failed retry: ``unpaid`` (an involuntary churn), invoice left open."""
    if sub.status != "past_due":
        return
    sub.status = "unpaid"
    inv["next_payment_attempt"] = None
    record(sim, sub, t, "churn_unpaid")
    snapshot_event(sim, sub, t, "customer.subscription.updated")
