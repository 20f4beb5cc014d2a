"""How many list pages a perfect client needs for an account (the benchmark's floor)."""

from __future__ import annotations

import math

from syncer.resources import RESOURCES
from syncer.sandbox.generator import Account

PAGE = 100
EMBEDDED = 10  # entries of an embedded list Stripe returns before ``has_more``


def minimal_pages(account: Account) -> int:
    """Every list at 100 a page, plus the rest of each truncated child list."""
    pages = 0
    for r in RESOURCES:
        objs = account.objects(r.name)
        pages += max(1, math.ceil(len(objs) / PAGE))
        for child in r.children:
            for o in objs:
                n = len(o[child.field]["data"])
                if n > EMBEDDED:
                    pages += math.ceil((n - EMBEDDED) / PAGE)
    return pages
