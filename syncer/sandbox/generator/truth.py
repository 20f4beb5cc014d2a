"""The MRR truth: what the simulation records at each change (``Account.timeline``)
and replays at any instant (``truth_mrr``); the tests hold the normalizer to it.
"""

from __future__ import annotations

from syncer.sandbox.generator.account import Account, MrrChange
from syncer.sandbox.generator.pricing import item_mrr, monthly
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Item, Sub


def truth_mrr(account: Account, customer_id: str, at: int) -> int:
    """A customer's MRR at ``at`` per the simulation (minor units of its currency).

    Replays ``account.timeline``: the latest value of every key at or before ``at``,
    summed per subscription and floored at 0 per subscription.
    """
    latest: dict[tuple[str, str], int] = {}
    for c in account.timeline:
        if c.customer == customer_id and c.time <= at:
            latest[(c.subscription, c.item)] = c.new_mrr
    per_sub: dict[str, int] = {}
    for (sub, _), value in latest.items():
        per_sub[sub] = per_sub.get(sub, 0) + value
    return sum(max(0, v) for v in per_sub.values())


def truth_mrr_all(account: Account, at: int) -> dict[str, int]:
    """Every customer's MRR at ``at`` (customers with none are left out)."""
    latest: dict[tuple[str, str, str], int] = {}
    for c in account.timeline:
        if c.time <= at:
            latest[(c.customer, c.subscription, c.item)] = c.new_mrr
    per_sub: dict[tuple[str, str], int] = {}
    for (cus, sub, _), value in latest.items():
        per_sub[(cus, sub)] = per_sub.get((cus, sub), 0) + value
    out: dict[str, int] = {}
    for (cus, _), value in per_sub.items():
        if value > 0:
            out[cus] = out.get(cus, 0) + value
    return out


def record(sim: Sim, sub: Sub, t: int, kind: str) -> None:
    """Append to the timeline every key of ``sub`` whose MRR changed at ``t``."""
    new = _mrr_map(sub, t)
    old = sub.mrr
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, 0), new.get(key, 0)
        if a != b:
            sim.acct.timeline.append(
                MrrChange(sub.cust.id, sub.id, key, t, a, b, kind, sub.currency)
            )
    sub.mrr = new


def _mrr_map(sub: Sub, t: int) -> dict[str, int]:
    """The MRR of each key of ``sub`` at ``t`` (METRICS.md §1)."""
    if sub.status not in ("active", "past_due") or sub.paused_billing:
        return {}
    discounts = sub.discounts_at(t)
    pct = 0.0
    out: dict[str, int] = {}
    for d in discounts:
        pct += float(d.coupon["percent_off"] or 0)
    for it in sub.items:
        if it.price.metered:
            continue
        if it.trial is not None and t < it.trial[1]:
            out[it.id] = 0  # in its own trial (METRICS.md §1.12)
        elif it.discounts:
            out[it.id] = _discounted_item_mrr(it, pct)
        else:
            out[it.id] = item_mrr(it.price.obj, it.quantity, pct)
    for d in discounts:
        off = d.coupon["amount_off"]
        if off:
            out["discount:" + d.id] = -monthly(int(off), "month", sub.interval_months)
    return out


def _discounted_item_mrr(it: Item, pct: float) -> int:
    """An item's MRR after its own discounts (an amount off per its own interval)."""
    rec = it.price.obj["recurring"]
    pct += sum(float(d.coupon["percent_off"] or 0) for d in it.discounts)
    value = item_mrr(it.price.obj, it.quantity, pct)
    for d in it.discounts:
        if d.coupon["amount_off"]:
            value -= monthly(int(d.coupon["amount_off"]), rec["interval"],
                             rec["interval_count"])
    return max(0, value)
