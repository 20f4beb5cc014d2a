"""Window splitting: the slices tile the remainder exactly, and a window is cut only for
idle slots, a chain that would outlast the backfill, or a budget with room to spare."""

from __future__ import annotations

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from syncer.sync.windows import (
    FIRST_PAGE_PIECES,
    MAX_SPLIT,
    MIN_PAGES_PER_WINDOW,
    pieces,
    split_points,
)


def test_the_remainder_is_cut_into_slices_of_equal_time() -> None:
    assert split_points(0, 1_000, 4) == [250, 500, 750]
    assert split_points(0, 1_000, 1) == []


def test_ties_at_the_start_cannot_be_split() -> None:
    # Slices are whole seconds: two seconds make two slices at most, one none.
    assert split_points(500, 502, 8) == [501]
    assert split_points(500, 501, 8) == []


@given(start=st.integers(0, 2_000_000_000), span=st.integers(0, 10_000_000), k=st.integers(0, 40))
def test_points_always_tile_inside_the_remainder(start: int, span: int, k: int) -> None:
    points = split_points(start, start + span, k)
    bounds = [start, *points]
    assert all(a < b for a, b in itertools.pairwise(bounds))
    if points:
        assert points[-1] <= start + span
        assert len(points) <= k - 1


def test_idle_slots_are_fed_with_slices_of_a_few_pages_each() -> None:
    # 40 pages left and 15 slots idle: 10 slices of 4 pages, not 16 of 2.5.
    assert pieces(40, idle_slots=15, chain_pages=math.inf) == 40 // MIN_PAGES_PER_WINDOW
    # 400 pages: as many slices as slots (and this window's own).
    assert pieces(400, idle_slots=5, chain_pages=math.inf) == 6
    assert pieces(400, idle_slots=60, chain_pages=math.inf) == MAX_SPLIT
    # No idle slot, no chain to fear, no spare budget: left whole.
    assert pieces(400, idle_slots=0, chain_pages=math.inf) == 1


def test_a_window_whose_pages_would_outlast_the_backfill_is_cut_even_without_idle_slots() -> None:
    # 9 pages left but only 3 fit in the time the rest needs: three chains of 3.
    assert pieces(9, idle_slots=0, chain_pages=3) == 3
    # A chain is never cut into slices of less than two pages: one page saves nothing.
    assert pieces(9, idle_slots=0, chain_pages=0.5) == 5
    assert pieces(3, idle_slots=0, chain_pages=4) == 1


def test_a_spare_budget_halves_even_a_window_thought_small() -> None:
    # At the end of a backfill the budget has room: a window estimated at 1.5 pages (an
    # estimate may be far off) is cut in two, as far as its resource has idle slots.
    assert pieces(1.5, idle_slots=4, chain_pages=math.inf, spare_slots=10) == 2
    assert pieces(6, idle_slots=4, chain_pages=math.inf, spare_slots=10) == 5
    assert pieces(6, idle_slots=0, chain_pages=math.inf, spare_slots=10) == 1
    assert pieces(1.5, idle_slots=4, chain_pages=math.inf, spare_slots=0) == 1


def test_a_resources_first_page_cuts_its_remainder_in_a_few_slices_to_read_its_oldest_too() -> None:
    # One page says 3 pages are left; the account's first customers may be a crowd it
    # cannot show: three slices read a page at each end (and one between) at once.
    assert pieces(3, idle_slots=10, chain_pages=math.inf, first_page=True) == FIRST_PAGE_PIECES
    assert pieces(3, idle_slots=1, chain_pages=math.inf, first_page=True) == 2  # as far as slots allow
    assert pieces(1.5, idle_slots=10, chain_pages=math.inf, first_page=True) == 1  # a page or so: nothing to find
    assert pieces(3, idle_slots=10, chain_pages=math.inf) == 1  # later pages know better


def test_nothing_known_or_less_than_a_page_left_is_never_cut() -> None:
    assert pieces(math.inf, idle_slots=10, chain_pages=1, spare_slots=10) == 1
    assert pieces(0.5, idle_slots=10, chain_pages=0.1, spare_slots=10) == 1
