"""The dashboard's reports, computed once per state of the data.

A month's report depends only on the facts (derived from the last successful sync), the
settings (fixed for the process) and, for its final/preliminary status, the time. So a
report is kept until a newer sync succeeds or the hour turns, and every page of that
state (the overview's 24 months, a month, its movements, its segments) is served from
it: at size M the overview costs seconds to compute and milliseconds to serve.

A key is computed once: two people opening the overview after a sync wait for one
computation instead of running two. Keys are computed apart: a page already kept, or
another page, never waits for the warm-up's computation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from syncer.app.logging import get_logger, redact
from syncer.errors import NrrError

log = get_logger(__name__)
T = TypeVar("T")
WARM_EVERY_SECONDS = 60.0

ENTRIES = 64  # a month page for each of 24 months, its trends, a few accounts
HOUR = 3600


class ReportCache:
    """``get(key, compute)``: ``compute()``'s value for ``key``, computed once; the
    least recently used entries are dropped beyond ``entries``."""

    def __init__(self, entries: int = ENTRIES) -> None:
        self._entries = entries
        self._values: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()  # held only to read or change the two dicts
        self._computing: dict[Hashable, threading.Lock] = {}  # one lock per key being computed

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        found, kept = self._kept(key)
        if found:
            return kept  # type: ignore[return-value]
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            found, kept = self._kept(key)  # computed while this one waited
            if found:
                return kept  # type: ignore[return-value]
            try:
                value = compute()  # errors are not kept: the next request tries again
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            with self._lock:
                self._values[key] = value
                while len(self._values) > self._entries:
                    self._values.popitem(last=False)
            return value

    def _kept(self, key: Hashable) -> tuple[bool, object]:
        with self._lock:
            if key not in self._values:
                return False, None
            self._values.move_to_end(key)
            return True, self._values[key]

    def peek(self, key: Hashable) -> object | None:
        """The value kept for ``key``, if any; computes nothing."""
        with self._lock:
            return self._values.get(key)

    def __len__(self) -> int:
        return len(self._values)


def data_state(data_as_of: int | None, now: float) -> tuple[int | None, int]:
    """What a cached report depends on besides its arguments: the last successful sync
    (newer data, new facts) and the hour (a month turns final at its due hour)."""
    return data_as_of, int(now) // HOUR


class Warmer:
    """Runs ``warm`` at once and then every ``every`` seconds in a thread until ``stop()``:
    after a sync, the first person to open the dashboard finds its reports computed. A
    warm-up finding them current costs a cache lookup."""

    def __init__(self, warm: Callable[[], None], every: float = WARM_EVERY_SECONDS) -> None:
        self._warm, self._every = warm, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nrr-web-warm", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)  # a computation under way ends with the process (a daemon thread)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._warm()
            except NrrError as exc:  # no sync yet, a database down: the pages will say so
                log.info("web.warm_skipped", reason=redact(str(exc)))
            except Exception as exc:  # noqa: BLE001 (a warm-up never stops the dashboard)
                log.warning("web.warm_failed", error=type(exc).__name__)
            self._stop.wait(self._every)
