"""What an invoice bills: invoice items (prorations, fees, one-offs) and invoice lines."""

from __future__ import annotations

from typing import Any

from syncer.sandbox.generator.catalog import Price
from syncer.sandbox.generator.pricing import price_amount, rdiv
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Item, Sub
from syncer.sandbox.generator.units import JSON

# Shared by every line that embeds them (never mutated).
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}

_EMPTY_LIST: list[Any] = []

_EMPTY_DICT: JSON = {}

_NO_CREDITED_ITEMS: JSON = {"credited_items": None}

_DECIMALS = [str(n) for n in range(1000)]


def invoice_item(sim: Sim, cust: Cust, t: int, amount: int, price: Price, qty: int,
                 desc: str, period: tuple[int, int], *, sub: Sub | None = None,
                 item: Item | None = None, proration: bool = False,
                 quantity_decimal: str | None = None) -> JSON:
    """An invoice item (``invoiceitem.created``), pending until an invoice takes it."""
    obj: JSON = {
        "id": sim.ids.long("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": cust.currency,
        "customer": cust.customer,
        "customer_account": cust.customer_account,
        "date": t,
        "description": desc,
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": sim.livemode,
        "metadata": {},
        "net_amount": amount,
        "parent": None if sub is None else {
            "subscription_details": {"subscription": sub.id,
                                     "subscription_item": None if item is None else item.id},
            "type": "subscription_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pricing": {
            "price_details": {"price": price.id, "product": price.obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price.obj["unit_amount_decimal"] if quantity_decimal
            else str(rdiv(amount, qty) if qty else amount),
        },
        "proration": proration,
        "quantity": qty or 1,
        "quantity_decimal": quantity_decimal or str(qty or 1),
        "tax_rates": [],
        "test_clock": cust.clock,
    }
    if item is not None:
        sim.ii_item[obj["id"]] = item.id
    sim.acct.invoice_items.append(obj)
    sim.events.emit(t, "invoiceitem.created", obj)
    return obj


def item_line(sim: Sim, inv_id: str, sub: Sub, it: Item, period: JSON) -> JSON:
    """The line billing a licensed item for ``period``."""
    price = it.price
    amount = price_amount(price.obj, it.quantity)
    desc = _item_description(sim, price, it.quantity)
    return _line(sim, inv_id, amount, it.quantity, price, desc, period,
                 _item_parent(sub, it), sub.currency)


def usage_line(sim: Sim, inv_id: str, sub: Sub, it: Item, period: JSON) -> JSON:
    """The line billing a metered item's usage over ``period``."""
    usage = int(sim.rng.lognormvariate(8.5, 0.8))
    amount = usage * int(it.price.obj["unit_amount"])
    desc = f"{sim.catalog.product_name(it.price)} (usage)"
    return _line(sim, inv_id, amount, usage, it.price, desc, period,
                 _item_parent(sub, it), sub.currency)


def ii_line(sim: Sim, inv_id: str, ii: JSON) -> JSON:
    """The line of invoice item ``ii``, which the invoice takes (``ii.invoice``)."""
    price = sim.catalog.price_by_id[ii["pricing"]["price_details"]["price"]]
    sub_id = ii["parent"]["subscription_details"]["subscription"] if ii["parent"] else None
    item_id = sim.ii_item.get(ii["id"])
    ii["invoice"] = inv_id
    if ii["proration"] and item_id:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": ii["id"],
                "proration": True,
                "proration_details": _NO_CREDITED_ITEMS,
                "subscription": sub_id,
                "subscription_item": item_id,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": ii["id"],
                "proration": bool(ii["proration"]),
                "proration_details": _NO_CREDITED_ITEMS,
                "subscription": sub_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return _line(sim, inv_id, ii["amount"], ii["quantity"], price, ii["description"],
                 ii["period"], parent, ii["currency"], ii["quantity_decimal"])


def _line(sim: Sim, inv_id: str, amount: int, qty: int, price: Price, desc: str,
          period: JSON, parent: JSON, currency: str, qty_decimal: str | None = None) -> JSON:
    # ``period``, ``parent``, ``pricing`` and the empty containers are shared between
    # lines (there are millions of lines in a large account; all are read-only).
    return {
        "id": sim.ids.long("il"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": desc,
        "discount_amounts": _EMPTY_LIST,
        "discountable": True,
        "discounts": _EMPTY_LIST,
        "invoice": inv_id,
        "livemode": sim.livemode,
        "metadata": _EMPTY_DICT,
        "parent": parent,
        "period": period,
        "pretax_credit_amounts": _EMPTY_LIST,
        "pricing": price.pricing,
        "quantity": qty,
        "quantity_decimal": qty_decimal or _decimal(qty),
        "subscription": _line_subscription(parent),
        "subtotal": amount,
        "taxes": _EMPTY_LIST,
    }


def _item_parent(sub: Sub, it: Item) -> JSON:
    """The ``parent`` of an item's lines, shared by all of them."""
    if it.parent is None:
        it.parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": _NO_CREDITED_ITEMS,
                "subscription": sub.id,
                "subscription_item": it.id,
            },
            "type": "subscription_item_details",
        }
    return it.parent


def _item_description(sim: Sim, price: Price, quantity: int) -> str:
    """``3 × Seats (at $15.00 / month)``, cached: descriptions repeat."""
    key = (price.key, quantity)
    desc = sim.descriptions.get(key)
    if desc is None:
        rec = price.obj["recurring"]
        per = rec["interval"] if rec["interval_count"] == 1 else (
            f"{rec['interval_count']} {rec['interval']}s")
        name = sim.catalog.product_name(price)
        if price.obj["billing_scheme"] == "tiered":
            desc = f"{quantity} × {name} (Tier pricing)"
        else:
            unit = _money(int(price.obj["unit_amount"]), str(price.obj["currency"]))
            desc = f"{quantity} × {name} (at {unit} / {per})"
        sim.descriptions[key] = desc
    return desc


def _line_subscription(parent: JSON) -> str | None:
    """An invoice line's top-level ``subscription``: the one its parent details name."""
    details = parent["subscription_item_details"] or parent["invoice_item_details"]
    return None if details is None else details["subscription"]


def _decimal(quantity: int) -> str:
    """A quantity as Stripe's ``quantity_decimal`` string (``str`` is hot for lines)."""
    return _DECIMALS[quantity] if 0 <= quantity < 1000 else str(quantity)


def _money(amount: int, currency: str) -> str:
    """An amount as Stripe's descriptions write it (``$1,234.00``)."""
    sym = _SYMBOLS.get(currency, currency.upper() + " ")
    return f"{sym}{amount / 100:,.2f}"
