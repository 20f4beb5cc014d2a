"""The invoices of a subscription: its first, each renewal's, and each one of an item with
its own period.
"""

from __future__ import annotations

from syncer.sandbox.generator.collection import collect
from syncer.sandbox.generator.invoicing import invoice
from syncer.sandbox.generator.lines import ii_line, invoice_item, item_line, usage_line
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Item, Sub
from syncer.sandbox.generator.units import HOUR, JSON


def first_invoice(sim: Sim, sub: Sub, t: int, *, setup_fee: bool, incomplete: bool) -> JSON:
    """The invoice creating the subscription (a trial's is 0), collected at once."""
    extra: list[JSON] = []
    if setup_fee:
        fee = sim.catalog.prices["setup_fee"]
        extra.append(invoice_item(sim, sub.cust, t, int(fee.obj["unit_amount"]), fee, 1,
                                  "Onboarding fee", (t, t), sub=sub))
    inv_id = sim.ids.long("in")
    period = {"end": sub.period_end, "start": sub.period_start}
    lines = [item_line(sim, inv_id, sub, it, period)
             for it in sub.items if not it.price.metered]
    if sub.status == "trialing":
        for ln in lines:
            ln["amount"] = ln["subtotal"] = 0
            name = ln["description"].split(" (")[0].split("× ", 1)[-1]
            ln["description"] = f"Trial period for {name}"
    lines += [ii_line(sim, inv_id, ii) for ii in extra]
    inv = invoice(sim, sub.cust, t, "subscription_create", sub=sub, lines=lines,
                  period=(t, t), finalize_at=t, inv_id=inv_id)
    collect(sim, sub, inv, t, fail="incomplete" if incomplete else None)
    return inv


def cycle_invoice(sim: Sim, sub: Sub, t: int, prev_start: int, *, usage: bool,
                  finalize: bool = True) -> JSON:
    """The invoice of a new period: its items ahead, metered usage behind (``usage``)."""
    inv_id = sim.ids.long("in")
    lines: list[JSON] = []
    billed = {"end": sub.period_end, "start": t}
    used = {"end": t, "start": prev_start}
    for it in sub.items:
        if it.period is not None:  # its own period: renewed on its own invoices
            continue
        if it.price.metered:
            if usage:
                lines.append(usage_line(sim, inv_id, sub, it, used))
        else:
            lines.append(item_line(sim, inv_id, sub, it, billed))
    return invoice(sim, sub.cust, t, "subscription_cycle", sub=sub, lines=lines,
                   period=(prev_start, t), finalize_at=t + HOUR, inv_id=inv_id,
                   finalize=finalize)


def item_invoice(sim: Sim, sub: Sub, it: Item, t: int, reason: str,
                 period: tuple[int, int], finalize_at: int, *,
                 finalize: bool = True) -> JSON:
    """An invoice of an item with its own period, billing that period alone."""
    assert it.period is not None
    inv_id = sim.ids.long("in")
    billed = {"end": it.period[1], "start": it.period[0]}
    line = item_line(sim, inv_id, sub, it, billed)
    return invoice(sim, sub.cust, t, reason, sub=sub, lines=[line], period=period,
                   finalize_at=finalize_at, inv_id=inv_id, finalize=finalize)
