"""Fixtures shared by the end-to-end tests."""

import pytest

from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import NOW
from tests.e2e.test_exactly_once import smtp  # noqa: F401  (aiosmtpd on loopback, STARTTLS with a test CA)
from tests.syncer.deliver.test_slack import slack  # noqa: F401  (the loopback Slack Web API and webhook)


@pytest.fixture
def account() -> Account:
    """A small generated account (modules that need another define their own)."""
    return generate_account(customers=12, seed=21, now=NOW)
