"""``nrr demo``: the real pipeline on a synthetic account, with no credentials.

A generated account is served on loopback by the project's fake Stripe server, and the
real sync runs against it into a fresh SQLite file under the output folder.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from syncer.app.reporting import normalize_account
from syncer.app.settings import Settings, load_settings
from syncer.app.usecases import SyncOutcome, sync_stripe
from syncer.app.wiring import open_store
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account

DEMO_CUSTOMERS = 300
DEMO_SEED = 42


@dataclass
class DemoRun:
    account: Account
    settings: Settings
    store: Store
    outcome: SyncOutcome
    database: Path
    now: int
    normalize_seconds: float


def run_demo(out_dir: Path, *, customers: int = DEMO_CUSTOMERS, seed: int = DEMO_SEED, now: int | None = None) -> DemoRun:
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)
    database = out_dir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    today = int(time.time()) if now is None else now
    account = generate_account(customers=customers, seed=seed, now=today)
    # A throwaway key: the fake server accepts only it, so nothing real is ever needed.
    key = "sk_test_demo" + secrets.token_hex(12)
    with FakeStripe(account, api_key=key) as fake:
        fake.start()
        settings = load_settings(
            _env_file=None,
            stripe_api_key=key,
            stripe_api_base=fake.base_url,
            database_url=f"sqlite:///{database}",
            stripe_max_rps=500,
        )
        store = open_store(settings)
        outcome = sync_stripe(settings, store, clock=lambda: float(today))
    started = time.monotonic()
    if outcome.result.ok:
        normalize_account(settings, store, now=today)
    return DemoRun(account, settings, store, outcome, database, today, time.monotonic() - started)
