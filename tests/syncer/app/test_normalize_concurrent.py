"""Two normalizations at once take turns: the second waits for the first's commit and
then finds its facts, instead of rebuilding beside it."""

from __future__ import annotations

import time
from pathlib import Path

from syncer.app.accounts import platform_account
from syncer.app.normalizing import Target
from syncer.app.reporting import normalize_account, normalize_settings
from syncer.app.settings import Settings
from syncer.db.facts_store import last_normalization
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from tests.e2e.harness import NOW
from tests.syncer.app.normalizations import fact_rows, paused_after_first_batch

HELD_SECONDS = 3.0


def test_a_second_first_normalization_waits_for_the_first_then_has_nothing_to_do(
    served: tuple[FakeStripe, Settings, Store], database_url: str, tmp_path: Path,
) -> None:
    _, settings, store = served
    ref = platform_account(store)
    assert last_normalization(store, ref.account, ref.livemode) is None
    target = Target(ref.account, ref.livemode, ref.default_currency or "usd", ref.name)
    with paused_after_first_batch(database_url, target, normalize_settings(settings), NOW, tmp_path,
                                  pause_seconds=HELD_SECONDS) as child:
        # The child is mid-rebuild with its transaction open: this one must wait for it.
        began = time.monotonic()
        outcome = normalize_account(settings, store, now=NOW)
        waited = time.monotonic() - began
        child.join(60)
    assert child.exitcode == 0
    assert outcome.kind == "none", outcome
    assert waited > HELD_SECONDS / 2, f"returned after {waited:.1f} s, without waiting for the first"
    together = fact_rows(store, ref)
    normalize_account(settings, store, now=NOW, full=True)
    assert fact_rows(store, ref) == together
    run = last_normalization(store, ref.account, ref.livemode)
    assert run is not None and run["kind"] == "full"
