"""Fixtures shared by the end-to-end tests."""

from tests.syncer.test_slack import slack  # noqa: F401  (the loopback Slack Web API and webhook)
