"""A database slower than the network holds the backfill back: the pages fetched but not
yet written stay bounded however fast the fetchers could go, so memory does too."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import pytest
from sqlalchemy.engine import Connection

from syncer.app import usecases
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from syncer.sync import backfill
from syncer.sync.context import SyncContext
from syncer.sync.writer import GroupWriter
from tests.e2e.harness import KEY, NOW, settings_for, stored, sync

PENDING = 4
IN_FLIGHT = 4


class SlowDatabase(GroupWriter):
    """The backfill's writer, one page per commit and 20 ms a commit; it notes how many
    writes were handed over and not yet committed each time one more is."""

    waiting: list[int] = []

    def __init__(self, store: Store) -> None:
        self._mutex = threading.Lock()
        self._submitted = self._committed = 0
        super().__init__(store, max_group=1)

    def submit(self, write: Callable[[Connection], None], *, on_error: Callable[[], None] | None = None):  # type: ignore[no-untyped-def]
        with self._mutex:
            self._submitted += 1
            self.waiting.append(self._submitted - self._committed)
        return super().submit(write, on_error=on_error)

    def _commit(self, group):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        super()._commit(group)
        with self._mutex:
            self._committed += len(group)


def test_pages_waiting_for_a_slow_database_stay_bounded(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    SlowDatabase.waiting = []
    monkeypatch.setattr(backfill, "GroupWriter", SlowDatabase)
    monkeypatch.setattr(backfill, "MAX_PENDING_WRITES", PENDING)
    # Small pages: many of them, each quick to fetch from the fake, slow to commit.
    monkeypatch.setattr(usecases, "SyncContext", partial(SyncContext, page_size=5))
    account = generate_account(customers=12, seed=4, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        settings = settings_for(fake, database_url, stripe_max_concurrency=IN_FLIGHT)
        outcome = sync(settings, store, clock=NOW)
    assert outcome.result.ok, outcome.result.errors
    assert len(stored(store, "charges")) == len(account.charges)  # everything, however slowly
    pages = len(SlowDatabase.waiting)
    assert pages > 10 * (PENDING + IN_FLIGHT), f"only {pages} writes: the bound below says nothing"
    # The settled writes, those in flight, and the few a page's end adds (a split, a
    # resource's completion).
    assert max(SlowDatabase.waiting) <= PENDING + IN_FLIGHT + 4, max(SlowDatabase.waiting)
