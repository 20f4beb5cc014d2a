"""The ``subscription`` object, rendered from the simulation's state, and its
``customer.subscription.*`` events (``previous_attributes``: what changed since the last).
"""

from __future__ import annotations

from typing import Any

from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Item, Sub
from syncer.sandbox.generator.units import JSON

# Shared by every subscription that embeds them (never mutated).
_SUB_PAYMENT_SETTINGS: JSON = {
    "payment_method_options": None,
    "payment_method_types": None,
    "save_default_payment_method": "off",
}

_PAUSE_WITHOUT_PAYMENT_METHOD: JSON = {"end_behavior": {"missing_payment_method": "pause"}}

_EMPTY_LIST: list[Any] = []


def snapshot_event(sim: Sim, sub: Sub, t: int, type_: str) -> None:
    """A ``customer.subscription.*`` event of the subscription as at ``t``."""
    if not sim.events.kept(t):
        return
    snap = _sub_json(sim, sub, t)
    previous = None
    if type_ == "customer.subscription.updated" and sub.last_snapshot is not None:
        previous = {k: v for k, v in sub.last_snapshot.items() if snap.get(k) != v}
    sub.last_snapshot = snap
    sim.events.emit(t, type_, snap, previous)


def materialize(sim: Sim, sub: Sub) -> None:
    """The subscription object as at ``now``, added to the account."""
    sim.acct.subscriptions.append(_sub_json(sim, sub, sim.now))


def _sub_json(sim: Sim, sub: Sub, t: int) -> JSON:
    """The subscription object at ``t`` with the setups' fields."""
    obj = _sub_object(sim, sub)
    obj["billing_mode"] = sub.billing_mode
    cust = sub.cust
    if cust.customer is None:
        obj["customer"], obj["customer_account"] = None, cust.id
    if cust.clock is not None:
        obj["test_clock"] = cust.clock
    if sub.trial_end_pause:
        obj["trial_settings"] = _PAUSE_WITHOUT_PAYMENT_METHOD
        if sub.no_payment_method:
            obj["default_payment_method"] = None
    for it, item in zip(sub.items, obj["items"]["data"], strict=True):
        trial = it.trial
        item["current_trial"] = None if trial is None or t >= trial[1] else {
            "end_date": trial[1], "start_date": trial[0], "trial_offer": trial[2]}
        if it.period is not None:
            item["current_period_start"], item["current_period_end"] = it.period
        if it.discounts:
            item["discounts"] = [d.id for d in it.discounts]
    return obj


def _sub_object(sim: Sim, sub: Sub) -> JSON:
    """The subscription object's fields every subscription has."""
    return {
        "id": sub.id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": sub.anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": _EMPTY_LIST,
        "billing_thresholds": None,
        "cancel_at": sub.cancel_at,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": sub.canceled_at,
        "cancellation_details": dict(sub.cancellation),
        "collection_method": "charge_automatically",
        "created": sub.created,
        "currency": sub.currency,
        "customer": sub.cust.id,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": sub.cust.pm,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [d.id for d in sub.discounts],
        "ended_at": sub.ended_at,
        "invoice_settings": {"account_tax_ids": None, "custom_fields": None,
                             "description": None, "footer": None,
                             "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [_item_object(sub, it) for it in sub.items],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub.id}",
        },
        "latest_invoice": sub.latest_invoice,
        "livemode": sim.livemode,
        "managed_payments": None,
        "metadata": {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None if sub.pause is None else dict(sub.pause),
        "payment_settings": _SUB_PAYMENT_SETTINGS,
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": sub.created,
        "status": sub.status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": sub.trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": sub.trial_start,
    }


def _item_object(sub: Sub, it: Item) -> JSON:
    """A ``subscription_item`` as embedded in its subscription."""
    obj: JSON = {
        "id": it.id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": it.created,
        "current_period_end": sub.period_end,
        "current_period_start": sub.period_start,
        "discounts": [],
        "metadata": {},
        "plan": it.price.plan,
        "price": it.price.public,
        "subscription": sub.id,
        "tax_rates": [],
    }
    if not it.price.metered:
        obj["quantity"] = it.quantity
    return obj
