"""An incremental normalization stores, row for row, the facts a full rebuild stores: after
syncs that changed some customers, after time passed with no change, and after random
edits of any object table (hypothesis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from syncer.app.reporting import AccountRef, normalize_account, platform_account
from syncer.app.settings import Settings
from syncer.db.facts_store import CHURNS, FAILURES, REVENUE, SPANS, last_normalization
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import KEY, NOW, settings_for, sync

DAY = 86400


def fact_rows(store: Store, ref: AccountRef) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored fact of the account, as sorted rows without their ids."""
    out = {}
    with store.reading() as conn:
        for t in (SPANS, CHURNS, REVENUE, FAILURES):
            columns = [c for c in t.columns if c.name != "id"]
            out[t.name] = sorted(conn.execute(select(*columns).where(
                t.c.account == ref.account, t.c.livemode == ref.livemode)).all(), key=repr)
    return out


def incremental_equals_full(settings: Settings, store: Store, *, now: int) -> dict[str, Any]:
    """Normalize incrementally, then rebuild; assert both stored the same facts. Returns
    the incremental run's row."""
    ref = platform_account(store)
    normalize_account(settings, store, now=now)
    run = last_normalization(store, ref.account, ref.livemode)
    assert run is not None
    incremental = fact_rows(store, ref)
    normalize_account(settings, store, now=now, full=True)
    assert fact_rows(store, ref) == incremental
    return run


@pytest.fixture
def served(store: Store, database_url: str) -> Iterator[tuple[FakeStripe, Settings, Store]]:
    account = generate_account(customers=40, seed=11, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        settings = settings_for(fake, database_url)
        assert sync(settings, store, clock=NOW).result.ok
        normalize_account(settings, store, now=NOW)
        yield fake, settings, store


def test_time_passing_without_changes_rederives_only_what_the_clock_changes(
    served: tuple[FakeStripe, Settings, Store],
) -> None:
    fake, settings, store = served
    kinds = {}
    for days in (0, 1, 3, 10, 17, 31, 45, 62):
        clock = NOW + days * DAY + 3600
        assert sync(settings, store, clock=clock).result.ok
        kinds[days] = incremental_equals_full(settings, store, now=clock)["kind"]
    # A day re-derives the few customers whose period, trial or grace ended; a month
    # without any new data has every monthly customer's, and a rebuild is as cheap.
    assert kinds[0] == kinds[1] == kinds[3] == "incremental", kinds


def test_synced_changes_are_rederived_as_a_rebuild_would(served: tuple[FakeStripe, Settings, Store]) -> None:
    fake, settings, store = served
    account = fake.account
    subs = [s for s in account.subscriptions if s["status"] in ("active", "trialing", "past_due")]
    prices = sorted({i["price"]["id"] for s in subs for i in s["items"]["data"]})
    clock = NOW + 3600
    customer = fake.add_customer(now=clock, name="New Co")
    fake.add_subscription(customer["id"], now=clock + 60, price=prices[0])
    item = subs[0]["items"]["data"][0]
    fake.change_subscription(subs[0]["id"], now=clock + 120, item=item["id"], quantity=(item.get("quantity") or 1) + 2)
    fake.change_subscription(subs[1]["id"], now=clock + 180, cancel_at_period_end=True)
    fake.cancel_subscription(subs[2]["id"], now=clock + 240)
    fake.delete_customer(subs[3]["customer"], now=clock + 300)
    clock += 600
    assert sync(settings, store, clock=clock).result.ok
    run = incremental_equals_full(settings, store, now=clock)
    assert run["kind"] == "incremental" and 5 <= run["customers_updated"] < 20
