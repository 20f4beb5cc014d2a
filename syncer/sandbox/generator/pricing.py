"""What a price costs for a quantity, and that amount as MRR (METRICS.md §1.3)."""

from __future__ import annotations

from syncer.sandbox.generator.units import JSON


def rdiv(num: int, den: int) -> int:
    """num/den rounded half away from zero (Stripe's rounding of prorations)."""
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def price_amount(price: JSON, quantity: int) -> int:
    """What one period of ``quantity`` units of a licensed price costs."""
    if price.get("billing_scheme") != "tiered":
        return int(price["unit_amount"]) * quantity
    tiers = price["tiers"]
    if price.get("tiers_mode") == "volume":
        for tier in tiers:
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                return int(tier["flat_amount"] or 0) + int(tier["unit_amount"] or 0) * quantity
        return 0
    total, below = 0, 0
    for tier in tiers:  # graduated: each tier prices the units that fall in it
        if quantity <= below:
            break
        top = quantity if tier["up_to"] is None else min(quantity, tier["up_to"])
        total += int(tier["flat_amount"] or 0) + int(tier["unit_amount"] or 0) * (top - below)
        below = top if tier["up_to"] is None else tier["up_to"]
    return total


def monthly(amount: int, interval: str, count: int) -> int:
    """An amount per ``count`` ``interval``s normalised to a month (METRICS.md §1.3)."""
    if interval == "month":
        return rdiv(amount, count)
    if interval == "year":
        return rdiv(amount, 12 * count)
    if interval == "week":
        return rdiv(amount * 52, 12 * count)
    return rdiv(amount * 365, 12 * count)


def item_mrr(price: JSON, quantity: int, percent_off: float = 0) -> int:
    """Monthly MRR of one licensed item after a percent discount; 0 for metered."""
    rec = price.get("recurring")
    if not rec or rec.get("usage_type") == "metered":
        return 0
    base = monthly(price_amount(price, quantity), rec["interval"], rec["interval_count"])
    if percent_off:
        base -= rdiv(int(base * percent_off * 100), 10000)
    return max(0, base)
