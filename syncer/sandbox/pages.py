"""How many list pages a perfect client needs for an account (the benchmark's floor)."""

from __future__ import annotations

import math

from syncer.resources import EVENTS, RESOURCES
from syncer.sandbox.generator import Account

PAGE = 100
EMBEDDED = 10  # entries of an embedded list Stripe returns before ``has_more``


def minimal_pages(account: Account) -> int:
    """Every list (events included) at 100 a page, plus the rest of each truncated child list."""
    return sum(minimal_pages_by_endpoint(account).values())


def minimal_pages_by_endpoint(account: Account) -> dict[str, int]:
    """The same, per endpoint: Stripe limits each endpoint on its own (25/s), so the
    busiest one can bound a backfill more tightly than the total does."""
    pages: dict[str, int] = {}
    for r in [*RESOURCES, EVENTS]:
        objs = account.events if r is EVENTS else account.objects(r.name)
        pages[r.path] = max(1, math.ceil(len(objs) / PAGE))
        for child in r.children:
            endpoint = child.path.format(id="{id}")
            for o in objs:
                n = len(o[child.field]["data"])
                if n > EMBEDDED:
                    pages[endpoint] = pages.get(endpoint, 0) + math.ceil((n - EMBEDDED) / PAGE)
    return pages
