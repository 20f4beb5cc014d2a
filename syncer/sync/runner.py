"""One sync run over every account: backfill what is unlisted, then apply events.

This is the only part of the sync that decides *what* to do; backfill.py and events.py
do it. It records the run in ``sync_runs`` whatever happens, and a run with any failed
part is recorded (and reported to the CLI) as failed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncer.app.logging import get_logger
from syncer.db.store import RunStats
from syncer.errors import (
    DatabaseUnavailable,
    EventsExpired,
    NrrError,
    StripeAccountInaccessible,
    StripeAuthError,
)
from syncer.stripe.resources import EVENTS, RESOURCES, Resource
from syncer.sync.backfill import STRIPE_EPOCH, prepare_jobs, run_backfill
from syncer.sync.clocks import clocks_listings
from syncer.sync.context import SyncContext, Target
from syncer.sync.events import cursor_expired, sync_events
from syncer.sync.referenced import fetch_deleted_coupons, fetch_unlisted_customers

ACCOUNT_REFRESH_SECONDS = 86400

log = get_logger(__name__)


@dataclass
class SyncResult:
    run_id: int
    status: str  # success | failed | interrupted
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[NrrError] = field(default_factory=list)
    events: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "success"


def account_row(raw: dict[str, Any], livemode: bool, now: int) -> dict[str, Any]:
    profile = raw.get("business_profile") or {}
    dashboard = ((raw.get("settings") or {}).get("dashboard") or {})
    return {
        "account": str(raw.get("id") or "self"),
        "livemode": livemode,
        "is_platform": False,
        "name": profile.get("name") or dashboard.get("display_name"),
        "default_currency": raw.get("default_currency"),
        "created": raw.get("created") if isinstance(raw.get("created"), int) else None,
        "raw": json.dumps(raw, separators=(",", ":"), ensure_ascii=False),
        "synced_at": now,
    }


def run_sync(
    ctx: SyncContext,
    targets: Sequence[Target] | Callable[[], Sequence[Target]],
    *,
    full: bool = False,
    only: Sequence[Resource] | None = None,
    stats_source: Any = None,
) -> SyncResult:
    resources = list(only or RESOURCES)
    run_id = ctx.store.begin_run("full" if full else "sync", [r.name for r in resources], ctx.now(), os.getpid())
    result = SyncResult(run_id=run_id, status="running")
    try:
        dropped = ctx.store.defer_indexes()
        if dropped:
            log.info("sync.indexes_deferred", count=len(dropped),
                     why="a first backfill writes faster without them; they are built when the run ends")
        # Resolving targets reads each account, so a bad key already fails the run here.
        for target in targets() if callable(targets) else targets:
            if ctx.stop.is_set():
                break
            _sync_target(ctx, target, resources, full=full, only=only is not None, result=result)
            if any(isinstance(e, (StripeAuthError, StripeAccountInaccessible)) for e in result.errors):
                break
    except NrrError as exc:
        result.errors.append(exc)
    if not ctx.stop.is_set() and not any(isinstance(e, DatabaseUnavailable) for e in result.errors):
        # A stopped run leaves them to the next one: building takes seconds to minutes,
        # more than a stop should wait, and the resumed backfill is faster without them.
        # So does a run the database failed: trying again would only repeat its error.
        _build_deferred_indexes(ctx, result)
    if result.errors:
        result.status = "failed"
    elif ctx.stop.is_set():
        result.status = "interrupted"
    else:
        result.status = "success"
    stats = RunStats(counts=result.counts, errors=[str(e) for e in result.errors])
    if stats_source is not None:
        stats.requests = stats_source.requests
        stats.retries = stats_source.retries
        stats.rate_limited = stats_source.rate_limited
    ctx.store.finish_run(run_id, status=result.status, now=ctx.now(), stats=stats)
    return result


def _build_deferred_indexes(ctx: SyncContext, result: SyncResult) -> None:
    started = time.monotonic()
    try:
        built = ctx.store.build_deferred_indexes()
    except NrrError as exc:
        result.errors.append(exc)
        return
    if built:
        log.info("sync.indexes_built", count=len(built), seconds=round(time.monotonic() - started, 1))


def _sync_target(
    ctx: SyncContext, target: Target, resources: list[Resource], *, full: bool, only: bool, result: SyncResult
) -> None:
    with ctx.store.reading() as conn:
        cursor = ctx.store.get_event_cursor(conn, target.account, target.livemode)
        account = ctx.store.get_account(conn, target.account, target.livemode)
    # Objects can't predate their account; start windows there to spare empty pages.
    listed_from = max(STRIPE_EPOCH, (account.created or STRIPE_EPOCH) if account else STRIPE_EPOCH)
    if cursor_expired(ctx, cursor):
        # Stripe no longer has every event since the cursor: list everything again.
        resources, only, full = list(RESOURCES), False, True
    full = full or cursor is None
    relist_all = cursor is None or (full and not only)
    if relist_all:
        # Events listed by a backfill are history up to the moment listing began;
        # anything after it is applied by the incremental pass from this cursor.
        now = ctx.now()
        with ctx.store.transaction() as conn:
            ctx.store.set_event_cursor(conn, target.account, target.livemode, now, now)
    to_list = resources if only else [*resources, EVENTS]
    if not target.livemode:
        to_list = [*to_list, *clocks_listings(ctx, target, to_list)]
    jobs = prepare_jobs(ctx, target, to_list, relist=full, listed_from=listed_from)
    if jobs:
        backfill = run_backfill(ctx, jobs)
        _merge(result.counts, backfill.counts)
        result.errors.extend(backfill.errors)
        if backfill.errors or backfill.interrupted:
            return
        if not ctx.stop.is_set():
            _merge(result.counts, {"customers": fetch_unlisted_customers(ctx, target, backfill.customers)})
    if ctx.stop.is_set():
        return
    try:
        events = sync_events(ctx, target)
    except EventsExpired:
        if relist_all:
            raise  # the cursor was set moments ago: this cannot be age
        # The backfill itself outlived the events' retention: list everything once more.
        _sync_target(ctx, target, list(RESOURCES), full=True, only=False, result=result)
        return
    result.events += events.events
    _merge(result.counts, events.counts)
    if jobs or events.counts.keys() & {"subscriptions", "invoice_items"}:
        # After a listing, and after events that re-read an item's holder: neither could
        # expand an item discount's coupon, a deleted one's only copy (six levels deep in
        # a list, five in a retrieved subscription; Stripe stops at four).
        _merge(result.counts, {"discounts": fetch_deleted_coupons(ctx, target)})


def _merge(into: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v
