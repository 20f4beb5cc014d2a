"""The dashboard's fixtures: a small account synced from the fake Stripe, and the app
over it with a test client and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.web.app import build_app
from tests.e2e.harness import NOW, settings_for, sync
from tests.syncer.web.dashboard import HASH, SECRET, Clock


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(customers=15, seed=3, now=NOW)


@pytest.fixture
def synced(fake: FakeStripe, store: Store, database_url: str) -> tuple[Any, Store]:
    settings = settings_for(fake, database_url, web_password_hash=HASH)
    assert sync(settings, store, clock=NOW).result.ok
    return settings, store


@pytest.fixture
def web(synced: tuple[Any, Store]) -> Iterator[tuple[TestClient, Clock]]:
    settings, store = synced
    clock = Clock(NOW)
    with TestClient(build_app(settings, store, clock=clock, session_secret=SECRET), follow_redirects=False) as client:
        yield client, clock
