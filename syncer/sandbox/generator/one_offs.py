"""Billing outside subscriptions: one-off invoices and standalone charges."""

from __future__ import annotations

from syncer.sandbox.generator.invoicing import invoice, mark_paid
from syncer.sandbox.generator.lines import invoice_item
from syncer.sandbox.generator.payments import charge, charge_invoice, refund_charge
from syncer.sandbox.generator.pricing import rdiv
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust
from syncer.sandbox.generator.units import DAY, MINUTE


def one_off_invoice(sim: Sim, cust: Cust, t: int, n: int) -> None:
    """A manual invoice of ``n`` consulting items (some in fractional hours), paid."""
    consulting = sim.catalog.prices["consulting"]
    items = []
    for _ in range(n):
        quarters = sim.rng.randint(4, 32)  # billed by the quarter hour: "2.5" hours
        hours = quarters // 4
        amount = rdiv(quarters * int(consulting.obj["unit_amount"]), 4)
        exact = None if quarters % 4 == 0 else f"{quarters / 4:g}"
        items.append(invoice_item(sim, cust, t - 10 * MINUTE, amount, consulting, hours,
                                  "Consulting", (t - 10 * MINUTE, t - 10 * MINUTE),
                                  quantity_decimal=exact))
    inv = invoice(sim, cust, t, "manual", sub=None, lines=[], period=(t, t),
                  finalize_at=t + 5 * MINUTE, items=items)
    if inv["status"] != "open":
        return
    if inv["amount_due"] == 0:
        mark_paid(sim, inv, t + 5 * MINUTE)
        return
    charge_invoice(sim, cust, inv, t + 5 * MINUTE, sim.ids.long("pi"), failed=False)


def standalone_charge(sim: Sim, cust: Cust, t: int, *, refund: bool) -> None:
    """A charge with no invoice; ``refund``: part or all of it refunded 5 days later."""
    amount = sim.rng.choice((2500, 4900, 9900, 15000, 25000, 50000))
    ch = charge(sim, cust, t, amount, sim.ids.long("pi"), "Professional services",
                failed=False)
    if refund and t + 5 * DAY <= sim.now:
        refund_charge(sim, ch, t + 5 * DAY, amount if sim.rng.random() < 0.5 else amount // 2,
                      None)
