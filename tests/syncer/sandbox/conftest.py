"""The fake Stripe serving the module's ``account``, and an HTTP client of it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account
from tests.syncer.sandbox.fake_api import AUTH


@pytest.fixture(scope="module")
def fake(account: Account) -> Iterator[FakeStripe]:
    with FakeStripe(account) as server:
        yield server


@pytest.fixture()
def client(fake: FakeStripe) -> Iterator[httpx.Client]:
    fake.restricted_denied = set()
    fake.fail_rate = 0.0
    fake.rate_limit = None
    with httpx.Client(base_url=fake.base_url, headers=AUTH, timeout=10) as c:
        yield c
