"""Wiring settings to real parts: the database, the Stripe clients, the accounts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from syncer.app.settings import Settings
from syncer.db.engine import check_connection, create_db_engine
from syncer.db.migrate import upgrade_db
from syncer.db.store import Store
from syncer.errors import StripeNotFound, StripePermissionError
from syncer.stripe.client import StripeApi
from syncer.stripe.ratelimit import EndpointLimits, TokenBucket
from syncer.sync.context import Target
from syncer.sync.runner import ACCOUNT_REFRESH_SECONDS, account_row

PLATFORM_FALLBACK = "self"  # when a restricted key may not read its own account
# The most threads of a sync that each write with a connection of their own (the
# incremental passes'): a backfill keeps many more requests in flight on a slow network,
# but its fetchers hand their pages to one writer.
MAX_DATABASE_THREADS = 16


def database_threads(settings: Settings) -> int:
    return min(settings.stripe_max_concurrency, MAX_DATABASE_THREADS)


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    engine = create_db_engine(settings.database_url, pool_size=database_threads(settings))
    check_connection(engine)
    if migrate:
        upgrade_db(engine)
    return Store(engine)


@dataclass
class ApiGroup:
    """All Stripe clients of one run, sharing one rate budget; summed counters."""

    apis: list[StripeApi]

    @property
    def requests(self) -> int:
        return sum(a.stats().requests for a in self.apis)

    @property
    def retries(self) -> int:
        return sum(a.stats().retries for a in self.apis)

    @property
    def rate_limited(self) -> int:
        return sum(a.stats().rate_limited for a in self.apis)

    def close(self) -> None:
        for a in self.apis:
            a.close()


def build_targets(
    settings: Settings, store: Store, now: Callable[[], int]
) -> tuple[Callable[[], list[Target]], ApiGroup]:
    """One target for the key's own account and one per ``STRIPE_ACCOUNTS`` entry.

    Targets are resolved (their account read from Stripe) only when the returned
    function is called, inside the run, so that a failure there is a failed run.
    """
    key = settings.require_stripe_key()
    rate = settings.stripe_max_rps or settings.default_max_rps
    limiter = TokenBucket(rate, burst=max(1.0, rate / 4))
    per_endpoint = EndpointLimits(settings.max_rps_per_endpoint)

    def api(account: str | None) -> StripeApi:
        return StripeApi(
            key,
            settings.stripe_api_base,
            settings.stripe_api_version,
            limiter,
            retry_budget_seconds=settings.stripe_retry_budget_seconds,
            timeout=settings.stripe_timeout_seconds,
            account=account,
            endpoint_limits=per_endpoint,
        )

    platform = api(None)
    connected = {acct: api(acct) for acct in settings.stripe_accounts}
    group = ApiGroup([platform, *connected.values()])
    livemode = platform.livemode

    def targets() -> list[Target]:
        out = [Target(resolve_account(store, platform, None, livemode, now()), livemode, platform)]
        for acct, client in connected.items():
            out.append(Target(resolve_account(store, client, acct, livemode, now()), livemode, client))
        return out

    return targets, group


def resolve_account(store: Store, api: StripeApi, connected: str | None, livemode: bool, now: int) -> str:
    """The account id rows are keyed by; the account object is refreshed once a day."""
    cached_id = connected or _cached_platform(store, livemode)
    if cached_id:
        with store.reading() as conn:
            cached = store.get_account(conn, cached_id, livemode)
        if cached and now - cached.synced_at < ACCOUNT_REFRESH_SECONDS:
            return cached.account
    try:
        raw = api.fetch_account()
    except (StripePermissionError, StripeNotFound):
        # A restricted key without account access (or a Stripe-compatible server with no
        # /v1/account) still syncs, under a stable id remembered like a real one.
        raw = {"id": connected or cached_id or PLATFORM_FALLBACK}
    row = account_row(raw, livemode, now)
    if connected:
        row["account"] = connected
    with store.transaction() as conn:
        store.upsert_account(conn, row)
        if not connected:
            store.set_platform(conn, row["account"], livemode)
    return str(row["account"])


def _cached_platform(store: Store, livemode: bool) -> str | None:
    with store.reading() as conn:
        return store.get_platform(conn, livemode)

