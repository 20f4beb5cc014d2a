"""The cycle collector's settings are changed only inside the blocks that ask for it."""

from __future__ import annotations

import gc
import threading

import pytest

from syncer.app.gc_tuning import RELAXED_THRESHOLD, collector_paused, collector_relaxed


def test_relaxed_raises_the_thresholds_and_restores_them_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(KeyError), collector_relaxed():
        assert gc.get_threshold() == RELAXED_THRESHOLD
        assert gc.isenabled()  # still collects cycles, only less often
        raise KeyError
    assert gc.get_threshold() == before


def test_paused_disables_and_re_enables_only_what_it_disabled() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # someone else paused it: left paused
    finally:
        gc.enable()


def test_paused_in_overlapping_threads_resumes_when_the_last_one_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first block ended, this one has not

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [False]
    assert gc.isenabled()
