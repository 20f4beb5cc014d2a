"""Fixtures shared by the end-to-end tests."""

from tests.e2e.test_exactly_once import smtp  # noqa: F401  (aiosmtpd on loopback, STARTTLS with a test CA)
from tests.syncer.test_slack import slack  # noqa: F401  (the loopback Slack Web API and webhook)
