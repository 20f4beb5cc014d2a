"""Shared fixtures: a database per backend, the fake Stripe, a generated account, the fake Slack."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account
from tests.e2e.harness import KEY
from tests.syncer.deliver.fake_slack import FakeSlack, serve_fake_slack

POSTGRES_URL = os.environ.get("NRR_TEST_POSTGRES_URL")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own Stripe key or database."""
    for name in list(os.environ):
        if name.startswith(("STRIPE_", "SMTP_", "SLACK_", "REPORT_", "DATABASE_URL", "FX_RATES")):
            monkeypatch.delenv(name, raising=False)


def _postgres_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def postgres_url_for_test() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL, dropped afterwards."""
    assert POSTGRES_URL
    schema = f"nrr_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not POSTGRES_URL, reason="NRR_TEST_POSTGRES_URL is not set: no PostgreSQL to test on"
            ),
        ],
    ),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (SQLite file; PostgreSQL schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nrr.db'}"
    else:
        yield from postgres_url_for_test()


@pytest.fixture
def store(database_url: str):  # type: ignore[no-untyped-def]
    from syncer.db.engine import create_db_engine
    from syncer.db.migrate import upgrade_db
    from syncer.db.store import Store

    engine = create_db_engine(database_url)
    upgrade_db(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def fake(account: Account) -> Iterator[FakeStripe]:
    """The module's (or the e2e conftest's) ``account`` served by the fake Stripe on loopback."""
    with FakeStripe(account, api_key=KEY) as server:
        server.start()
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """The loopback Slack Web API and incoming webhook (the delivery, doctor and e2e tests)."""
    with serve_fake_slack() as server:
        yield server
