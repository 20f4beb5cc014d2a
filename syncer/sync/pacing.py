"""How many pages the backfill keeps in flight (pure).

Little's law: to send ``rate`` requests a second when each page takes ``service`` seconds
from its request to its rows, ``rate × service`` pages must be in flight. ``service`` is
the round trip, the child lists the page pages, and the work on its objects; not the
time it waits for the rate budget (that is what too many in flight costs, not what a
page needs). Stripe answers a page of 100 expanded objects in 0.3 s to over a second, a
fake Stripe in milliseconds: a fixed number in flight leaves most of the budget idle on
a slow network, or only queues at the budget on a fast one. So the backfill measures
``service`` as it goes, for all pages and for each resource's, and sizes from it both the
pages in flight overall (at the global budget) and each resource's (at its endpoint's).
"""

from __future__ import annotations

import math

# Service times vary from page to page: some more in flight than the mean needs keeps the
# budget busy while a slow page is out.
HEADROOM = 1.25
# Weight of the newest page in the running mean: it follows a change of latency within a
# few dozen pages and is not thrown by one slow page.
SMOOTHING = 0.1
# Before any page came back: a guess between a fast network's and Stripe's round trip.
INITIAL_SERVICE_SECONDS = 0.3


class ServiceTime:
    """The running mean of the seconds pages take (each ``add``ed as it comes back)."""

    def __init__(self, initial: float = INITIAL_SERVICE_SECONDS) -> None:
        self.seconds = initial
        self.samples = 0

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        # The first page replaces the guess rather than be averaged with it.
        self.seconds = seconds if self.samples == 0 else self.seconds + SMOOTHING * (seconds - self.seconds)
        self.samples += 1


def in_flight(rate: float, service: float, *, ceiling: int) -> int:
    """Pages to have in flight to fetch ``rate`` a second when each takes ``service``
    seconds; at least one, at most ``ceiling``."""
    if not math.isfinite(rate) or not math.isfinite(service):
        return ceiling
    return max(1, min(ceiling, math.ceil(rate * service * HEADROOM)))


def seconds_left(pages_left: dict[str, float], *, rate: float, endpoint_rate: float) -> float:
    """The least time the pages left can take at the budget: all of them at the global
    rate, or the busiest resource's at its endpoint's rate (infinite while a resource's
    count is unknown)."""
    if not pages_left:
        return 0.0
    return max(sum(pages_left.values()) / rate, max(pages_left.values()) / endpoint_rate)
