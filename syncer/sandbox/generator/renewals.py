"""A new period begins: a subscription's renewal, the renewal of an item with its own
period, a trial paused for want of a payment method resuming once one comes.
"""

from __future__ import annotations

from typing import Any

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.billing import cycle_invoice, item_invoice
from syncer.sandbox.generator.collection import collect
from syncer.sandbox.generator.lifecycle import end_subscription, pause_at_trial_end, settle_paused
from syncer.sandbox.generator.random_happenings import sample_period
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Item, Sub
from syncer.sandbox.generator.subscription_object import snapshot_event
from syncer.sandbox.generator.truth import record
from syncer.sandbox.generator.units import HOUR


def on_renew(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """The period ends: cancelled, paused at a trial's end, or a new period invoiced."""
    if sub.cancel_at_period_end:
        end_subscription(sim, sub, t, "churn")
        return
    was_trial = sub.status == "trialing"
    if was_trial and sub.no_payment_method:
        pause_at_trial_end(sim, sub, t)
        return
    if was_trial:
        sub.status = "active"
    prev_start = sub.period_start
    sub.period_index += 1
    sub.period_start = t
    sub.period_end = add_months(sub.anchor, sub.interval_months * (sub.period_index + 1))
    if sub.status == "unpaid":  # invoices stay drafts, never attempted
        cycle_invoice(sim, sub, t, prev_start, usage=True, finalize=False)
    elif sub.pause is not None:
        inv = cycle_invoice(sim, sub, t, prev_start, usage=not was_trial,
                            finalize=sub.pause["behavior"] != "keep_as_draft")
        settle_paused(sim, sub, inv, t + HOUR)
        if not sub.paused_billing:
            sub.paused_billing = True
            record(sim, sub, t, "pause")
    else:
        record(sim, sub, t, "trial_end" if was_trial else "renewal")
        inv = cycle_invoice(sim, sub, t, prev_start, usage=not was_trial)
        outcome = sub.fail_next
        sub.fail_next = None
        collect(sim, sub, inv, t + HOUR, fail=outcome)
    snapshot_event(sim, sub, t, "customer.subscription.updated")
    sub.schedule(sub.period_end, 2, "renew", None)
    if sub.random:
        sample_period(sim, sub)


def on_item_renew(sim: Sim, sub: Sub, t: int, it: Item) -> None:
    """The renewal of an item with its own period: an invoice of its line alone."""
    if it not in sub.items or it.period is None:
        return
    prev_start, renews = it.period[0], add_months(t, 12)
    it.period = (t, renews)
    draft = sub.status == "unpaid" or (
        sub.pause is not None and sub.pause["behavior"] == "keep_as_draft")
    inv = item_invoice(sim, sub, it, t, "subscription_cycle", (prev_start, t), t + HOUR,
                       finalize=not draft)
    if sub.pause is not None:
        settle_paused(sim, sub, inv, t + HOUR)
    elif not draft:
        collect(sim, sub, inv, t + HOUR, fail=None)
    snapshot_event(sim, sub, t, "customer.subscription.updated")
    sub.schedule(renews, 2, "item_renew", it)


def on_resume_paused(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """A payment method came and the subscription resumed: a new period from ``t``."""
    if sub.status != "paused":
        return
    sub.no_payment_method = False
    cust = sub.cust
    previous = {"invoice_settings": cust.obj["invoice_settings"]}
    cust.obj["invoice_settings"] = {**cust.obj["invoice_settings"],
                                    "default_payment_method": cust.pm}
    sim.events.emit(t, "customer.updated", cust.obj, previous)
    sub.status = "active"
    sub.anchor = sub.period_start = t
    sub.period_index = 0
    sub.period_end = add_months(t, sub.interval_months)
    record(sim, sub, t, "resume_paused")
    inv = cycle_invoice(sim, sub, t, t, usage=False)
    collect(sim, sub, inv, t + HOUR, fail=None)
    snapshot_event(sim, sub, t, "customer.subscription.updated")
    if sub.last_snapshot is not None:
        sim.events.emit(t, "customer.subscription.resumed", sub.last_snapshot)
    sub.schedule(sub.period_end, 2, "renew", None)
    if sub.random:
        sample_period(sim, sub)
