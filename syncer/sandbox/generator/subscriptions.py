"""A subscription's run: created with its first invoice, then everything that happens to
it, in time order, until it ends or ``now`` comes.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop
from typing import Any

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.billing import first_invoice
from syncer.sandbox.generator.billing_mode import billing_mode
from syncer.sandbox.generator.changes import (
    on_add_yearly_fee,
    on_addon_add,
    on_addon_remove,
    on_downgrade,
    on_item_trial_end,
    on_seats,
    on_upgrade,
)
from syncer.sandbox.generator.collection import (
    on_dunning_cancel,
    on_fail_next,
    on_mark_unpaid,
    on_retry,
)
from syncer.sandbox.generator.credit_notes import on_credit_note, on_credit_note_full
from syncer.sandbox.generator.discounts import (
    add_discount,
    on_discount_end,
    on_item_discount_end,
    on_mrr_tick,
    schedule_discount_ends,
)
from syncer.sandbox.generator.disputes import on_dispute
from syncer.sandbox.generator.lifecycle import (
    expire_incomplete,
    on_cancel_now,
    on_cancel_request,
    on_pause,
    on_resume,
    on_withdraw,
)
from syncer.sandbox.generator.payments import on_refund_last
from syncer.sandbox.generator.profiles import NO_SETUPS, Profile
from syncer.sandbox.generator.random_happenings import sample_period
from syncer.sandbox.generator.renewals import on_item_renew, on_renew, on_resume_paused
from syncer.sandbox.generator.setups import apply_setups
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Item, Sub
from syncer.sandbox.generator.subscription_object import materialize, snapshot_event
from syncer.sandbox.generator.truth import record
from syncer.sandbox.generator.units import DAY

# What each kind of scheduled happening does (``Sub.schedule``).
_HANDLERS: dict[str, Callable[[Sim, Sub, int, Any], None]] = {
    "renew": on_renew,
    "discount_end": on_discount_end,
    "retry": on_retry,
    "dunning_cancel": on_dunning_cancel,
    "cancel_request": on_cancel_request,
    "withdraw_cancel": on_withdraw,
    "cancel_now": on_cancel_now,
    "pause": on_pause,
    "resume": on_resume,
    "upgrade": on_upgrade,
    "downgrade": on_downgrade,
    "seats": on_seats,
    "addon_add": on_addon_add,
    "addon_remove": on_addon_remove,
    "fail_next": on_fail_next,
    "dispute": on_dispute,
    "credit_note_full": on_credit_note_full,
    "refund_last": on_refund_last,
    "credit_note": on_credit_note,
    "item_discount_end": on_item_discount_end,
    "mrr_tick": on_mrr_tick,
    "item_trial_end": on_item_trial_end,
    "add_yearly_fee": on_add_yearly_fee,
    "item_renew": on_item_renew,
    "resume_paused": on_resume_paused,
    "mark_unpaid": on_mark_unpaid,
}


def run_subscription(
    sim: Sim,
    cust: Cust,
    items: list[tuple[str, int]],
    t0: int,
    p: Profile,
    *,
    trial: bool,
    coupon: str | None,
    setup_fee: bool,
    rand: bool,
    script: list[tuple[int, str, Any]],
    incomplete: bool,
) -> Sub:
    """A subscription from ``t0``, run until it ends or ``now``, then added to the account."""
    price0 = sim.catalog.prices[items[0][0]]
    sub = Sub(
        id=sim.ids.long("sub"),
        cust=cust,
        currency=str(price0.obj["currency"]),
        created=t0,
        anchor=t0,
        interval_months=price0.interval_months,
        items=[],
        random=rand,
    )
    for key, qty in items:
        sub.items.append(Item(sim.ids.short("si"), sim.catalog.prices[key], qty, t0))
    if coupon:
        add_discount(sim, sub, coupon, t0)
    sub.billing_mode = billing_mode(sim.rng, t0)
    setups = p.setups or NO_SETUPS
    if t0 == p.signup:  # the first subscription, not a reactivation
        apply_setups(sim, sub, setups, t0, trial=trial)
    if trial:
        sub.status = "trialing"
        sub.trial_start, sub.trial_end = t0, t0 + 14 * DAY
        sub.anchor = sub.trial_end
        sub.period_start, sub.period_end = t0, sub.trial_end
        sub.period_index = -1
    else:
        sub.period_start, sub.period_end = t0, add_months(t0, sub.interval_months)
    first = first_invoice(sim, sub, t0, setup_fee=setup_fee, incomplete=incomplete)
    if incomplete:
        expire_incomplete(sim, sub, first, t0)
        materialize(sim, sub)
        return sub
    snapshot_event(sim, sub, t0, "customer.subscription.created")
    record(sim, sub, t0, "new")
    sub.schedule(sub.period_end, 2, "renew", None)
    for d in sub.discounts:
        if d.end is not None:
            sub.schedule(d.end, 0, "discount_end", d)
        elif d.coupon["duration"] == "once" and not trial:
            sub.schedule(sub.period_end, 0, "discount_end", d)
    schedule_discount_ends(sub, t0)
    for t, kind, arg in script:
        sub.schedule(t, 3, kind, arg)
    if rand:
        sample_period(sim, sub)
    _run_events(sim, sub)
    materialize(sim, sub)
    return sub


def _run_events(sim: Sim, sub: Sub) -> None:
    """Everything scheduled for the subscription up to ``now``, in time order."""
    while sub.queue and sub.queue[0][0] <= sim.now:
        t, _, _, kind, arg = heappop(sub.queue)
        if sub.ended:
            break
        _HANDLERS[kind](sim, sub, t, arg)
    sub.queue.clear()
