"""How many list pages a perfect client needs for an account (the benchmark's floor)."""

from __future__ import annotations

import math
from collections import Counter

from syncer.sandbox.generator import JSON, Account
from syncer.stripe.resources import EVENTS, RESOURCES

PAGE = 100
EMBEDDED = 10  # entries of an embedded list Stripe returns before ``has_more``
TEST_CLOCKS = "/v1/test_helpers/test_clocks"
# Lists that leave out what is on a test clock unless asked for that clock (test mode).
CLOCKED = frozenset({"customers", "subscriptions"})


def minimal_pages(account: Account) -> int:
    """Every list (events included) at 100 a page, plus the rest of each truncated child list."""
    return sum(minimal_pages_by_endpoint(account).values())


def minimal_pages_by_endpoint(account: Account) -> dict[str, int]:
    """The same, per endpoint: Stripe limits each endpoint on its own (25/s), so the
    busiest one can bound a backfill more tightly than the total does.

    In test mode the test clocks are listed too, and customers and subscriptions once
    without a clock and once for each clock (Stripe lists them apart)."""
    pages: dict[str, int] = {}
    for r in [*RESOURCES, EVENTS]:
        objs = account.events if r is EVENTS else account.objects(r.name)
        if r.name in CLOCKED and not account.livemode:
            pages[r.path] = _pages_by_clock(account, objs)
        else:
            pages[r.path] = _list_pages(len(objs))
        for child in r.children:
            endpoint = child.path.format(id="{id}")
            for o in objs:
                n = len(o[child.field]["data"])
                if n > EMBEDDED:
                    pages[endpoint] = pages.get(endpoint, 0) + math.ceil((n - EMBEDDED) / PAGE)
    if not account.livemode:
        pages[TEST_CLOCKS] = _list_pages(len(account.test_clocks))
    return pages


def _list_pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE))  # an empty list still takes one request


def _pages_by_clock(account: Account, objs: list[JSON]) -> int:
    on_clock = Counter(o.get("test_clock") or None for o in objs)
    return _list_pages(on_clock[None]) + sum(
        _list_pages(on_clock[clock["id"]]) for clock in account.test_clocks)
