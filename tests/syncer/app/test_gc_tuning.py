"""The cycle collector's settings are changed only inside the blocks that ask for it."""

from __future__ import annotations

import gc

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
