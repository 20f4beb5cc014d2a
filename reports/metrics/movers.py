"""Top movers: the month's largest expansions and largest contractions or churns, with
the plans they moved between."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from reports.metrics.index import CustomerIndex
from reports.metrics.report import CHURN, CONTRACTION, EXPANSION, Movement, Mover

TOP_MOVERS = 5
# Top movers hide changes smaller than this share of the month's start MRR (0.5 %).
MOVER_THRESHOLD = Fraction(5, 1000)


def _largest_up(m: Movement | Mover) -> tuple[int, str]:
    """Sort key: the largest expansion first (ties by customer id)."""
    return -m.delta, m.customer


def _largest_down(m: Movement | Mover) -> tuple[int, str]:
    """Sort key: the largest drop first (deltas are negative; ties by customer id)."""
    return m.delta, m.customer


def _largest_moves(movements: Sequence[Movement]) -> tuple[list[Movement], list[Movement]]:
    """A batch's 5 largest expansions and 5 largest contractions or churns."""
    ups = sorted((m for m in movements if m.movement == EXPANSION), key=_largest_up)
    downs = sorted((m for m in movements if m.movement in (CONTRACTION, CHURN)), key=_largest_down)
    return ups[:TOP_MOVERS], downs[:TOP_MOVERS]


class LargestMoves:
    """A month's 5 largest expansions and 5 largest drops over the batches of customers
    added so far: the 0.5 % threshold needs the whole month's start MRR, known only once
    every batch is in."""

    def __init__(self, opening: int, closing: int) -> None:
        self.opening, self.closing = opening, closing
        self.ups: list[Mover] = []
        self.downs: list[Mover] = []

    def add(self, index: CustomerIndex, movements: Sequence[Movement]) -> None:
        """Keep the batch's largest movements that beat those kept so far."""
        ups, downs = _largest_moves(movements)
        self.ups = sorted([*self.ups, *(self._mover(index, m) for m in ups)], key=_largest_up)[:TOP_MOVERS]
        self.downs = sorted([*self.downs, *(self._mover(index, m) for m in downs)], key=_largest_down)[:TOP_MOVERS]

    def _mover(self, index: CustomerIndex, m: Movement) -> Mover:
        return Mover(m.customer, m.name, m.movement, m.from_mrr, m.to_mrr, m.delta,
                     plan=index.plan_change(m.customer, self.opening, self.closing))

    def top(self, start_mrr: int) -> tuple[Mover, ...]:
        """The 5 largest expansions, then the 5 largest contractions or churns (by |delta|),
        leaving out changes under 0.5 % of the month's start MRR.

        Those kept are the month's 5 largest, in order: the changes left out are the
        smallest, so the largest 5 of those shown are among them."""

        def visible(m: Mover) -> bool:
            return abs(m.delta) >= MOVER_THRESHOLD * start_mrr

        return tuple(m for m in [*self.ups, *self.downs] if visible(m))
