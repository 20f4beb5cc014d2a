"""Incremental sync: apply what ``/v1/events`` says changed since the cursor.

Events are read from ``cursor - overlap`` to ``now - lag`` (Stripe may publish an event
a little after its ``created``), deduplicated against the events already stored, and
applied object by object: the newest event's payload is used as is only when it was
rendered at our pinned API version and carries no truncated list; otherwise the object
is fetched again. An event row is stored in the same transaction as the change it
caused, so "stored" means "applied" and a crash never skips one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from syncer.errors import EventsExpired, StripeNotFound
from syncer.stripe.resources import BY_NAME, BY_OBJECT, EVENTS, Resource
from syncer.stripe.shapes import customer_of
from syncer.sync.collect import Collected, collect, fetch_expanded
from syncer.sync.context import SyncContext, Target
from syncer.sync.projection import embedded_list, project

# Objects whose events name another object to re-read, first field set wins: a discount
# lives on its subscription, else (``customer.discount``, the legacy customer-wide one,
# whose ``subscription`` is null) on its customer.
_FOLLOW: dict[str, tuple[tuple[str, str], ...]] = {
    "discount": (("subscription", "subscriptions"), ("customer", "customers")),
}


@dataclass
class EventsResult:
    events: int = 0
    applied: int = 0
    refetched: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def cursor_expired(ctx: SyncContext, cursor: int | None) -> bool:
    return cursor is not None and ctx.now() - cursor > ctx.events_max_age


def iter_new_events(ctx: SyncContext, target: Target, since: int, until: int) -> list[dict[str, Any]]:
    """Every event created in ``[since, until]`` not stored yet, oldest first."""
    params: dict[str, Any] = {"limit": ctx.page_size, "created": {"gte": since, "lte": until}}
    events: dict[str, dict[str, Any]] = {}
    while True:
        page = target.api.fetch_list_page(EVENTS.path, dict(params), resource=EVENTS.name)
        for ev in page.data:
            events.setdefault(str(ev["id"]), ev)
        if not page.has_more or not page.data or ctx.stop.is_set():
            break
        params["starting_after"] = page.data[-1]["id"]
    with ctx.store.reading() as conn:
        seen = ctx.store.existing_ids(conn, "events", events, account=target.account, livemode=target.livemode)
    fresh = [ev for eid, ev in events.items() if eid not in seen]
    return sorted(fresh, key=lambda ev: (int(ev.get("created") or 0), str(ev["id"])))


def sync_events(ctx: SyncContext, target: Target) -> EventsResult:
    with ctx.store.reading() as conn:
        cursor = ctx.store.get_event_cursor(conn, target.account, target.livemode)
    if cursor is None:
        raise EventsExpired("no events cursor yet: the resources must be listed first")
    if cursor_expired(ctx, cursor):
        raise EventsExpired("the events cursor is older than Stripe keeps events")
    until = ctx.now() - ctx.events_lag
    events = iter_new_events(ctx, target, max(0, cursor - ctx.events_overlap), until)
    result = EventsResult(events=len(events))

    # The newest event of each object decides how it is refreshed; all its events are
    # stored with that refresh.
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    for ev in events:
        key = _object_key(ev)
        (groups.setdefault(key, []) if key else loose).append(ev)

    with ThreadPoolExecutor(max_workers=ctx.concurrency, thread_name_prefix="events") as pool:
        for name, refetched in pool.map(lambda item: _apply(ctx, target, *item), groups.items()):
            result.counts[name] = result.counts.get(name, 0) + 1
            result.applied += 1
            result.refetched += refetched
    if loose:
        _store_events(ctx, target, loose, Collected())
    if not ctx.stop.is_set():
        with ctx.store.transaction() as conn:
            ctx.store.set_event_cursor(conn, target.account, target.livemode, until, ctx.now())
    return result


def _object_key(ev: dict[str, Any]) -> tuple[str, str] | None:
    obj = (ev.get("data") or {}).get("object") or {}
    kind, oid = obj.get("object"), obj.get("id")
    if kind in _FOLLOW:
        for field_name, resource_name in _FOLLOW[kind]:
            ref = customer_of(obj) if field_name == "customer" else obj.get(field_name)
            if isinstance(ref, str) and ref.startswith("cus_" if resource_name == "customers" else ""):
                return (resource_name, ref)
        return None
    resource = BY_OBJECT.get(str(kind))
    if resource is None or not isinstance(oid, str):
        return None
    return (resource.name, oid)


def _apply(
    ctx: SyncContext, target: Target, key: tuple[str, str], events: list[dict[str, Any]]
) -> tuple[str, int]:
    """Refresh one object from its events; returns (resource, 1 if it was re-fetched)."""
    resource_name, object_id = key
    resource = BY_NAME[resource_name]
    refetched = 0
    latest = events[-1]
    payload = (latest.get("data") or {}).get("object") or {}
    collected = Collected()
    deleted_at: int | None = None
    same_object = payload.get("object") == resource.object
    if same_object and str(latest.get("type", "")).endswith(".deleted") and resource.deletable:
        deleted_at = int(latest["created"])
        collected.add(project(resource.name, payload, ctx.row_context(target, deleted_at)))
    elif (same_object and latest.get("api_version") == target.api.api_version and not _truncated(resource, payload)
          and _as_expanded_as_listed(resource, payload)):
        collect(target, resource, [payload], ctx.row_context(target, int(latest["created"])), collected)
    else:
        fetched_at = ctx.now()
        obj = _refetch(target, resource, object_id)
        refetched = 1
        if obj is None or obj.get("deleted") is True:
            deleted_at = fetched_at
            if same_object:
                collected.add(project(resource.name, payload, ctx.row_context(target, fetched_at)))
        else:
            collect(target, resource, [obj], ctx.row_context(target, fetched_at), collected)
    _store_events(ctx, target, events, collected, deleted=(resource.name, object_id, deleted_at),
                  ended=_deleted_discounts(events))
    return resource.name, refetched


def _deleted_discounts(events: list[dict[str, Any]]) -> dict[str, int]:
    """Discount id → when an event said it was removed (``customer.discount.deleted``):
    the object it lived on is re-read without it, but the discount's own row must end,
    at the time it did, for the normalizer to date its end."""
    ended: dict[str, int] = {}
    for ev in events:
        obj = (ev.get("data") or {}).get("object") or {}
        if obj.get("object") == "discount" and str(ev.get("type", "")).endswith(".deleted") and obj.get("id"):
            ended[str(obj["id"])] = int(ev.get("created") or 0)
    return ended


def _as_expanded_as_listed(resource: Resource, payload: dict[str, Any]) -> bool:
    """Whether the payload holds, as objects, everything its listing expands. Stripe
    never expands an event's object: a subscription with a discount names it by id, so
    using it would drop the discount's row (or its coupon, a deleted one's only copy)."""
    return all(_expanded(payload, e.removeprefix("data.").split(".")) for e in resource.expand)


def _expanded(value: Any, path: list[str]) -> bool:
    if isinstance(value, str):
        return False  # an id where the listing has an object
    if not path:
        return True
    if isinstance(value, list):
        return all(_expanded(v, path) for v in value)
    if isinstance(value, dict):
        inner = value.get(path[0])
        return inner is None or _expanded(inner, path[1:])
    return True


def _truncated(resource: Resource, payload: dict[str, Any]) -> bool:
    return any(embedded_list(payload, child.field)[1] for child in resource.children)


def _refetch(target: Target, resource: Resource, object_id: str) -> dict[str, Any] | None:
    # A list's expansions less their ``data.``: a retrieved object is one level shallower.
    expand = [e.removeprefix("data.") for e in resource.expand]
    path = resource.retrieve(object_id)
    try:
        return fetch_expanded(lambda p: target.api.fetch_object(path, resource=resource.name, params=p), {}, expand,
                              target=target, endpoint=resource.retrieve("{id}"))
    except StripeNotFound:
        return None


def _store_events(
    ctx: SyncContext,
    target: Target,
    events: list[dict[str, Any]],
    collected: Collected,
    deleted: tuple[str, str, int | None] | None = None,
    ended: dict[str, int] | None = None,
) -> None:
    for ev in events:
        collected.add(project(EVENTS.name, ev, ctx.row_context(target, int(ev.get("created") or 0))))
    with ctx.store.transaction() as conn:
        collected.write(ctx.store, conn, account=target.account, livemode=target.livemode, at=ctx.now())
        if deleted and deleted[2] is not None:
            ctx.store.mark_deleted(
                conn, deleted[0], deleted[1], account=target.account, livemode=target.livemode, at=deleted[2]
            )
        for discount_id, at in (ended or {}).items():
            ctx.store.mark_deleted(conn, "discounts", discount_id, account=target.account, livemode=target.livemode, at=at)
