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
    concurrency: int = 16
    page_size: int = 100
    progress: Progress = field(default_factory=NoProgress)
    stop: threading.Event = field(default_factory=threading.Event)
    events_overlap: int = 60
    events_lag: int = 5
    events_max_age: int = 25 * 86400
    # Requests of one resource in flight at once (None: no cap). Stripe limits each
    # endpoint on its own, so more workers on one list would only queue in its bucket
    # while other lists could be fetched.
    per_resource_concurrency: int | None = None

    def now(self) -> int:
        return int(self.clock())

    def row_context(self, target: Target, synced_at: int | None = None) -> RowContext:
        return RowContext(
            account=target.account,
            livemode=target.livemode,
            api_version=target.api.api_version,
            synced_at=self.now() if synced_at is None else synced_at,
        )
