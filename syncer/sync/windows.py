"""Splitting a ``created`` window while it still has pages (pure).

Stripe lists newest first. After a page of window ``[start, end)`` whose oldest object
was created at ``oldest``, everything not yet seen lies in ``[start, oldest]``. We cut
that remainder into ``k`` slices at boundaries ``b1 < … < b(k-1)``: the current window
keeps ``[b(k-1), end)`` and its cursor (so objects tied at ``oldest`` are still paged
in order), and new windows take ``[start, b1) … [b(k-2), b(k-1))``. The slices tile the
range exactly, so the union of done windows is the whole range.

Each window ends on a partial page, so each split costs about one request; what it buys
is pages fetched side by side instead of one after the other. A window is split when
its resource has requests to spare in flight and no window to give them
(``idle_slots``); when its pages, fetched one after the other, would take longer than the
rest of the backfill (``chain_pages``: the end of a backfill is its longest window's);
when the budget itself has room no window can use (``spare_slots``: the end of a
backfill, where a split costs a request the budget has to spare, and estimates made from
a few pages may be far off); and after a resource's first page, whose estimate is a
guess (``first_page``).
"""

from __future__ import annotations

import math

# A window ends on a partial page: to feed idle slots, cut no slice smaller than this.
MIN_PAGES_PER_WINDOW = 4
# To shorten the longest chain, cut no slice smaller than this: a slice of one page saves
# no time over its neighbour but costs its own partial page.
MIN_CHAIN_PAGES = 2
MAX_SPLIT = 16
# A resource's first page is all its estimate rests on: an account's first customers,
# imported at once, are a crowd its newest page cannot show. Its remainder is cut in at
# least this many slices, so that a page of the oldest is read at once as well.
FIRST_PAGE_PIECES = 3


def pieces(est_pages: float, *, idle_slots: int, chain_pages: float, spare_slots: int = 0,
           first_page: bool = False) -> int:
    """How many slices to cut a window's unread part into (1: leave it whole).

    ``est_pages`` is what the unread part is estimated to hold, ``idle_slots`` how many
    more pages its resource could have in flight than it has windows for,
    ``chain_pages`` how many pages one window may still fetch in a row without holding
    up the end of the backfill, and ``spare_slots`` how many pages the budget could have
    in flight that no window is there for.
    """
    if not est_pages >= 1 or not math.isfinite(est_pages):
        return 1
    idle = max(0, idle_slots)
    for_slots = min(idle + 1, int(est_pages // MIN_PAGES_PER_WINDOW))
    for_chain = math.ceil(est_pages / max(chain_pages, MIN_CHAIN_PAGES)) if math.isfinite(chain_pages) else 1
    for_spare = min(min(idle, max(0, spare_slots)) + 1, max(2, int(est_pages))) if spare_slots > 0 else 1
    for_first = min(idle + 1, FIRST_PAGE_PIECES) if first_page and est_pages >= MIN_CHAIN_PAGES else 1
    return max(1, min(MAX_SPLIT, max(for_slots, for_chain, for_spare, for_first)))


def split_points(start: int, oldest: int, k: int) -> list[int]:
    """Boundaries ``b1 < … < b(k-1)`` cutting ``[start, oldest]`` into ``k`` slices of
    equal time; empty means "don't split" (``k`` < 2, or too little time to cut)."""
    remainder = oldest - start
    k = min(k, remainder)
    if k < 2:
        return []
    points = [start + (remainder * i) // k for i in range(1, k)]
    # Strictly increasing and inside (start, oldest]: drop duplicates from rounding.
    out: list[int] = []
    for p in points:
        if start < p <= oldest and (not out or p > out[-1]):
            out.append(p)
    return out
