"""Small pure rules shared by the normalizers: tolerant readers, prices, discounts, rounding.

Everything reads Stripe's current shapes first and older ones after (like
``syncer.sync.projection``), and never raises on a missing field: a field that is absent or of
an unexpected type reads as None. Amounts are exact (``Fraction``) until one rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

# The shape readers are shared with the projection; re-exported for the normalizer.
from syncer.stripe.shapes import as_int, as_str, discount_coupon, first, get, ref

Obj = Mapping[str, Any]


# ---- tolerant readers ---------------------------------------------------------------------


def data_list(value: Any) -> list[Obj]:
    """The objects of an embedded list (``{"data": [...]}``) or of a plain array."""
    # ``type(x) is dict`` first here and below: parsed JSON is dicts, and the ABC check,
    # millions of times per account, cost a few percent of normalization.
    items = value.get("data") if type(value) is dict or isinstance(value, Mapping) else value
    if not isinstance(items, list):
        return []
    return [item for item in items if type(item) is dict or isinstance(item, Mapping)]


def sum_amounts(items: Any) -> int:
    """Sum of ``[].amount`` (0 when there is no list)."""
    if not isinstance(items, list):
        return 0
    return sum(as_int(get(item, "amount")) or 0 for item in items)


# ---- rounding -------------------------------------------------------------------------------


def round_half_even(value: Fraction) -> int:
    """One rounding of an exact amount to minor units (banker's rounding: no drift)."""
    return round(value)


# ---- prices -----------------------------------------------------------------------------------


def interval_of(price: Obj) -> tuple[str, int] | None:
    """(interval, count) of a recurring price (current ``recurring`` or a legacy plan)."""
    interval = first(get(price, "recurring", "interval"), as_str(price.get("interval")))
    count = first(as_int(get(price, "recurring", "interval_count")),
                  as_int(price.get("interval_count")), 1)
    if not isinstance(interval, str):
        return None
    return interval, max(1, int(count))


def monthly_factor(interval: str, count: int) -> Fraction:
    """METRICS.md §1.3: month×n → 1/n, year×n → 1/(12n), week×n → 52/(12n), day×n → 365/(12n)."""
    if interval == "month":
        return Fraction(1, count)
    if interval == "year":
        return Fraction(1, 12 * count)
    if interval == "week":
        return Fraction(52, 12 * count)
    if interval == "day":
        return Fraction(365, 12 * count)
    return Fraction(0)


def is_metered(price: Obj) -> bool:
    recurring = price.get("recurring")
    usage = recurring.get("usage_type") if type(recurring) is dict else get(recurring, "usage_type")
    return (usage if usage is not None else price.get("usage_type")) == "metered"


def _decimal(value: Any, decimal: Any) -> Fraction | None:
    """An amount from its integer field, else its ``*_decimal`` string (sub-cent prices)."""
    number = as_int(value)
    if number is not None:
        return Fraction(number)
    if isinstance(decimal, str) and decimal:
        try:
            return Fraction(decimal)
        except (ValueError, ZeroDivisionError):
            return None
    return None


def _transformed(price: Obj, quantity: int | Fraction) -> int | Fraction:
    """The billed quantity after ``transform_quantity`` (packages: ceil or floor of q/n)."""
    divide_by = as_int(get(price, "transform_quantity", "divide_by"))
    if not divide_by or divide_by <= 0:
        return quantity
    if get(price, "transform_quantity", "round") == "down":
        return quantity // divide_by
    return -(-quantity // divide_by)


def _tier_amount(tier: Obj, units: int | Fraction) -> Fraction:
    flat = _decimal(tier.get("flat_amount"), tier.get("flat_amount_decimal")) or Fraction(0)
    unit = _decimal(tier.get("unit_amount"), tier.get("unit_amount_decimal")) or Fraction(0)
    return flat + unit * units


def _tiered(tiers: Sequence[Obj], mode: Any, quantity: int | Fraction) -> Fraction:
    """A tiered price at ``quantity``: ``volume`` prices all units at the reached tier;
    ``graduated`` prices each tier's units at its rate; flat amounts apply per tier reached."""
    if mode == "volume":
        for tier in tiers:
            up_to = as_int(tier.get("up_to"))
            if up_to is None or quantity <= up_to:
                return _tier_amount(tier, quantity)
        return Fraction(0)
    total = Fraction(0)
    below: int | Fraction = 0
    for tier in tiers:
        if quantity <= below:
            break
        up_to = as_int(tier.get("up_to"))
        top = quantity if up_to is None else min(quantity, up_to)
        total += _tier_amount(tier, top - below)
        below = top if up_to is None else up_to
    return total


def period_amount(price: Obj, quantity: int | Fraction) -> Fraction | None:
    """What one period of ``quantity`` units of a licensed price costs (None: unknown).

    Tiers come with the price when it was expanded (``tiers``); a tiered price without
    them cannot be priced and reads as unknown rather than as 0.
    """
    scheme = first(price.get("billing_scheme"), "per_unit")
    if scheme == "tiered":
        tiers = price.get("tiers")
        if not isinstance(tiers, list) or not tiers:
            return None
        return _tiered([t for t in tiers if isinstance(t, Mapping)], price.get("tiers_mode"),
                       quantity)
    unit = _decimal(first(price.get("unit_amount"), price.get("amount")),
                    first(price.get("unit_amount_decimal"), price.get("amount_decimal")))
    if unit is None:
        return None
    return unit * _transformed(price, quantity)


def item_contract(price: Obj, quantity: int | Fraction) -> Fraction | None:
    """Exact monthly amount of a licensed item before discounts (None: not MRR)."""
    interval = interval_of(price)
    if interval is None or is_metered(price):
        return None
    amount = period_amount(price, quantity)
    if amount is None:
        return None
    return amount * monthly_factor(*interval)


# ---- coupons ----------------------------------------------------------------------------------


def coupon_of(discount: Obj, coupons: Mapping[str, Obj]) -> Obj | None:
    """The coupon of a discount: ``source.coupon`` now (id or object), ``coupon`` before.

    The synced coupon wins over an embedded copy; a deleted coupon survives only embedded.
    """
    value = discount_coupon(discount)
    coupon_id = ref(value)
    if coupon_id is not None and coupon_id in coupons:
        return coupons[coupon_id]
    return value if isinstance(value, Mapping) else None
