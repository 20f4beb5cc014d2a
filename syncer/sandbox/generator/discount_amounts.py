"""How an invoice's discounts spread over its lines (``discount_amounts``)."""

from __future__ import annotations

from syncer.sandbox.generator.pricing import rdiv
from syncer.sandbox.generator.state import Disc, Sub
from syncer.sandbox.generator.units import JSON


def apply_item_discounts(lines: list[JSON], sub: Sub) -> dict[str, int]:
    """Each item's own discounts on its lines (an amount off once, on its period line)."""
    totals: dict[str, int] = {}
    by_item = {it.id: it.discounts for it in sub.items if it.discounts}
    if not by_item:
        return totals
    for ln in lines:
        details = ln["parent"]["subscription_item_details"]
        discs = by_item.get(details["subscription_item"]) if details else None
        if not discs:
            continue
        ln["discounts"] = [d.id for d in discs]
        for d in discs:
            pct, off = d.coupon["percent_off"], d.coupon["amount_off"]
            if pct:
                a = rdiv(int(ln["amount"] * pct * 100), 10000)
            elif off and not details["proration"]:
                a = min(int(off), max(0, ln["amount"]))
            else:
                continue
            if a:
                _line_discount(ln, d.id, a)
                totals[d.id] = totals.get(d.id, 0) + a
    return totals


def apply_discounts(lines: list[JSON], discounts: list[Disc]) -> dict[str, int]:
    """Spread the subscription's discounts over the lines; totals per discount."""
    totals: dict[str, int] = {}
    for d in discounts:
        pct, off = d.coupon["percent_off"], d.coupon["amount_off"]
        if pct:
            for ln in lines:
                a = rdiv(int(ln["amount"] * pct * 100), 10000)
                if a:
                    _line_discount(ln, d.id, a)
                    totals[d.id] = totals.get(d.id, 0) + a
        elif off:
            positive = [ln for ln in lines if ln["amount"] > 0]
            base = sum(ln["amount"] for ln in positive)
            if not base:
                continue
            off = min(int(off), base)
            shares = [off * ln["amount"] // base for ln in positive]
            shares[shares.index(max(shares))] += off - sum(shares)
            for ln, a in zip(positive, shares, strict=True):
                if a:
                    _line_discount(ln, d.id, a)
            totals[d.id] = off
    return totals


def _line_discount(line: JSON, di: str, amount: int) -> None:
    """Record ``amount`` off ``line`` by discount ``di`` (new lists: the old are shared)."""
    line["discount_amounts"] = line["discount_amounts"] + [{"amount": amount, "discount": di}]
    line["pretax_credit_amounts"] = line["pretax_credit_amounts"] + [
        {"amount": amount, "credit_balance_transaction": None, "discount": di,
         "type": "discount"}]
