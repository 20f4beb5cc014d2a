"""Fixtures shared by the end-to-end tests (the fake Slack is the root conftest's)."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import syncer.app.logging as nrr_logging
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import NOW
from tests.e2e.mail import Smtp, starttls_smtp


@pytest.fixture
def account() -> Account:
    """A small generated account (modules that need another define their own)."""
    return generate_account(customers=12, seed=21, now=NOW)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[Smtp]:
    """A loopback SMTP server that requires STARTTLS with a certificate from a test CA."""
    with starttls_smtp(tmp_path) as server:
        yield server


@pytest.fixture
def cli_logging_undone() -> Iterator[None]:
    """In-process CLI runs point logging at CliRunner's stderr, closed once they return."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, nrr_logging._OurHandler)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(False)
    structlog.reset_defaults()
