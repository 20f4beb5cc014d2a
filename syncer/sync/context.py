"""What one sync of one Stripe account needs, passed around instead of globals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncer.db.store import Store
from syncer.sync.projection import RowContext


class Api(Protocol):
    """The slice of ``syncer.stripe.client.StripeApi`` the sync uses (a fake in tests)."""

    api_version: str

    def fetch_list_page(
        self, path: str, params: dict[str, Any], *, resource: str, retry_budget: float | None = None
    ) -> Any: ...

    def fetch_object(self, path: str, *, resource: str, params: dict[str, Any] | None = None) -> dict[str, Any]: ...


class Progress(Protocol):
    def page(self, resource: str, objects: int, reached: int | None) -> None: ...

    def resource_done(self, resource: str) -> None: ...


class NoProgress:
    def page(self, resource: str, objects: int, reached: int | None) -> None:
        pass

    def resource_done(self, resource: str) -> None:
        pass


@dataclass
class Target:
    """One Stripe account to sync: the platform, or a connected account."""

    account: str
    livemode: bool
    api: Api
    # Per endpoint, how many of ``syncer.sync.collect.fetch_expanded``'s tries ``api``'s
    # server refused: a Stripe-compatible server that cannot expand is not asked again.
    refused_expansions: dict[str, int] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class SyncContext:
    store: Store
    clock: Callable[[], float]
    # Threads of the incremental passes: each fetches, then writes with a database
    # connection of its own.
    concurrency: int = 16
    # The most requests a backfill keeps in flight (how many it needs follows the time
    # pages take; its fetchers hand their pages to one writer and hold no connection).
    max_in_flight: int = 16
    page_size: int = 100
    progress: Progress = field(default_factory=NoProgress)
    stop: threading.Event = field(default_factory=threading.Event)
    events_overlap: int = 60
    events_lag: int = 5
    events_max_age: int = 25 * 86400
    # The requests a second the sync may send, overall and to one endpoint (None: no
    # budget known; a backfill then keeps ``concurrency`` pages in flight). From them and
    # the time pages take, a backfill sizes the pages it keeps in flight, overall and per
    # resource: Stripe limits each endpoint on its own, so more pages of one list would
    # only queue in its bucket while other lists could be fetched.
    budget_rps: float | None = None
    endpoint_budget_rps: float | None = None

    def now(self) -> int:
        return int(self.clock())

    def row_context(self, target: Target, synced_at: int | None = None) -> RowContext:
        return RowContext(
            account=target.account,
            livemode=target.livemode,
            api_version=target.api.api_version,
            synced_at=self.now() if synced_at is None else synced_at,
        )
