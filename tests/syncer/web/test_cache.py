"""The dashboard's report cache: a key is computed once however many ask for it at once,
and nobody waits for a computation of another key."""

from __future__ import annotations

import threading
import time

import pytest

from syncer.web.cache import ReportCache


def test_a_key_asked_by_many_at_once_is_computed_once() -> None:
    cache = ReportCache()
    calls: list[int] = []
    release = threading.Event()

    def slow() -> str:
        calls.append(1)
        release.wait(10)
        return "report"

    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.get("overview", slow))) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # all five are asking now
    release.set()
    for t in threads:
        t.join(10)
    assert answers == ["report"] * 5 and calls == [1]


def test_a_kept_or_other_key_does_not_wait_for_a_computation() -> None:
    cache = ReportCache()
    cache.get("month", lambda: "kept")
    started, release = threading.Event(), threading.Event()

    def warm_up() -> str:
        started.set()
        release.wait(10)
        return "overview"

    warming = threading.Thread(target=lambda: cache.get("overview", warm_up))
    warming.start()
    assert started.wait(10)
    try:
        assert cache.get("month", lambda: "recomputed") == "kept"
        assert cache.get("sync", lambda: "counts") == "counts"
        assert cache.peek("overview") is None
    finally:
        release.set()
        warming.join(10)
    assert cache.peek("overview") == "overview"


def test_a_failed_computation_is_not_kept_and_the_oldest_entry_makes_room() -> None:
    cache = ReportCache(entries=2)

    def fails() -> str:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get("a", fails)
    assert cache.get("a", lambda: "a") == "a"
    cache.get("b", lambda: "b")
    cache.get("a", lambda: "a again")  # a is the most recently used now
    cache.get("c", lambda: "c")
    assert (cache.peek("a"), cache.peek("b"), cache.peek("c")) == ("a", None, "c") and len(cache) == 2
