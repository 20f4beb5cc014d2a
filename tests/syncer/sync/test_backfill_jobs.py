"""What a backfill lists: each resource from the account's creation, events only from
where Stripe still keeps them."""

from __future__ import annotations

from typing import Any, cast

from syncer.db.store import Store
from syncer.stripe.resources import BY_NAME, EVENTS, STRIPE_KEEPS_EVENTS_SECONDS
from syncer.sync.backfill import prepare_jobs
from syncer.sync.context import SyncContext, Target

NOW = 1_795_000_000
DAY = 86400


def test_events_are_listed_from_where_stripe_still_keeps_them(store: Store) -> None:
    ctx = SyncContext(store=store, clock=lambda: NOW)
    target = Target("acct_1", True, cast(Any, None))
    created = NOW - 400 * DAY
    jobs = {j.resource.name: j for j in prepare_jobs(ctx, target, [BY_NAME["customers"], EVENTS], relist=False,
                                                      listed_from=created)}
    with store.reading() as conn:
        customers = store.open_windows(conn, jobs["customers"].state)
        events = store.open_windows(conn, jobs["events"].state)
    assert [(w.start, w.end) for w in customers] == [(created, NOW + 1)]
    # A day's margin before Stripe's 30 days; the last minute is the incremental pass's.
    assert [(w.start, w.end) for w in events] == [(NOW - STRIPE_KEEPS_EVENTS_SECONDS - DAY, NOW - ctx.events_overlap)]


def test_an_account_younger_than_the_events_kept_lists_them_from_its_creation(store: Store) -> None:
    ctx = SyncContext(store=store, clock=lambda: NOW)
    jobs = prepare_jobs(ctx, Target("acct_1", True, cast(Any, None)), [EVENTS], relist=False,
                        listed_from=NOW - 3 * DAY)
    with store.reading() as conn:
        assert [w.start for w in store.open_windows(conn, jobs[0].state)] == [NOW - 3 * DAY]
