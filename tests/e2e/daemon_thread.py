"""The daemon run in a thread of the test, on a clock the test sets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from syncer.daemon.run import Daemon


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Clock:
    """A settable clock for the daemon's sense of "now" (APScheduler keeps real time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, name="test-daemon", daemon=True)
    thread.start()
    return thread


def stop(daemon: Daemon, thread: threading.Thread) -> None:
    daemon.stop()
    thread.join(15)
    assert not thread.is_alive(), "the daemon did not stop within 15 s"
