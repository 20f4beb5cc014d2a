"""``nrr sync`` end to end: a generated account served over real HTTP by the fake
Stripe, synced into SQLite and into the real PostgreSQL, compared with the truth."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlmodel import SQLModel

from syncer.app.reporting import normalize_account
from syncer.db.deferred_indexes import deferrable_indexes, missing_indexes
from syncer.db.store import Store, table
from syncer.errors import StripeAuthError, StripePermissionError
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import KEY, NOW, assert_matches_truth, settings_for, stored, sync


@pytest.fixture
def account() -> Account:
    return generate_account(customers=60, seed=7, now=NOW)


@pytest.fixture
def fake(account: Account) -> Iterator[FakeStripe]:
    server = FakeStripe(account, api_key=KEY)
    server.start()
    yield server
    server.stop()


def test_backfill_stores_every_object_and_never_writes(fake: FakeStripe, account: Account, store: Store, database_url: str) -> None:
    outcome = sync(settings_for(fake, database_url), store, clock=NOW)
    assert outcome.result.status == "success", outcome.result.errors
    assert_matches_truth(store, account, fake)
    # Every resource is recorded as completely listed, windows all done.
    assert all(st.completed_at is not None for st in store.states())
    assert {r.method for r in fake.log.records()} == {"GET"}
    # Every request pins the API version.
    assert {r.headers.get("Stripe-Version") for r in fake.log.records()} == {account.api_version}


def test_second_sync_with_nothing_changed_costs_a_handful_of_requests(fake: FakeStripe, store: Store, database_url: str) -> None:
    settings = settings_for(fake, database_url)
    assert sync(settings, store, clock=NOW).result.ok
    fake.log.clear()
    again = sync(settings, store, clock=NOW + 600)
    assert again.result.ok
    assert again.requests <= 3, [r.path for r in fake.log.records()]


def test_faults_change_nothing_in_the_result(account: Account, store: Store, database_url: str) -> None:
    with FakeStripe(account, api_key=KEY, fail_rate=0.2, seed=3) as fake:
        fake.start()
        outcome = sync(settings_for(fake, database_url), store, clock=NOW)
        assert outcome.result.ok, outcome.result.errors
        assert outcome.retries > 0
        fake.fail_rate = 0
        assert_matches_truth(store, account, fake)


def test_incremental_sync_applies_changes_and_deletions(fake: FakeStripe, account: Account, store: Store, database_url: str) -> None:
    settings = settings_for(fake, database_url)
    assert sync(settings, store, clock=NOW).result.ok
    sub = next(s for s in account.subscriptions if s["status"] == "active")
    gone = next(c for c in account.customers if not any(s["customer"] == c["id"] for s in account.subscriptions))
    fake.change_subscription(sub["id"], now=NOW + 100, quantity=sub["items"]["data"][0]["quantity"] + 3)
    fake.delete_customer(gone["id"], NOW + 120)
    new = fake.add_customer(now=NOW + 130, name="Newco")
    fake.log.clear()
    outcome = sync(settings, store, clock=NOW + 300)
    assert outcome.result.ok, outcome.result.errors
    assert outcome.requests <= 6
    subs = stored(store, "subscriptions")
    now_served = next(s for s in account.subscriptions if s["id"] == sub["id"])
    assert now_served["items"]["data"][0]["quantity"] == sub["items"]["data"][0]["quantity"] + 3
    assert subs[sub["id"]]["items"]["data"][0]["quantity"] == now_served["items"]["data"][0]["quantity"]
    assert gone["id"] not in stored(store, "customers")
    assert gone["id"] in stored(store, "customers", include_deleted=True)
    assert new["id"] in stored(store, "customers")


def test_bad_key_stops_at_once(fake: FakeStripe, store: Store, database_url: str) -> None:
    fake.api_key = "sk_test_51SomebodyElsesKey00000000000000"
    outcome = sync(settings_for(fake, database_url), store, clock=NOW)
    assert outcome.result.status == "failed"
    assert any(isinstance(e, StripeAuthError) for e in outcome.result.errors)
    assert outcome.requests <= 3
    assert KEY not in " ".join(str(e) for e in outcome.result.errors)


def test_missing_permission_names_the_resource_and_fails_the_run(fake: FakeStripe, account: Account, store: Store, database_url: str) -> None:
    fake.restricted_denied = {"invoices"}
    outcome = sync(settings_for(fake, database_url), store, clock=NOW)
    assert outcome.result.status == "failed"
    [err] = [e for e in outcome.result.errors if isinstance(e, StripePermissionError)]
    assert err.resource == "invoices" and "Invoices" in str(err)
    # Everything else was synced, and the next run picks up only what is missing.
    assert set(stored(store, "customers")) == {c["id"] for c in account.customers}
    fake.restricted_denied = set()
    assert sync(settings_for(fake, database_url), store, clock=NOW + 60).result.ok
    assert_matches_truth(store, account, fake)


def test_expired_events_cursor_relists_instead_of_failing(fake: FakeStripe, account: Account, store: Store, database_url: str) -> None:
    settings = settings_for(fake, database_url)
    assert sync(settings, store, clock=NOW).result.ok
    fake.log.clear()
    # 26 days later Stripe no longer has every event since the cursor: list again.
    later = sync(settings, store, clock=NOW + 26 * 86400)
    assert later.result.ok, later.result.errors
    assert fake.log.count(path="/v1/customers") >= 1
    assert_matches_truth(store, account, fake)
    states = {s.resource: s.generation for s in store.states()}
    assert states["customers"] == 2


def test_full_relists_every_resource(fake: FakeStripe, account: Account, store: Store, database_url: str) -> None:
    settings = settings_for(fake, database_url)
    assert sync(settings, store, clock=NOW).result.ok
    fake.log.clear()
    assert sync(settings, store, clock=NOW + 60, full=True).result.ok
    listed = {r.path for r in fake.log.records()}
    assert {"/v1/customers", "/v1/invoices", "/v1/subscriptions", "/v1/charges"} <= listed
    assert_matches_truth(store, account, fake)


def test_connected_accounts_are_synced_under_their_own_id(account: Account, store: Store, database_url: str) -> None:
    other = generate_account(customers=8, seed=99, now=NOW)
    acct = "acct_1ConnectedE2e000"
    with FakeStripe(account, api_key=KEY, connected={acct: other}) as fake:
        fake.start()
        outcome = sync(settings_for(fake, database_url, stripe_accounts=acct), store, clock=NOW)
        assert outcome.result.ok, outcome.result.errors
        assert any(r.headers.get("Stripe-Account") == acct for r in fake.log.records())
    t = table("customers")
    with store.reading() as conn:
        # Live ones: a customer deleted before the backfill is stored too, as deleted.
        live = select(t.c.account, func.count()).where(t.c.deleted_at.is_(None)).group_by(t.c.account)
        by_account: dict[str, int] = {a: n for a, n in conn.execute(live)}
    assert by_account[acct] == len(other.customers)
    assert by_account[account.account["id"]] == len(account.customers)


def test_relisting_one_resource_keeps_the_events_of_the_others(
    fake: FakeStripe, account: Account, store: Store, database_url: str
) -> None:
    settings = settings_for(fake, database_url)
    assert sync(settings, store, clock=NOW).result.ok
    sub = next(s for s in account.subscriptions if s["status"] == "active")
    fake.change_subscription(sub["id"], now=NOW + 100, quantity=sub["items"]["data"][0]["quantity"] + 2)
    from syncer.stripe.resources import BY_NAME

    assert sync(settings, store, clock=NOW + 200, full=True, only=[BY_NAME["customers"]]).result.ok
    assert sync(settings, store, clock=NOW + 300).result.ok
    served = next(s for s in account.subscriptions if s["id"] == sub["id"])
    assert stored(store, "subscriptions")[sub["id"]]["items"]["data"][0]["quantity"] == served["items"]["data"][0]["quantity"]


class _StopAfterPages:
    """A progress display that notes which indexes exist while pages are written, and
    stops the sync after a few pages."""

    def __init__(self, store: Store, stop: threading.Event, pages: int) -> None:
        self.store, self.stop, self.pages = store, stop, pages
        self.seen = 0
        self.missing_while_paging: set[str] = set()

    def page(self, resource: str, objects: int, reached: int | None) -> None:
        self.seen += 1
        with self.store.reading() as conn:
            self.missing_while_paging |= {str(ix.name) for ix in missing_indexes(conn)}
        if self.seen >= self.pages:
            self.stop.set()

    def resource_done(self, resource: str) -> None:
        pass


def _missing(store: Store) -> set[str]:
    with store.reading() as conn:
        return {str(ix.name) for ix in missing_indexes(conn)}


def _schema_diff(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))


def _stopped_first_sync(fake: FakeStripe, store: Store, database_url: str) -> _StopAfterPages:
    watch = _StopAfterPages(store, threading.Event(), pages=4)
    outcome = sync(settings_for(fake, database_url), store, clock=NOW, stop=watch.stop, progress=lambda _: watch)
    assert outcome.result.status == "interrupted", outcome.result.errors
    return watch


def test_a_first_backfill_writes_without_secondary_indexes_and_builds_them_at_the_end(
    fake: FakeStripe, account: Account, store: Store, database_url: str
) -> None:
    deferred = {str(ix.name) for ix in deferrable_indexes()}
    watch = _stopped_first_sync(fake, store, database_url)
    assert watch.missing_while_paging == deferred
    # A stopped run leaves them to the next one, which resumes the backfill without them.
    assert _missing(store) == deferred
    watch = _StopAfterPages(store, threading.Event(), pages=10**9)
    outcome = sync(settings_for(fake, database_url), store, clock=NOW, progress=lambda _: watch)
    assert outcome.result.ok, outcome.result.errors
    assert watch.missing_while_paging == deferred
    assert_matches_truth(store, account, fake)
    assert _missing(store) == set()
    assert _schema_diff(store) == []
    # A later backfill (here a full relist) finds objects stored: it keeps every index.
    watch = _StopAfterPages(store, threading.Event(), pages=10**9)
    again = sync(settings_for(fake, database_url), store, clock=NOW + 600, full=True, progress=lambda _: watch)
    assert again.result.ok, again.result.errors
    assert watch.seen > 0
    assert watch.missing_while_paging == set()


def test_normalizing_after_a_stopped_first_backfill_builds_the_indexes_it_deferred(
    fake: FakeStripe, store: Store, database_url: str
) -> None:
    _stopped_first_sync(fake, store, database_url)
    assert _missing(store)
    normalize_account(settings_for(fake, database_url), store, now=NOW)
    assert _missing(store) == set()
    assert _schema_diff(store) == []
