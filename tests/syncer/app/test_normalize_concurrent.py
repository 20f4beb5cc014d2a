"""Two normalizations at once take turns: the second waits for the first's commit and
then finds its facts, instead of rebuilding beside it."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

from syncer.app.normalizing import Target
from syncer.app.reporting import normalize_account, normalize_settings, platform_account
from syncer.app.settings import Settings
from syncer.db.engine import create_db_engine
from syncer.db.facts_store import last_normalization
from syncer.db.store import Store
from syncer.normalize.model import NormalizeSettings
from syncer.sandbox.fake_stripe import FakeStripe
from tests.e2e.harness import NOW
from tests.syncer.app.stored_facts import fact_rows

HELD_SECONDS = 3.0


def _normalize_slowly(url: str, target: Target, norm: NormalizeSettings, started: str) -> None:
    """In a child process: a first normalization that, after its first batch is written,
    says so and holds its transaction open a few seconds before going on."""
    import time as time_module

    from syncer.app import normalizing

    write = normalizing._write
    said = False

    def write_then_wait(*args: Any, **kwargs: Any) -> bool:
        nonlocal said
        kept = write(*args, **kwargs)
        if not said:
            said = True
            Path(started).touch()
            time_module.sleep(HELD_SECONDS)
        return kept

    normalizing._write = write_then_wait  # type: ignore[assignment]
    store = Store(create_db_engine(url))
    normalizing.normalize_target(store, target, norm, as_of=NOW, now=NOW)


def test_a_second_first_normalization_waits_for_the_first_then_has_nothing_to_do(
    served: tuple[FakeStripe, Settings, Store], database_url: str, tmp_path: Path,
) -> None:
    _, settings, store = served
    ref = platform_account(store)
    assert last_normalization(store, ref.account, ref.livemode) is None
    started = tmp_path / "started"
    target = Target(ref.account, ref.livemode, ref.default_currency or "usd", ref.name)
    child = multiprocessing.get_context("spawn").Process(
        target=_normalize_slowly, args=(database_url, target, normalize_settings(settings), str(started)))
    child.start()
    try:
        for _ in range(600):
            if started.exists() or not child.is_alive():
                break
            time.sleep(0.1)
        assert started.exists(), "the child never wrote a batch"
        # The child is mid-rebuild with its transaction open: this one must wait for it.
        began = time.monotonic()
        outcome = normalize_account(settings, store, now=NOW)
        waited = time.monotonic() - began
    finally:
        child.join(60)
    assert child.exitcode == 0
    assert outcome.kind == "none", outcome
    assert waited > HELD_SECONDS / 2, f"returned after {waited:.1f} s, without waiting for the first"
    together = fact_rows(store, ref)
    normalize_account(settings, store, now=NOW, full=True)
    assert fact_rows(store, ref) == together
    run = last_normalization(store, ref.account, ref.livemode)
    assert run is not None and run["kind"] == "full"
