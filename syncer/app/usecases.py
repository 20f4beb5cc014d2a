"""Use cases shared by the CLI, the daemon, the demo and the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from syncer.app.logging import get_logger
from syncer.app.malloc_tuning import limit_malloc_arenas
from syncer.app.settings import Settings
from syncer.app.wiring import ApiGroup, build_targets, database_threads
from syncer.db.locks import sync_lock
from syncer.db.store import Store
from syncer.stripe.resources import Resource
from syncer.sync.context import NoProgress, Progress, SyncContext
from syncer.sync.runner import SyncResult, run_sync

log = get_logger("nrr")


@dataclass
class SyncOutcome:
    result: SyncResult
    requests: int
    retries: int
    rate_limited: int
    seconds: float


def sync_stripe(
    settings: Settings,
    store: Store,
    *,
    full: bool = False,
    only: Sequence[Resource] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[ApiGroup], Progress] | None = None,
    clock: Callable[[], float] = time.time,
    wait: bool = False,
) -> SyncOutcome:
    """One sync of every configured account into ``store``; never raises for a failed part
    (the outcome says it), only for what stops it from starting (settings, key, database,
    ``AnotherSyncRunning`` when another process is syncing the same database and ``wait``
    is not set; with it, this waits for that sync to end, or for ``stop``; also when
    another sync took the lock after this one's database connection dropped it)."""
    stop = stop or threading.Event()

    def waiting(holder: str) -> None:
        log.warning("sync.waiting", reason="another sync is running", holder=holder)

    with sync_lock(store.engine, wait=wait, clock=clock, stop=stop, waiting=waiting) as halt:
        started = time.monotonic()
        limit_malloc_arenas()  # before the backfill starts its threads
        targets, apis = build_targets(settings, store, lambda: int(clock()))
        try:
            ctx = SyncContext(
                store=store,
                clock=clock,
                concurrency=database_threads(settings),
                max_in_flight=settings.stripe_max_concurrency,
                progress=progress(apis) if progress else NoProgress(),
                stop=halt,  # the caller's stop, or the sync lock lost to another sync
                events_overlap=settings.events_overlap_seconds,
                events_lag=settings.events_lag_seconds,
                budget_rps=settings.max_rps,
                endpoint_budget_rps=settings.max_rps_per_endpoint,
            )
            result = run_sync(ctx, targets, full=full, only=only, stats_source=apis)
        finally:
            apis.close()
    return SyncOutcome(result, apis.requests, apis.retries, apis.rate_limited, time.monotonic() - started)


def log_sync(log: Any, outcome: SyncOutcome, **extra: Any) -> None:
    """The one line a sync leaves in the log (the CLI's and the daemon's alike)."""
    result = outcome.result
    log.info("sync.finished", run=result.run_id, status=result.status, seconds=round(outcome.seconds, 1),
             objects=sum(result.counts.values()), events=result.events, requests=outcome.requests,
             retries=outcome.retries, rate_limited=outcome.rate_limited, **extra)


def normalize_logged(settings: Settings, store: Store, *, now: int, log: Any, full: bool = False) -> None:
    """Bring the facts of every account synced up to date (all of them with ``full``) and
    log, per account, how long it took, how many customers it re-derived and how many
    facts the account has."""
    from syncer.app.accounts import synced_accounts
    from syncer.app.reporting import normalize_account

    accounts = synced_accounts(settings, store)
    for ref in accounts:
        started = time.monotonic()
        outcome = normalize_account(settings, store, now=now, full=full, ref=ref)
        # The account is named only when there are several: one account's line stays as it was.
        named = {"account": ref.account} if len(accounts) > 1 else {}
        log.info("normalize.finished", seconds=round(time.monotonic() - started, 2), **named, **outcome.log_fields())
