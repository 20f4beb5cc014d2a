"""The cycle collector, tuned for bursts of short-lived, acyclic objects.

Parsed JSON and the rows made from it are dicts, lists and tuples by the thousand and
hold no reference cycles: reference counting frees them. The collector still counts
every one and, at its default thresholds, scans the survivors again and again as they
age through its generations (a visible share of a backfill's CPU). What is dropped
is still freed at once either way; only cycles wait longer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# A young-generation collection every 50,000 allocations instead of 700: garbage cycles
# still get collected (a few per request at most), just in larger, rarer sweeps.
RELAXED_THRESHOLD = (50_000, 20, 20)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection inside (one thread building one batch: it is short)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def collector_relaxed() -> Iterator[None]:
    """Rarer cycle collection inside (many threads over minutes: pausing would let the
    few cycles they make pile up)."""
    before = gc.get_threshold()
    gc.set_threshold(*RELAXED_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)
