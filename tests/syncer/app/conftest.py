"""A generated account served by the fake Stripe and synced once into each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncer.app.settings import Settings
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import KEY, NOW, settings_for, sync


@pytest.fixture
def served(store: Store, database_url: str) -> Iterator[tuple[FakeStripe, Settings, Store]]:
    """40 customers synced at ``NOW`` (not normalized), the fake still serving them."""
    account = generate_account(customers=40, seed=11, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        settings = settings_for(fake, database_url)
        assert sync(settings, store, clock=NOW).result.ok
        yield fake, settings, store
