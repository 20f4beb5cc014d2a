"""Revenue (METRICS.md §4), billed basis: each month's lines by kind, each converted at
its own instant's rate."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

from reports.facts import RevenueKind, RevenueLine
from reports.fx import FxTable
from reports.metrics.report import Revenue


def billed(lines: Iterable[RevenueLine], months: Sequence[tuple[int, int, str]], fx: FxTable) -> dict[str, Revenue]:
    """The revenue of each of ``months`` (``(start, end, month)``): the lines with
    ``start <= at < end``. One pass over the lines, in any order, holding none of them: at
    size L, the lines in a foreign currency alone are 150,000 (those in the report's
    currency come summed by the database)."""
    bounds = sorted(set(months))
    starts = [start for start, _, _ in bounds]
    sums: dict[str, dict[RevenueKind, int]] = {month: dict.fromkeys(RevenueKind, 0) for _, _, month in bounds}
    for line in lines:
        i = bisect_right(starts, line.at) - 1
        if i >= 0 and line.at < bounds[i][1]:
            sums[bounds[i][2]][line.kind] += fx.convert(line.amount, line.currency, line.at)
    return {
        month: Revenue(recurring=k[RevenueKind.RECURRING], usage=k[RevenueKind.USAGE],
                       one_time=k[RevenueKind.ONE_TIME], refunds=k[RevenueKind.REFUND],
                       credit_notes=k[RevenueKind.CREDIT_NOTE])
        for month, k in sums.items()
    }
