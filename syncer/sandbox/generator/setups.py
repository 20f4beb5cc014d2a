"""The setups of real accounts a customer or its first subscription may have (issue 17):
a customer discount, a test clock, no payment method yet, an item discount.
"""

from __future__ import annotations

from syncer.sandbox.generator.discounts import add_discount, start_customer_discount
from syncer.sandbox.generator.profiles import Setups
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Sub
from syncer.sandbox.generator.test_clocks import new_test_clock


def attach_setups(sim: Sim, cust: Cust, setups: Setups) -> None:
    """Customer-level setups: a test clock, no payment method yet, a discount."""
    if setups.customer_discount is not None and cust.customer is not None:
        start_customer_discount(sim, cust, *setups.customer_discount)
    if setups.test_clock and not sim.livemode:
        cust.clock = new_test_clock(sim)
        cust.obj["test_clock"] = cust.clock
    if setups.no_payment_method:
        cust.obj["invoice_settings"] = {**cust.obj["invoice_settings"],
                                        "default_payment_method": None}


def apply_setups(sim: Sim, sub: Sub, setups: Setups, t: int, *, trial: bool) -> None:
    """The first subscription's setups: an item discount, a trial ending paused."""
    if setups.item_discount:
        keys = ("seat_m", "seat_y") if setups.item_discount == "SEATS10" else tuple(
            sim.catalog.addon_keys)
        target = next((it for it in sub.items if it.price.key in keys), None)
        if target is not None:
            add_discount(sim, sub, setups.item_discount, t, item=target)
    if setups.no_payment_method and trial:
        sub.no_payment_method = sub.trial_end_pause = True
