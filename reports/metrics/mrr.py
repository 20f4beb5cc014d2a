"""MRR at an instant: the spans in force (``start <= at < end``), summed per currency,
and converted into the reporting currency."""

from __future__ import annotations

from collections.abc import Iterable

from reports.facts import Facts, MrrSpan
from reports.fx import FxTable

NO_MRR: dict[str, int] = {}  # shared, never written to


def sum_in_force(spans: Iterable[MrrSpan], at: int, *, sorted_by_start: bool = False) -> dict[str, int]:
    """The MRR per currency of the ``spans`` in force at ``at``; ``sorted_by_start`` lets
    the scan stop at the first span starting after ``at``."""
    out: dict[str, int] = {}
    for s in spans:
        if s.start > at:
            if sorted_by_start:
                break
            continue
        if s.mrr and (s.end is None or at < s.end):
            out[s.currency] = out.get(s.currency, 0) + s.mrr
    return out


def customer_mrr(facts: Facts, customer: str, at: int) -> dict[str, int]:
    """A customer's MRR per currency from the spans in force at ``at`` (start <= at < end)."""
    return sum_in_force((s for s in facts.spans if s.customer == customer), at)


def mrr_by_customer(facts: Facts, at: int) -> dict[str, dict[str, int]]:
    """Every customer with MRR at ``at``: ``{customer: {currency: minor units}}``."""
    out: dict[str, dict[str, int]] = {}
    for s in facts.spans:
        if s.mrr and s.start <= at and (s.end is None or at < s.end):
            per = out.setdefault(s.customer, {})
            per[s.currency] = per.get(s.currency, 0) + s.mrr
    return out


def convert(native: dict[str, int], fx: FxTable, at: int) -> int:
    """MRR per currency as one amount in the reporting currency, at the rate of ``at``."""
    # Convert each currency, then add integers: rounding happens per customer and
    # currency, and the roll-forward adds exactly the integers it reports.
    if not native:
        return 0
    return sum(amount if cur == fx.currency else _convert_mrr(amount, cur, fx, at) for cur, amount in native.items())


def _convert_mrr(amount: int, currency: str, fx: FxTable, at: int) -> int:
    """A positive MRR never rounds to nothing: whether a customer pays decides the customer
    counts, and a tiny MRR (one yen) that rounded to 0 at one month-end rate and to 1 cent
    at the next would leave a month ending with a customer fewer than the next began."""
    converted = fx.convert(amount, currency, at)
    return 1 if amount > 0 and converted < 1 else converted
