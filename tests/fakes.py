"""Small test doubles shared by several test modules."""

from __future__ import annotations

import threading


class FakeTime:
    """A clock that only moves when someone sleeps on it: no test waits for real."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class Sleeps(list[float]):
    """A sleep that records what it was asked to wait and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
