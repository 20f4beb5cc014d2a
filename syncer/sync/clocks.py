"""Test clocks (test mode): Stripe leaves the customers and subscriptions on a test clock
out of ``GET /v1/customers`` and ``/v1/subscriptions`` unless ``test_clock`` is given,
so each clock's are listed on their own, into the same tables, with checkpoints of their
own (``Resource.listing``). Invoices, charges and the rest of a clock's objects are in
the plain lists.
"""

from __future__ import annotations

from typing import Any

from syncer.app.logging import get_logger
from syncer.errors import StripeNotFound, StripePermissionError
from syncer.stripe.resources import CLOCK_SCOPE, TEST_CLOCKS, Resource, clock_listings
from syncer.stripe.shapes import as_int
from syncer.sync.context import SyncContext, Target

log = get_logger(__name__)


def clocks_listings(ctx: SyncContext, target: Target, to_list: list[Resource]) -> list[Resource]:
    """Test mode: each test clock's customers and subscriptions (of those to list),
    which the plain lists leave out. A server without test clocks (404) or a key that
    may not read them lists what it can; the warning says what is missing. Checkpoints
    of clocks deleted or moved since are dropped: their listing will not be finished."""
    if not any(r.name in ("customers", "subscriptions") for r in to_list):
        return []
    try:
        clocks = fetch_test_clocks(target)
    except StripeNotFound:
        return []
    except StripePermissionError as exc:
        log.warning("sync.test_clocks_unreadable", permission=exc.permission,
                    why="customers and subscriptions on test clocks are not listed without it")
        return []
    listings: list[Resource] = []
    for clock_id, frozen_time in clocks:
        listings.extend(clock_listings(clock_id, frozen_time, to_list))
    if not any(r.name == "customers" for r in to_list) or not any(r.name == "subscriptions" for r in to_list):
        return listings  # a partial sync keeps the other resource's clock checkpoints
    with ctx.store.transaction() as conn:
        ctx.store.drop_listings(conn, target.account, target.livemode, containing=CLOCK_SCOPE,
                                keep={r.listing for r in listings})
    return listings


def fetch_test_clocks(target: Target) -> list[tuple[str, int | None]]:
    """(id, frozen time) of the account's test clocks (a few: Stripe caps them per account)."""
    params: dict[str, Any] = {"limit": 100}
    clocks: list[tuple[str, int | None]] = []
    while True:
        page = target.api.fetch_list_page(TEST_CLOCKS.path, dict(params), resource=TEST_CLOCKS.name)
        clocks.extend((str(c["id"]), as_int(c.get("frozen_time"))) for c in page.data if not c.get("deleted"))
        if not page.has_more or not page.data:
            return clocks
        params["starting_after"] = page.data[-1]["id"]
