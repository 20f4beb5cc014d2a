"""Edits of a generated account: what the fake server's mutation helpers do.

Each edit replaces the objects it changes (never mutates them in place: the server may
be serialising the old ones), appends the events Stripe would send and the MRR truth.
"""

from __future__ import annotations

from typing import Any

from syncer.sandbox.generator.account import Account, MrrChange
from syncer.sandbox.generator.catalog import plan_of
from syncer.sandbox.generator.customers import create_customer, cust_from
from syncer.sandbox.generator.pricing import item_mrr, monthly
from syncer.sandbox.generator.profiles import Profile
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.subscriptions import run_subscription
from syncer.sandbox.generator.units import JSON


def add_customer(
    account: Account,
    *,
    now: int,
    name: str | None = None,
    email: str | None = None,
    metadata: JSON | None = None,
    currency: str | None = None,
) -> JSON:
    """A new customer created at ``now`` (``customer.created``)."""
    sim = Sim.attach(account, now)
    idx = len(account.customers) + 100000
    profile = Profile(idx, now, currency or account.currency, subscriber=currency is not None,
                      random=False, metadata=dict(metadata or {}))
    cust = create_customer(sim, profile, name=name, email=email)
    sim.events.finish(account.add_event)
    return cust.obj


def add_subscription(
    account: Account, customer_id: str, *, now: int, price: str, quantity: int = 1
) -> JSON:
    """A subscription started at ``now``, its first invoice paid, with every event."""
    sim = Sim.attach(account, now)
    cust = cust_from(sim, _require(account, "customers", customer_id))
    if price not in sim.catalog.price_by_id:
        raise KeyError(f"no such price: {price}")
    p = sim.catalog.price_by_id[price]
    if cust.obj["currency"] not in (None, p.obj["currency"]):
        raise ValueError(f"customer {customer_id} pays in {cust.obj['currency']}")
    cust.currency = str(p.obj["currency"])
    cust.taxed = cust.currency != account.currency
    profile = Profile(-1, now, cust.currency, random=False)
    sub = run_subscription(sim, cust, [(p.key, quantity)], now, profile, trial=False,
                           coupon=None, setup_fee=False, rand=False, script=[],
                           incomplete=False)
    cust.obj.update(currency=cust.currency, balance=cust.balance,
                    next_invoice_sequence=cust.seq + 1)
    account.put("customers", cust.obj)
    sim.events.finish(account.add_event)
    return _require(account, "subscriptions", sub.id)


def change_subscription(
    account: Account,
    sub_id: str,
    *,
    now: int,
    quantity: int | None = None,
    price: str | None = None,
    cancel_at_period_end: bool | None = None,
    item: str | None = None,
) -> JSON:
    """Change one item's quantity or price, or request/withdraw a cancellation.

    The change takes effect at ``now`` (``customer.subscription.updated``); no proration
    invoice items are created.
    """
    old = _require(account, "subscriptions", sub_id)
    if old["status"] in ("canceled", "incomplete_expired"):
        raise ValueError(f"subscription {sub_id} has ended")
    items = [dict(i) for i in old["items"]["data"]]
    target = next((i for i in items if i["id"] == item), None) if item else items[0]
    if target is None:
        raise KeyError(f"no such subscription item: {item}")
    new, previous, kind = dict(old), {}, "change"
    if quantity is not None or price is not None:
        previous["items"] = old["items"]
        if price is not None:
            p = _require(account, "prices", price)
            target["price"] = {k: v for k, v in p.items() if k != "tiers"}
            target["plan"] = plan_of(p)
            kind = "price_change"
        if quantity is not None:
            target["quantity"] = quantity
            kind = "quantity" if price is None else kind
        new["items"] = {**old["items"], "data": items}
    if cancel_at_period_end is not None:
        for key in ("cancel_at_period_end", "cancel_at", "canceled_at", "cancellation_details"):
            previous[key] = old[key]
        new["cancel_at_period_end"] = cancel_at_period_end
        new["cancel_at"] = items[0]["current_period_end"] if cancel_at_period_end else None
        new["canceled_at"] = now if cancel_at_period_end else None
        reason = "cancellation_requested" if cancel_at_period_end else None
        new["cancellation_details"] = {"comment": None, "feedback": None, "reason": reason}
    account.put("subscriptions", new)
    account.add_event("customer.subscription.updated", now, new, previous)
    _record_edit(account, new, now, kind)
    return new


def cancel_subscription(
    account: Account,
    sub_id: str,
    *,
    now: int,
    reason: str = "cancellation_requested",
    feedback: str | None = None,
    comment: str | None = None,
) -> JSON:
    """Cancel at once (``customer.subscription.deleted``): the MRR ends at ``now``."""
    old = _require(account, "subscriptions", sub_id)
    if old["status"] in ("canceled", "incomplete_expired"):
        raise ValueError(f"subscription {sub_id} has ended")
    new = dict(old, status="canceled", canceled_at=now, ended_at=now, cancel_at=None,
               cancel_at_period_end=False,
               cancellation_details={"comment": comment, "feedback": feedback,
                                     "reason": reason})
    account.put("subscriptions", new)
    account.add_event("customer.subscription.deleted", now, new)
    _record_edit(account, new, now, "churn")
    return new


