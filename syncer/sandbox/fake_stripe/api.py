"""Answering an authenticated GET: routing, lists, retrieval, child lists, ``expand[]``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from syncer.sandbox.expansion import NO_PLAN, ExpandError, Plan, plan_for
from syncer.sandbox.fake_stripe.auth import mask_key, test_mode_only
from syncer.sandbox.fake_stripe.filters import FILTERS, hidden_by_default
from syncer.sandbox.fake_stripe.listing import (
    created_bounds,
    cursor_of,
    limit_of,
    list_response,
    select,
    slice_children,
)
from syncer.sandbox.fake_stripe.params import list_param, str_param
from syncer.sandbox.fake_stripe.responses import (
    Response,
    StripeError,
    invalid,
    json_response,
    missing,
    unknown_url,
)
from syncer.sandbox.fake_stripe.store import Store
from syncer.sandbox.fake_stripe.tables import FORGOTTEN_WHEN_DELETED, OBJECT_OF, RAK_PERMISSIONS
from syncer.sandbox.generator import JSON
from syncer.stripe.resources import RESOURCES, Child, Resource


class ReadApi:
    """Stripe's read API over a store: routing, listing, retrieving, child lists.

    ``_route``, ``_only`` and ``_expand`` are the hooks a subclass may override (the
    benchmark's lenient fake accepts what the real Stripe would refuse).
    """

    def __init__(self, *, restricted_denied: Iterable[str] = ()) -> None:
        self.restricted_denied: set[str] = set(restricted_denied)
        self._routes = self._build_routes()

    def _build_routes(self) -> dict[str, Resource]:
        return {r.path: r for r in RESOURCES}

    def _route(self, store: Store, path: str, params: dict[str, Any], key: str) -> Response:
        segments = path.rstrip("/").split("/")
        if len(segments) < 3 or segments[1] != "v1":
            raise unknown_url(path)
        base = "/".join(segments[:3])
        rest = segments[3:]
        if base == "/v1/account" and not rest:
            self._deny("account", key, store)
            self._only(params, set())
            return json_response(store.account.account)
        if base == "/v1/events":
            self._deny("events", key, store)
            if not rest:
                return self._list(store, "events", "/v1/events", params, windowed=True)
            if len(rest) == 1:
                return self._retrieve(store, "events", "event", rest[0], params)
        if base == "/v1/balance_transactions" and len(rest) == 1:
            self._deny("balance_transactions", key, store)
            self._only(params, set())
            txn = store.account.balance_transactions.get(rest[0])
            if txn is None:
                raise missing("balance_transaction", rest[0])
            return json_response(txn)
        if base == "/v1/test_helpers" and rest and rest[0] == "test_clocks" and len(rest) <= 2:
            self._deny("test_clocks", key, store)
            test_mode_only(key, "Test clocks")
            if len(rest) == 1:
                return self._list(store, "test_clocks", path.rstrip("/"), params, windowed=False)
            return self._retrieve(store, "test_clocks", "test_helpers.test_clock", rest[1], params)
        if base == "/v1/subscription_items":
            self._deny("subscriptions", key, store)
            if not rest:
                return self._subscription_items(store, params)
            if len(rest) == 1:
                return self._subscription_item(store, rest[0], params)
        resource = self._routes.get(base)
        if resource is None:
            raise unknown_url(path)
        self._deny(resource.name, key, store)
        if not rest:
            return self._list(store, resource.name, resource.path, params,
                              windowed=resource.windowed)
        if len(rest) == 1:
            return self._retrieve(store, resource.name, resource.object, rest[0], params)
        child = _child_at(resource, rest)
        if child is not None:
            return self._child_lines(store, resource, child, rest[0], params)
        raise unknown_url(path)

    def _deny(self, resource: str, key: str, store: Store) -> None:
        if resource in self.restricted_denied:
            perm = RAK_PERMISSIONS.get(resource, f"rak_{resource}_read")
            raise StripeError(
                403, "permission_error",
                f"The provided key '{mask_key(key)}' does not have the required permissions "
                f"for this endpoint on account '{store.account.account['id']}'. Having the "
                f"'{perm}' permission would allow this request to continue.")

    @staticmethod
    def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
        for name in params:
            if name not in allowed:
                raise invalid(f"Received unknown parameter: {name}", param=name,
                              code="parameter_unknown")

    @staticmethod
    def _expand(params: Mapping[str, Any], name: str, *, listed: bool) -> Plan:
        """The request's ``expand[]`` on objects of ``name`` (each entry, on a list)."""
        if "expand" not in params:
            return NO_PLAN
        try:
            return plan_for(OBJECT_OF[name], list_param(params["expand"], "expand"),
                            listed=listed)
        except ExpandError as err:
            raise invalid(err.message, param=err.param, code=err.code) from None

    def _list(self, store: Store, name: str, url: str, params: Mapping[str, Any], *,
              windowed: bool) -> Response:
        filters = FILTERS.get(name, {})
        allowed = {"limit", "starting_after", "ending_before", "expand", *filters}
        if windowed:
            allowed.add("created")
        self._only(params, allowed)
        limit = limit_of(params)
        after, before = cursor_of(params)
        plan = self._expand(params, name, listed=True)
        preds = [build(params[p], p) for p, build in filters.items() if p in params]
        preds += hidden_by_default(name, params)
        idx = store.index(name)
        lo, hi = created_bounds(idx, params)
        found, has_more = select(idx, lo, hi, preds, limit=limit, after=after, before=before,
                                 object_name=OBJECT_OF[name])
        parts = [store.serialized(name, idx.objs[i], plan) for i in found]
        return list_response(parts, has_more, url)

    def _retrieve(self, store: Store, name: str, object_name: str, obj_id: str,
                  params: Mapping[str, Any]) -> Response:
        self._only(params, {"expand"})
        plan = self._expand(params, name, listed=False)
        idx = store.index(name)
        pos = idx.pos.get(obj_id)
        if pos is None or (obj_id in idx.deleted and name in FORGOTTEN_WHEN_DELETED):
            raise missing(object_name, obj_id)
        if obj_id in idx.deleted:
            return json_response({"id": obj_id, "object": object_name, "deleted": True})
        return Response(200, store.serialized(name, idx.objs[pos], plan))

    def _page(self, store: Store, entries: list[JSON], params: Mapping[str, Any], url: str,
              object_name: str, name: str) -> Response:
        """Page an in-order child list (invoice lines, items, credit note lines)."""
        limit = limit_of(params)
        after, before = cursor_of(params)
        plan = self._expand(params, name, listed=True)
        chunk, has_more = slice_children(entries, limit=limit, after=after, before=before,
                                         object_name=object_name)
        parts = [json.dumps(store.render_child(e, plan), separators=(",", ":")).encode()
                 for e in chunk]
        return list_response(parts, has_more, url)

    def _child_lines(self, store: Store, resource: Resource, child: Child, parent_id: str,
                     params: Mapping[str, Any]) -> Response:
        self._only(params, {"limit", "starting_after", "ending_before", "expand"})
        idx = store.index(resource.name)
        pos = idx.pos.get(parent_id)
        if pos is None or parent_id in idx.deleted:
            raise missing(resource.object, parent_id)
        parent = idx.objs[pos]
        return self._page(store, parent[child.field]["data"], params, child.path.format(id=parent_id),
                          child.object, child.table)

    def _subscription_items(self, store: Store, params: Mapping[str, Any]) -> Response:
        self._only(params, {"subscription", "limit", "starting_after", "ending_before",
                            "expand"})
        if "subscription" not in params:
            raise invalid("Missing required param: subscription.", param="subscription",
                          code="parameter_missing")
        sub_id = str_param(params["subscription"], "subscription")
        idx = store.index("subscriptions")
        pos = idx.pos.get(sub_id)
        if pos is None or sub_id in idx.deleted:
            raise missing("subscription", sub_id, param="subscription", status=400)
        return self._page(store, idx.objs[pos]["items"]["data"], params, "/v1/subscription_items",
                          "subscription_item", "subscription_items")

    def _subscription_item(self, store: Store, item_id: str,
                           params: Mapping[str, Any]) -> Response:
        self._only(params, {"expand"})
        plan = self._expand(params, "subscription_items", listed=False)
        item = store.subscription_item(item_id)
        if item is None:
            raise missing("subscription_item", item_id)
        return json_response(store.render_child(item, plan))


def _child_at(resource: Resource, rest: list[str]) -> Child | None:
    """The child list a path under one of ``resource``'s objects names (``in_…/lines``)."""
    if len(rest) != 2:
        return None
    return next((c for c in resource.children if c.path == f"{resource.path}/{{id}}/{rest[1]}"), None)
