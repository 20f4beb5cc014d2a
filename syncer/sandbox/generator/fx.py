"""The second currency some customers pay in, and its monthly exchange rates."""

from __future__ import annotations

import random
from bisect import bisect_right

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.units import month_floor


def foreign_currency(currency: str) -> str:
    """The second currency some customers pay in."""
    return "eur" if currency != "eur" else "usd"


def fx_table(rng: random.Random, fx_currency: str, *, start: int,
             now: int) -> list[tuple[int, float]]:
    """Month start -> units of account currency per unit of the foreign currency."""
    base = 1.08 if fx_currency == "eur" else 0.92
    table: list[tuple[int, float]] = []
    t, rate = month_floor(add_months(start, -1)), base
    while t <= now:
        table.append((t, round(rate, 6)))
        rate = max(base * 0.85, min(base * 1.15, rate * (1 + rng.uniform(-0.02, 0.02))))
        t = add_months(t, 1)
    return table


def rate_at(table: list[tuple[int, float]], t: int) -> float:
    """The rate of the month of ``t`` (the latest known one past the table)."""
    i = bisect_right(table, (t, float("inf"))) - 1
    return table[max(i, 0)][1]
