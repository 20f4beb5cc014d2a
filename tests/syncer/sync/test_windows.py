"""Window splitting: the slices tile the remainder exactly and only when worth it."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from syncer.sync.windows import MAX_SPLIT, split_points


def test_dense_page_far_from_start_is_split_evenly() -> None:
    # 100 objects in the last 100 seconds, 100,000 seconds still to go: ~1,000 pages.
    created = list(range(1_000_000, 999_900, -1))
    points = split_points(0, created, page_size=100, capacity=64)
    assert len(points) == MAX_SPLIT - 1
    assert points == sorted(set(points))
    assert points[0] > 0 and points[-1] <= min(created)


def test_sparse_remainder_is_not_split() -> None:
    # 100 objects over 100,000 seconds, 1,000 seconds left: well under a page.
    created = [1_100_000 - i * 1000 for i in range(100)]
    assert split_points(1_000_000, created, page_size=100, capacity=64) == []


def test_no_capacity_no_split() -> None:
    created = list(range(1_000_000, 999_900, -1))
    assert split_points(0, created, page_size=100, capacity=0) == []
    assert len(split_points(0, created, page_size=100, capacity=2)) == 2


def test_ties_at_the_start_cannot_be_split() -> None:
    assert split_points(500, [501] * 100, page_size=100, capacity=64) == []


@given(
    start=st.integers(0, 2_000_000_000),
    span=st.integers(0, 10_000_000),
    created=st.lists(st.integers(0, 10_000_000), min_size=1, max_size=100),
    capacity=st.integers(0, 40),
)
def test_points_always_tile_inside_the_remainder(start: int, span: int, created: list[int], capacity: int) -> None:
    page = [start + span + c for c in created]
    points = split_points(start, page, page_size=100, capacity=capacity)
    bounds = [start, *points]
    assert all(a < b for a, b in itertools.pairwise(bounds))
    if points:
        assert points[-1] <= min(page)
        assert len(points) <= min(MAX_SPLIT - 1, capacity)
