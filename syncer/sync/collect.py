"""Turning fetched objects into rows, paging embedded lists to their end."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from syncer.db.store import Store
from syncer.errors import StripeRequestError
from syncer.stripe.resources import CHILD_PARENT_COLUMN, Child, Resource, expand_depth
from syncer.stripe.shapes import ref
from syncer.sync.context import Target
from syncer.sync.projection import (
    RowContext,
    embedded_list,
    merge_rows,
    project,
    project_child,
)

PAGE_SIZE = 100
T = TypeVar("T")


@dataclass
class Collected:
    """Rows per table, and for each parent the complete list of its children's ids."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    children: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    # Customer → the id of the discount it carries itself (``customer.discount``), or None.
    customer_discounts: dict[str, str | None] = field(default_factory=dict)
    objects: int = 0

    def add(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        for name, batch in rows.items():
            self.rows[name].extend(batch)

    def write(self, store: Store, conn: Connection, *, account: str, livemode: bool, at: int) -> int:
        # One row per key: a discount appears on a subscription and on its invoices.
        written = store.upsert_rows(conn, merge_rows([self.rows]))
        for (child_table, parent_column), parents in self.children.items():
            store.mark_missing_children_deleted(
                conn, child_table, parent_column, parents, account=account, livemode=livemode, at=at
            )
        if self.customer_discounts:
            store.end_replaced_customer_discounts(
                conn, self.customer_discounts, account=account, livemode=livemode, at=at
            )
        return written


def fetch_expanded(
    fetch: Callable[[dict[str, Any]], T], params: dict[str, Any], expand: Sequence[str], *, target: Target,
    endpoint: str,
) -> T:
    """``fetch(params)`` with ``expand``; a Stripe-compatible server that refuses an
    expansion (400 naming it) is asked again without the nested ones, then without any:
    the object comes less complete rather than not at all. What ``target``'s server
    refused on ``endpoint`` (``syncer.stripe.resources.endpoint_of``) is not asked of it
    again (``Target.refused_expansions``)."""
    tries: list[list[str]] = []
    for attempt in (list(expand), [e for e in expand if expand_depth(e) <= 2], []):
        if attempt not in tries:
            tries.append(attempt)
    refused = target.refused_expansions
    for level in range(min(refused.get(endpoint, 0), len(tries) - 1), len(tries)):
        attempt = tries[level]
        asked = {**params, "expand": attempt} if attempt else params
        try:
            return fetch(asked)
        except StripeRequestError as exc:
            if not attempt or "expand" not in str(exc).lower():
                raise
            refused[endpoint] = level + 1
    raise AssertionError("unreachable: the last attempt has no expansion")


# The rows a child list's remaining pages hold, and their children's ids.
ChildRows = tuple[dict[str, list[dict[str, Any]]], list[str]]
# Runs the given calls and returns their results in order (one after the other unless
# the caller has threads for them).
RunAll = Callable[[Sequence[Callable[[], T]]], list[T]]


def run_in_turn(calls: Sequence[Callable[[], T]]) -> list[T]:
    return [call() for call in calls]


def collect(
    target: Target, resource: Resource, objects: Iterable[Mapping[str, Any]], ctx: RowContext, out: Collected,
    *, run_all: RunAll[ChildRows] | None = None,
) -> Collected:
    """Project ``objects`` into ``out``, fetching the rest of any truncated child list.

    The rest of each truncated list is fetched by ``run_all``: a page of invoices may name
    several long invoices, each a request (or more) of its own; side by side they take
    one round trip, not one each."""
    rest: list[tuple[Child, str, list[str]]] = []
    for obj in objects:
        out.add(project(resource.name, obj, ctx))
        out.objects += 1
        if resource.name == "customers" and "discount" in obj and not obj.get("deleted"):
            # Only a customer that shows the field says it has no discount (any more).
            out.customer_discounts[str(obj["id"])] = ref(obj["discount"])
        for child in resource.children:
            embedded = _embedded_children(child, obj)
            if embedded is None:
                continue
            ids, has_more = embedded
            key = (child.table, CHILD_PARENT_COLUMN[child.table])
            out.children.setdefault(key, {})[str(obj["id"])] = ids
            if has_more and ids:
                rest.append((child, str(obj["id"]), ids))
    calls = [partial(_rest_of_children, target, resource, child, parent_id, ids, ctx)
             for child, parent_id, ids in rest]
    for (rows, more_ids), ids in zip((run_all or run_in_turn)(calls), (r[2] for r in rest), strict=True):
        out.add(rows)
        ids.extend(more_ids)
    return out


def _embedded_children(child: Child, obj: Mapping[str, Any]) -> tuple[list[str], bool] | None:
    """Ids of the children ``obj`` carries and whether its list goes on; None when the
    object carries no such list at all."""
    if not isinstance(obj.get(child.field), Mapping):
        return None
    data, has_more = embedded_list(obj, child.field)
    return [str(c["id"]) for c in data], has_more


def _rest_of_children(
    target: Target, resource: Resource, child: Child, parent_id: str, ids: Sequence[str], ctx: RowContext
) -> ChildRows:
    """The rows and ids of a truncated child list's children after ``ids`` (those embedded)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    more: list[str] = []
    last, position, has_more = ids[-1], len(ids), True
    while has_more:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "starting_after": last}
        if child.parent_param:
            params[child.parent_param] = parent_id
        page = fetch_expanded(
            lambda p: target.api.fetch_list_page(child.path.format(id=parent_id), p, resource=resource.name),
            params, child.expand, target=target, endpoint=child.path,
        )
        for c in page.data:
            for name, batch in project_child(child.table, parent_id, c, position, ctx).items():
                rows[name].extend(batch)
            more.append(str(c["id"]))
            position += 1
        has_more = page.has_more and bool(page.data)
        if page.data:
            last = str(page.data[-1]["id"])
    return rows, more
