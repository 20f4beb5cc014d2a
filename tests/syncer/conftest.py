"""Fixtures shared by the syncer tests: loopback SMTP servers with a test CA (delivery, doctor)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import trustme

from tests.syncer.deliver.fake_smtp import Inbox, smtp_servers


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    with smtp_servers() as start:
        yield start
