"""Discounts: a coupon redeemed by a subscription, one of its items or a customer; the MRR
re-recorded when one starts or ends; a coupon deleted while its discounts keep applying.
"""

from __future__ import annotations

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Disc, Item, Sub
from syncer.sandbox.generator.subscription_object import snapshot_event
from syncer.sandbox.generator.truth import record
from syncer.sandbox.generator.units import JSON


def add_discount(sim: Sim, sub: Sub, coupon_id: str, t: int, item: Item | None = None) -> None:
    """A discount on the subscription, or on one of its items (no promotion code)."""
    coupon = sim.catalog.coupons[coupon_id]
    end = None
    if coupon["duration"] == "repeating":
        end = add_months(t, int(coupon["duration_in_months"]))
    promo = sim.catalog.promos[coupon_id] if item is None else None
    obj = _discount_object(sim, sub.cust, coupon_id, t, end, sub=sub.id,
                           item=None if item is None else item.id,
                           promo=None if promo is None else promo["id"])
    coupon["times_redeemed"] += 1
    if promo is not None:
        promo["times_redeemed"] += 1
    (sub.discounts if item is None else item.discounts).append(
        Disc(obj["id"], coupon, t, end, obj))
    sub.item_discounts = sub.item_discounts or item is not None


def start_customer_discount(sim: Sim, cust: Cust, coupon_id: str, start: int,
                            removed: int | None) -> None:
    """``customer.discount``: applies to its subscriptions that have no discount.

    One given when the customer is created is in its ``customer.created`` event.
    """
    if start > sim.now:
        return
    coupon = sim.catalog.coupons[coupon_id]
    end = None
    if coupon["duration"] == "repeating":
        end = add_months(start, int(coupon["duration_in_months"]))
    stops = min((e for e in (end, removed) if e is not None), default=None)
    obj = _discount_object(sim, cust, coupon_id, start, end, sub=None, item=None, promo=None)
    coupon["times_redeemed"] += 1
    cust.discount = Disc(obj["id"], coupon, start, stops, obj)
    sim.events.emit(start, "customer.discount.created", obj)
    if start <= cust.obj["created"]:
        cust.obj["discount"] = obj
    else:
        sim.events.emit(start, "customer.updated", cust.obj, {"discount": None}, discount=obj)
    if stops is not None and stops <= sim.now:  # it ended, or was removed
        sim.events.emit(stops, "customer.discount.deleted", obj)
        sim.events.emit(stops, "customer.updated", cust.obj, {"discount": obj}, discount=None)


def delete_coupon(sim: Sim, coupon_id: str, t: int) -> None:
    """Delete a coupon: its discounts keep applying (they carry its terms)."""
    if t > sim.now or sim.acct.get("coupons", coupon_id) is None:
        return
    coupon = sim.acct.remove("coupons", coupon_id)
    sim.catalog.promos[coupon_id]["active"] = False
    sim.events.emit(t, "coupon.deleted", coupon)


def schedule_discount_ends(sub: Sub, t0: int) -> None:
    """Re-record the MRR when an item's or the customer's discount starts or ends."""
    for it in sub.items:
        for d in it.discounts:
            if d.end is not None:
                sub.schedule(d.end, 0, "item_discount_end", (it, d))
    cd = sub.cust.discount
    if cd is not None:
        for t in (cd.start, cd.end):
            if t is not None and t > t0:
                sub.schedule(t, 0, "mrr_tick", "discount")


def on_discount_end(sim: Sim, sub: Sub, t: int, d: Disc) -> None:
    """A subscription's discount ended (a repeating one's months, or a once one)."""
    if d in sub.discounts:
        sub.discounts.remove(d)
        record(sim, sub, t, "discount_end")
        snapshot_event(sim, sub, t, "customer.subscription.updated")


def on_item_discount_end(sim: Sim, sub: Sub, t: int, arg: tuple[Item, Disc]) -> None:
    """An item's own discount ended."""
    it, d = arg
    if d in it.discounts:
        it.discounts.remove(d)
        record(sim, sub, t, "discount_end")
        snapshot_event(sim, sub, t, "customer.subscription.updated")


def on_mrr_tick(sim: Sim, sub: Sub, t: int, kind: str) -> None:
    """Something outside the subscription (its customer's discount) changed its MRR."""
    record(sim, sub, t, kind)


def _discount_object(sim: Sim, cust: Cust, coupon_id: str, t: int, end: int | None, *,
                     sub: str | None, item: str | None, promo: str | None) -> JSON:
    """A ``discount`` object, kept in ``Account.discounts`` (Stripe has no list of them)."""
    obj: JSON = {
        "id": sim.ids.long("di"),
        "object": "discount",
        "checkout_session": None,
        "customer": cust.customer,
        "customer_account": cust.customer_account,
        "end": end,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": promo,
        "source": {"coupon": coupon_id, "type": "coupon"},
        "start": t,
        "subscription": sub,
        "subscription_item": item,
    }
    sim.acct.discounts[obj["id"]] = obj
    return obj
