"""Changes to a live subscription, prorated: plan upgrades and downgrades, seats, add-ons
(some with a trial of their own), a yearly fee added to a monthly plan.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.billing import item_invoice
from syncer.sandbox.generator.billing_mode import FLEXIBLE_SINCE, flexible
from syncer.sandbox.generator.catalog import Price
from syncer.sandbox.generator.collection import collect
from syncer.sandbox.generator.invoicing import invoice
from syncer.sandbox.generator.lines import invoice_item
from syncer.sandbox.generator.pricing import price_amount, rdiv
from syncer.sandbox.generator.probabilities import P_ITEM_TRIAL
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Item, Sub
from syncer.sandbox.generator.subscription_object import snapshot_event
from syncer.sandbox.generator.truth import record
from syncer.sandbox.generator.units import DAY

ITEM_TRIAL = 14 * DAY  # an add-on's own trial


def _date(ts: int) -> str:
    """A date as proration descriptions write it (``05 Mar 2026``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y")


def _ladder(key: str, step: int) -> str | None:
    """The plan ``step`` rungs up (or down) from ``key``, if there is one."""
    ladders = (("starter_legacy", "pro_m"), ("starter_m", "pro_m", "business_m"),
               ("starter_y", "pro_y", "business_y"), ("starter_m_fx", "pro_m_fx"))
    for ladder in ladders:
        if key in ladder:
            i = ladder.index(key) + step
            if 0 <= i < len(ladder) and ladder[i] != "starter_legacy":
                return ladder[i]
    return None


def on_upgrade(sim: Sim, sub: Sub, t: int, invoice_now: bool) -> None:
    """One plan up; ``invoice_now``: the prorations are invoiced at once."""
    _change_plan(sim, sub, t, +1, invoice_now)


def on_downgrade(sim: Sim, sub: Sub, t: int, invoice_now: bool) -> None:
    """One plan down; ``invoice_now``: the prorations are invoiced at once."""
    _change_plan(sim, sub, t, -1, invoice_now)


def _change_plan(sim: Sim, sub: Sub, t: int, step: int, invoice_now: bool) -> None:
    if not sub.changeable(t):
        return
    item = sub.items[0]
    target = _ladder(item.price.key, step)
    if target is None:
        return
    new_price = sim.catalog.prices[target]
    _prorate(sim, sub, t, item, item.price, item.quantity, new_price, item.quantity)
    item.price = new_price
    _after_change(sim, sub, t, "upgrade" if step > 0 else "downgrade", invoice_now)


def on_seats(sim: Sim, sub: Sub, t: int, delta: int) -> None:
    """``delta`` seats more or fewer (the first ones add a seat item)."""
    if not sub.changeable(t):
        return
    seat = next((it for it in sub.items if it.price.key in ("seat_m", "seat_m_fx", "seat_y",
                                                              "team_m")), None)
    if seat is None:
        if delta <= 0 or sub.items[0].price.key.startswith("starter"):
            return
        seat_key = "seat_m_fx" if sub.currency != sim.currency else (
            "seat_y" if sub.interval_months == 12 else "seat_m")
        if sub.interval_months == 3:
            return
        seat = Item(sim.ids.short("si"), sim.catalog.prices[seat_key], 0, t)
        sub.items.append(seat)
    new_qty = max(1, seat.quantity + delta)
    if new_qty == seat.quantity:
        return
    _prorate(sim, sub, t, seat, seat.price, seat.quantity, seat.price, new_qty)
    seat.quantity = new_qty
    _after_change(sim, sub, t, "quantity", False)


def on_addon_add(sim: Sim, sub: Sub, t: int, arg: Any) -> None:
    """An add-on added (``arg`` "trial": with a trial of its own)."""
    if not sub.changeable(t) or sub.currency != sim.currency:
        return
    have = {it.price.key for it in sub.items}
    free = [k for k in sim.catalog.addon_keys if k not in have]
    if not free or sub.interval_months != 1:
        return
    it = Item(sim.ids.short("si"), sim.catalog.prices[sim.rng.choice(free)], 1, t)
    sub.items.append(it)
    trial = arg == "trial" or (
        sub.random and t >= FLEXIBLE_SINCE and sim.rng.random() < P_ITEM_TRIAL)
    if trial and sub.period_end - t > ITEM_TRIAL + DAY:
        # Its own trial (a trial offer): nothing billed until it ends, within this
        # period. Item trials need flexible billing mode: a classic one migrates.
        if sub.billing_mode["type"] != "flexible":
            sub.billing_mode = flexible(t)
        it.trial = (t, t + ITEM_TRIAL, sim.trial_offer)
        sub.schedule(t + ITEM_TRIAL, 1, "item_trial_end", it)
    else:
        _prorate(sim, sub, t, it, None, 0, it.price, 1)
    _after_change(sim, sub, t, "item_added", False)


def on_addon_remove(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """The last add-on removed."""
    if not sub.changeable(t):
        return
    addons = [it for it in sub.items if it.price.key.startswith("addon")]
    if not addons:
        return
    it = addons[-1]
    if it.trial is None or t >= it.trial[1]:  # nothing to credit during its trial
        _prorate(sim, sub, t, it, it.price, it.quantity, None, 0)
    sub.items.remove(it)
    _after_change(sim, sub, t, "item_removed", False)


def _after_change(sim: Sim, sub: Sub, t: int, kind: str, invoice_now: bool) -> None:
    """Record the new MRR, invoice the prorations if asked, send the update event."""
    record(sim, sub, t, kind)
    if invoice_now and sub.pending:
        inv = invoice(sim, sub.cust, t, "subscription_update", sub=sub, lines=[],
                      period=(t, t), finalize_at=t)
        collect(sim, sub, inv, t, fail=None)
    snapshot_event(sim, sub, t, "customer.subscription.updated")


def on_item_trial_end(sim: Sim, sub: Sub, t: int, it: Item) -> None:
    """An item's own trial ended: billed, prorated, for the rest of the period."""
    if it not in sub.items:
        return
    record(sim, sub, t, "trial_end")
    if sub.period_start < t < sub.period_end:  # the rest of the period, prorated
        _prorate(sim, sub, t, it, None, 0, it.price, it.quantity)
    snapshot_event(sim, sub, t, "customer.subscription.updated")


def on_add_yearly_fee(sim: Sim, sub: Sub, t: int, _: Any) -> None:
    """Flexible billing mode: a yearly item on a monthly subscription, billed apart."""
    if (not sub.changeable(t) or sub.interval_months != 1 or t < FLEXIBLE_SINCE
            or sub.currency != sim.currency or any(it.period for it in sub.items)):
        return
    if sub.billing_mode["type"] != "flexible":  # migrated: mixed intervals need it
        sub.billing_mode = flexible(t)
    renews = add_months(t, 12)
    it = Item(sim.ids.short("si"), sim.catalog.prices["platform_y"], 1, t, period=(t, renews))
    sub.items.append(it)
    record(sim, sub, t, "item_added")
    inv = item_invoice(sim, sub, it, t, "subscription_update", (t, t), t)
    collect(sim, sub, inv, t, fail=None)
    snapshot_event(sim, sub, t, "customer.subscription.updated")
    sub.schedule(renews, 2, "item_renew", it)


def _prorate(sim: Sim, sub: Sub, t: int, item: Item, old: Price | None, old_qty: int,
             new: Price | None, new_qty: int) -> None:
    """Pending invoice items crediting the old price and charging the new from ``t``."""
    num, den = sub.period_end - t, sub.period_end - sub.period_start
    if old is not None and not old.metered:
        amount = -rdiv(price_amount(old.obj, old_qty) * num, den)
        desc = f"Unused time on {old_qty} × {sim.catalog.product_name(old)} after {_date(t)}"
        sub.pending.append(invoice_item(sim, sub.cust, t, amount, old, old_qty, desc,
                                        (t, sub.period_end), sub=sub, item=item,
                                        proration=True))
    if new is not None and not new.metered:
        amount = rdiv(price_amount(new.obj, new_qty) * num, den)
        desc = f"Remaining time on {new_qty} × {sim.catalog.product_name(new)} after {_date(t)}"
        sub.pending.append(invoice_item(sim, sub.cust, t, amount, new, new_qty, desc,
                                        (t, sub.period_end), sub=sub, item=item,
                                        proration=True))
