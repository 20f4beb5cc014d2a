"""One account as served: lists sorted like Stripe's, objects serialised once and cached,
expanded ids resolved.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from syncer.sandbox import expansion
from syncer.sandbox.expansion import NO_PLAN, Plan
from syncer.sandbox.fake_stripe.tables import CHILD_FIELD, FORGOTTEN_WHEN_DELETED, OBJECT_OF
from syncer.sandbox.generator import EMBEDDED_LIST_LIMIT, JSON, RESOURCE_NAMES, Account
from syncer.stripe.resources import BY_OBJECT


def _created(obj: JSON) -> int:
    # Invoice items carry ``date`` where every other object has ``created``.
    return int(obj["created"] if "created" in obj else obj["date"])


@dataclass
class Index:
    """One resource sorted like Stripe lists it: created DESC, then id DESC."""

    objs: list[JSON]
    ids: list[str]
    neg_created: list[int]  # ascending, for bisect
    pos: dict[str, int]
    deleted: set[str]

    @classmethod
    def build(cls, live: Iterable[JSON], deleted: Iterable[JSON]) -> Index:
        dead = list(deleted)
        objs = sorted([*live, *dead], key=lambda o: (_created(o), o["id"]), reverse=True)
        return cls(
            objs=objs,
            ids=[o["id"] for o in objs],
            neg_created=[-_created(o) for o in objs],
            pos={o["id"]: i for i, o in enumerate(objs)},
            deleted={o["id"] for o in dead},
        )


class Store:
    """One account as served: lazily built indexes and a cache of serialised objects."""

    def __init__(self, account: Account, cache_limit: int | None = None) -> None:
        self.account = account
        self.lock = threading.RLock()
        self.version = 0
        self.cache_limit = cache_limit
        self.cache_bytes = 0
        self._indexes: dict[str, Index] = {}
        self._cache: dict[tuple[str, str, tuple[str, ...]], bytes] = {}  # by expansion keys
        self._item_owner: dict[str, str] | None = None

    def reset(self) -> None:
        """Forget indexes and cached JSON (after an edit of the account)."""
        with self.lock:
            self.version += 1
            self._indexes.clear()
            self._cache.clear()
            self.cache_bytes = 0
            self._item_owner = None

    def index(self, name: str) -> Index:
        idx = self._indexes.get(name)
        if idx is None:
            with self.lock:
                idx = self._indexes.get(name)
                if idx is None:
                    if name == "events":
                        idx = Index.build(self.account.events, ())
                    elif name == "test_clocks":
                        idx = Index.build(self.account.test_clocks, ())
                    else:
                        idx = Index.build(self.account.objects(name),
                                          self.account.deleted.get(name, {}).values())
                    self._indexes[name] = idx
        return idx

    def item_owner(self, item_id: str) -> str | None:
        owners = self._item_owner
        if owners is None:
            with self.lock:
                owners = {i["id"]: s["id"] for s in self.account.subscriptions
                          for i in s["items"]["data"]}
                self._item_owner = owners
        return owners.get(item_id)

    def serialized(self, name: str, obj: JSON, plan: Plan) -> bytes:
        """The object's JSON, dumped once and then served from the cache."""
        # Objects an expansion leaves as they are (no discounts to expand) share one entry.
        key = (name, obj["id"], plan.key_for(obj) if plan.steps else ())
        data = self._cache.get(key)
        if data is None:
            version = self.version
            data = json.dumps(self.render(name, obj, plan), separators=(",", ":")).encode()
            with self.lock:
                fits = self.cache_limit is None or self.cache_bytes < self.cache_limit
                if version == self.version and fits:  # not replaced by an edit meanwhile
                    self._cache[key] = data
                    self.cache_bytes += len(data)
        return data

    def render_child(self, entry: JSON, plan: Plan) -> JSON:
        """A child list entry (line, item) with the plan's expansions applied."""
        return expansion.apply(entry, plan.steps, self.resolve)

    def render(self, name: str, obj: JSON, plan: Plan = NO_PLAN) -> JSON:
        """The object as Stripe returns it: child lists truncated, expansions applied."""
        out = obj
        if name == "events":
            inner = obj["data"]["object"]
            res = BY_OBJECT.get(inner.get("object", ""))
            if res is not None:
                out = {**obj, "data": {**obj["data"], "object": self.render(res.name, inner)}}
            return out
        child = CHILD_FIELD.get(name)
        if child is not None and len(obj[child]["data"]) > EMBEDDED_LIST_LIMIT:
            lst = obj[child]
            out = {**out, child: {**lst, "data": lst["data"][:EMBEDDED_LIST_LIMIT],
                                  "has_more": True}}
        if name == "prices" and "tiers" in obj and not plan.includes("tiers"):
            out = {k: v for k, v in out.items() if k != "tiers"}
        return expansion.apply(out, plan.steps, self.resolve) if plan.steps else out

    def resolve(self, object_names: tuple[str, ...], obj_id: str,
                inside: tuple[expansion.Step, ...]) -> JSON | None:
        """The object an expanded id names, rendered with what to expand inside it."""
        for object_name in object_names:
            found = self._find(object_name, obj_id)
            if found is None:
                continue
            name, obj = found
            if name is None:
                return expansion.apply(obj, inside, self.resolve)
            if obj_id in self.index(name).deleted and name not in FORGOTTEN_WHEN_DELETED:
                return {"id": obj_id, "object": object_name, "deleted": True}
            return self.render(name, obj, Plan(inside))
        return None

    def _find(self, object_name: str, obj_id: str) -> tuple[str | None, JSON] | None:
        """Where the account keeps an object: (its resource, if listed; the object)."""
        if object_name == "discount":
            discount = self.account.discounts.get(obj_id)
            return None if discount is None else (None, discount)
        if object_name == "balance_transaction":
            txn = self.account.balance_transactions.get(obj_id)
            return None if txn is None else (None, txn)
        if object_name == "subscription_item":
            item = self.subscription_item(obj_id)
            return None if item is None else (None, item)
        name = _RESOURCE_OF.get(object_name)
        if name is None:
            return None
        idx = self.index(name)
        pos = idx.pos.get(obj_id)
        return None if pos is None else (name, idx.objs[pos])

    def subscription_item(self, item_id: str) -> JSON | None:
        sub_id = self.item_owner(item_id)
        if sub_id is None:
            return None
        subs = self.index("subscriptions")
        return next(i for i in subs.objs[subs.pos[sub_id]]["items"]["data"] if i["id"] == item_id)


# Which served list holds objects of each ``object`` (an expanded id is looked up there).
_RESOURCE_OF: dict[str, str] = {
    obj: name for name, obj in OBJECT_OF.items() if name in RESOURCE_NAMES or name == "test_clocks"
}
