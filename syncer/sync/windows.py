"""Splitting a ``created`` window while it still has pages (pure).

Stripe lists newest first. After a page of window ``[start, end)`` whose oldest object
was created at ``oldest``, everything not yet seen lies in ``[start, oldest]``. We cut
that remainder into ``k`` slices at boundaries ``b1 < … < b(k-1)``: the current window
keeps ``[b(k-1), end)`` and its cursor (so objects tied at ``oldest`` are still paged
in order), and new windows take ``[start, b1) … [b(k-2), b(k-1))``. The slices tile the
range exactly, so the union of done windows is the whole range.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_PAGES_PER_WINDOW = 4  # a window ends on a partial page: fewer, longer windows waste less
MAX_SPLIT = 16


def split_points(
    start: int,
    created: Sequence[int],
    *,
    page_size: int,
    capacity: int,
) -> list[int]:
    """Boundaries ``b1 < … < b(k-1)`` inside ``(start, oldest]``; empty means "don't split".

    ``created`` are the created times of the page just read; ``capacity`` is how many
    more windows the pool can usefully run at once.
    """
    if not created or capacity <= 0:
        return []
    oldest, newest = min(created), max(created)
    remainder = oldest - start
    if remainder < 2:
        return []
    # Density of the page just read predicts how many objects the remainder holds.
    per_second = len(created) / max(1, newest - oldest + 1)
    est_pages = per_second * remainder / page_size
    k = min(MAX_SPLIT, int(est_pages // MIN_PAGES_PER_WINDOW), capacity + 1, remainder)
    if k < 2:
        return []
    points = [start + (remainder * i) // k for i in range(1, k)]
    # Strictly increasing and inside (start, oldest]: drop duplicates from rounding.
    out: list[int] = []
    for p in points:
        if start < p <= oldest and (not out or p > out[-1]):
            out.append(p)
    return out