def update_customer(account: Account, customer_id: str, *, now: int, **fields: Any) -> JSON:
    """Change top-level fields of a customer (``customer.updated``)."""
    old = _require(account, "customers", customer_id)
    new = dict(old, **fields)
    account.put("customers", new)
    account.add_event("customer.updated", now, new, {k: old.get(k) for k in fields})
    return new


def delete_customer(account: Account, customer_id: str, *, now: int) -> JSON:
    """Delete a customer: its live subscriptions are cancelled first, like Stripe does."""
    _require(account, "customers", customer_id)
    for sub in list(account.subscriptions):
        if sub["customer"] == customer_id and sub["status"] not in (
            "canceled", "incomplete_expired"
        ):
            cancel_subscription(account, sub["id"], now=now)
    obj = account.remove("customers", customer_id)
    account.add_event("customer.deleted", now, obj)
    return {"id": customer_id, "object": "customer", "deleted": True}


def subscription_mrr(account: Account, sub: JSON, at: int) -> dict[str, int]:
    """MRR per key (item id, ``discount:<id>``) of a subscription object at ``at``.

    Read from the objects alone: it is right at the object's own time, which is how the
    edits use it (the simulation keeps its own, more detailed state). Discounts: each
    item's own, then the subscription's, else its customer's (METRICS.md §1.6).
    """
    ended = sub.get("ended_at") is not None and sub["ended_at"] <= at
    trialing = sub.get("trial_end") is not None and sub["trial_end"] > at
    if sub["status"] not in ("active", "past_due") or ended or trialing:
        return {}
    if sub.get("pause_collection"):
        return {}
    prices = {p["id"]: p for p in account.prices}
    coupons = {c["id"]: c for c in account.coupons}
    coupons.update(account.deleted.get("coupons", {}))  # their discounts keep applying
    items = sub["items"]["data"]
    own = list(sub.get("discounts") or [])
    if not own and not any(it.get("discounts") for it in items):
        customer = account.get("customers", sub["customer"]) if sub["customer"] else None
        if customer is not None and customer.get("discount"):
            own = [customer["discount"]]
    pct, amount_off = _discount_terms(account, coupons, own)
    out: dict[str, int] = {}
    months = 1
    for it in items:
        price = prices.get(it["price"]["id"], it["price"])
        rec = price.get("recurring") or {}
        months = int(rec.get("interval_count", 1)) * (12 if rec.get("interval") == "year" else 1)
        if rec.get("usage_type") == "metered":
            continue
        trial = it.get("current_trial")
        if trial and trial["end_date"] > at:
            out[it["id"]] = 0
            continue
        item_pct, item_off = _discount_terms(account, coupons, it.get("discounts") or [])
        value = item_mrr(price, int(it.get("quantity") or 0), pct + item_pct)
        for _, off in item_off:
            value -= monthly(off, rec["interval"], rec["interval_count"])
        out[it["id"]] = max(0, value)
    for di, off in amount_off:
        out["discount:" + di] = -monthly(off, "month", months)
    return out


def _discount_terms(account: Account, coupons: dict[str, JSON],
                    discounts: list[Any]) -> tuple[float, list[tuple[str, int]]]:
    """The summed percent off and the amounts off (per discount id) of some discounts."""
    pct, amount_off = 0.0, []
    for di in discounts:
        disc = account.discounts.get(di if isinstance(di, str) else di["id"])
        coupon = coupons.get(disc["source"]["coupon"]) if disc else None
        if coupon is None:
            continue
        pct += float(coupon["percent_off"] or 0)
        if coupon["amount_off"]:
            amount_off.append((disc["id"] if disc else "", int(coupon["amount_off"])))
    return pct, amount_off


def _latest_mrr(account: Account, sub_id: str) -> dict[str, int]:
    latest: dict[str, int] = {}
    for c in account.timeline:
        if c.subscription == sub_id:
            latest[c.item] = c.new_mrr
    return {k: v for k, v in latest.items() if v}


def _record_edit(account: Account, sub: JSON, at: int, kind: str) -> None:
    old, new = _latest_mrr(account, sub["id"]), subscription_mrr(account, sub, at)
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, 0), new.get(key, 0)
        if a != b:
            account.timeline.append(
                MrrChange(sub["customer"], sub["id"], key, at, a, b, kind, sub["currency"])
            )


def _require(account: Account, resource: str, obj_id: str) -> JSON:
    obj = account.get(resource, obj_id)
    if obj is None:
        raise KeyError(f"no such {resource[:-1]}: {obj_id}")
    return obj
