"""The cycle collector, tuned for bursts of short-lived, acyclic objects.

Parsed JSON and the rows made from it are dicts, lists and tuples by the thousand and
hold no reference cycles: reference counting frees them. The collector still counts
every one and, at its default thresholds, scans the survivors again and again as they
age through its generations (a visible share of a backfill's CPU). What is dropped
is still freed at once either way; only cycles wait longer.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# A young-generation collection every 50,000 allocations instead of 700: garbage cycles
# still get collected (a few per request at most), just in larger, rarer sweeps.
RELAXED_THRESHOLD = (50_000, 20, 20)


class _Pauses:
    """Blocks pausing the collector, from any thread: it resumes when the last one ends
    (a normalization reads batches in other threads, a report may run beside it), and
    only if it was running when the first one began."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.resume = False

    def enter(self) -> None:
        with self.lock:
            if self.open == 0:
                self.resume = gc.isenabled()
                gc.disable()
            self.open += 1

    def leave(self) -> None:
        with self.lock:
            self.open -= 1
            if self.open == 0 and self.resume:
                gc.enable()


_PAUSES = _Pauses()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection inside (blocks building batches of parsed objects: they are short)."""
    _PAUSES.enter()
    try:
        yield
    finally:
        _PAUSES.leave()


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
