"""Lists as Stripe pages them: newest first, ``limit``, cursors, ``created[…]`` windows."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Any

from syncer.sandbox.fake_stripe.filters import Predicate
from syncer.sandbox.fake_stripe.params import created_range, int_param, str_param
from syncer.sandbox.fake_stripe.responses import Response, invalid, missing
from syncer.sandbox.fake_stripe.store import Index
from syncer.sandbox.generator import JSON

MAX_LIMIT = 100


def limit_of(params: Mapping[str, Any]) -> int:
    """The page size asked for (10 by default, at most ``MAX_LIMIT``)."""
    if "limit" not in params:
        return 10
    limit = int_param(params["limit"], "limit")
    if limit < 1:
        raise invalid("This value must be greater than or equal to 1.", param="limit")
    if limit > MAX_LIMIT:
        raise invalid(f"This value must be less than or equal to {MAX_LIMIT}.",
                      param="limit")
    return limit


def cursor_of(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``starting_after`` and ``ending_before`` (one at most)."""
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        raise invalid("You may only specify one of these parameters: ending_before, "
                      "starting_after.", param="ending_before")
    return (None if after is None else str_param(after, "starting_after"),
            None if before is None else str_param(before, "ending_before"))


def created_bounds(idx: Index, params: Mapping[str, Any]) -> tuple[int, int]:
    """The positions in ``idx`` that ``created[…]`` keeps: [lo, hi)."""
    lo, hi = 0, len(idx.objs)
    if "created" in params:
        c_lo, c_hi = created_range(params["created"])
        if c_hi is not None:
            lo = bisect_left(idx.neg_created, -c_hi)
        if c_lo is not None:
            hi = bisect_right(idx.neg_created, -c_lo)
    return lo, hi


def select(idx: Index, lo: int, hi: int, preds: list[Predicate], *, limit: int,
           after: str | None, before: str | None, object_name: str) -> tuple[list[int], bool]:
    """The positions of one page of ``idx[lo:hi]`` past a cursor, and whether more follow."""

    def keep(i: int) -> bool:
        obj = idx.objs[i]
        return obj["id"] not in idx.deleted and all(p(obj) for p in preds)

    found: list[int] = []
    if before is not None:
        end = idx.pos.get(before)
        if end is None:
            raise missing(object_name, before, param="ending_before", status=400)
        i = min(end, hi) - 1
        while i >= lo and len(found) <= limit:
            if keep(i):
                found.append(i)
            i -= 1
        has_more = len(found) > limit
        return sorted(found[:limit]), has_more
    start = lo
    if after is not None:
        pos = idx.pos.get(after)
        if pos is None:
            raise missing(object_name, after, param="starting_after", status=400)
        start = max(lo, pos + 1)
    i = start
    while i < hi and len(found) <= limit:
        if keep(i):
            found.append(i)
        i += 1
    has_more = len(found) > limit
    return found[:limit], has_more


def slice_children(entries: list[JSON], *, limit: int, after: str | None, before: str | None,
                   object_name: str) -> tuple[list[JSON], bool]:
    """One page of an in-order child list past a cursor, and whether more follow."""
    ids = [e["id"] for e in entries]
    if before is not None:
        if before not in ids:
            raise missing(object_name, before, param="ending_before", status=400)
        end = ids.index(before)
        return entries[max(0, end - limit):end], end - limit > 0
    start = 0
    if after is not None:
        if after not in ids:
            raise missing(object_name, after, param="starting_after", status=400)
        start = ids.index(after) + 1
    return entries[start:start + limit], start + limit < len(entries)


def list_response(parts: list[bytes], has_more: bool, url: str) -> Response:
    """A list page, joined from objects serialised already."""
    body = b"".join((
        b'{"object":"list","data":[', b",".join(parts), b'],"has_more":',
        b"true" if has_more else b"false", b',"url":', json.dumps(url).encode(), b"}",
    ))
    return Response(200, body)
