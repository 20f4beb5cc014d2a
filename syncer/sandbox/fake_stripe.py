"""A loopback fake of Stripe's read API, serving a synthetic ``Account``.

Pure stdlib (``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive). It answers the
GET endpoints stripe-nrr reads, the way Stripe does: lists sorted by ``created`` then
``id`` (newest first) with ``limit``/``starting_after``/``ending_before``/``created[…]``,
embedded child lists truncated to 10 with ``has_more``, ``expand[]`` as Stripe accepts it
(see ``expansion``), Stripe's error envelope, Bearer auth, restricted-key 403s,
``/v1/subscriptions`` hiding canceled subscriptions unless ``status=all``, test clocks (in
test mode) with the customers and subscriptions on them left out of the lists unless
asked for, and deleted coupons gone from the API but still expanded from discounts.

For tests and benchmarks it can add latency, enforce a rate limit (429 like Stripe's
global limiter) and inject faults with a seeded RNG: 5xx, 429 (plain, or carrying each
``Stripe-Rate-Limited-Reason``), truncated bodies, connection resets, answers held past the
client's timeout, and 200s that are not JSON (an HTML error page) or JSON of the wrong
shape. Every request is recorded; any non-GET request is answered 405 (the syncer
must never write to Stripe). Mutation helpers change the account between syncs and emit
the matching events.

Objects are serialised once and cached as bytes: a list page is a join of cached
objects, so the server keeps up with 100 large pages a second.
"""

from __future__ import annotations

import base64
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from syncer.sandbox import expansion, generator
from syncer.sandbox.expansion import NO_PLAN, ExpandError, Plan, plan_for
from syncer.sandbox.generator import EMBEDDED_LIST_LIMIT, JSON, RESOURCE_NAMES, Account
from syncer.stripe.resources import (
    BY_NAME,
    BY_OBJECT,
    EVENTS,
    RESOURCES,
    TEST_CLOCKS,
    Child,
    Resource,
    endpoint_of,
)

# The default mix: each one fails fast and a retry gets the real answer.
FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "429", "truncated", "reset")
# The reasons Stripe gives in ``Stripe-Rate-Limited-Reason`` on a 429.
RATE_LIMITED_REASONS: tuple[str, ...] = (
    "global-rate", "endpoint-rate", "global-concurrency", "endpoint-concurrency", "resource-specific",
)
# Opt-in kinds: a 429 per reason; "timeout" holds the answer ``timeout_hold`` seconds (past
# the client's timeout, which a test sets short); "malformed-html" is a proxy's HTML page
# sent as a 200; "malformed-shape" is valid JSON without the ``object``/``data`` it needs.
EXTRA_FAULT_KINDS: tuple[str, ...] = (
    *(f"429-{reason}" for reason in RATE_LIMITED_REASONS), "timeout", "malformed-html", "malformed-shape",
)
ALL_FAULT_KINDS: tuple[str, ...] = FAULT_KINDS + EXTRA_FAULT_KINDS
DEFAULT_API_KEY = "sk_test_51Sandbox00000000000000000000"
MAX_LIMIT = 100

# Restricted-key permission Stripe names in its 403 message, per resource (the registry's,
# and what the sync reads without listing it).
RAK_PERMISSIONS: dict[str, str] = {
    "account": "rak_account_read",
    **{r.name: r.permission_key for r in (*RESOURCES, EVENTS, TEST_CLOCKS)},
    "balance_transactions": "rak_balance_transaction_source_read",
}

# Stripe's ``object`` of each list the fake serves (the registry's resources, child lists,
# events, test clocks); what ``expand[]`` accepts on each is read from that object's type
# (see ``expansion``).
OBJECT_OF: dict[str, str] = {
    **{r.name: r.object for r in (*RESOURCES, EVENTS)},
    **{c.table: c.object for r in RESOURCES for c in r.children},
    TEST_CLOCKS.name: TEST_CLOCKS.object,
}
# Deleted objects Stripe forgets: retrieving one is a 404 (a deleted customer answers a
# ``deleted: true`` stub instead), though a discount still expands its deleted coupon.
FORGOTTEN_WHEN_DELETED = frozenset({"coupons"})

# Embedded child list of each parent resource.
CHILD_FIELD: dict[str, str] = {r.name: c.field for r in RESOURCES for c in r.children}

SUBSCRIPTION_STATUSES = frozenset({
    "active", "all", "canceled", "ended", "incomplete", "incomplete_expired", "past_due",
    "paused", "trialing", "unpaid",
})
INVOICE_STATUSES = frozenset({"draft", "open", "paid", "uncollectible", "void"})
_ENDED = frozenset({"canceled", "incomplete_expired"})


# ---- errors and responses -----------------------------------------------------------


class StripeError(Exception):
    """An error answer, in Stripe's envelope."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.headers = list(headers)

    def body(self) -> bytes:
        err: JSON = {}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        err["message"] = self.message
        if self.param:
            err["param"] = self.param
        err["type"] = self.type
        return json.dumps({"error": err}).encode()


def _invalid(message: str, *, param: str | None = None, code: str | None = None,
             status: int = 400) -> StripeError:
    return StripeError(status, "invalid_request_error", message, param=param, code=code)


def _missing(object_name: str, obj_id: str, *, param: str | None = None,
             status: int = 404) -> StripeError:
    return _invalid(f"No such {object_name}: '{obj_id}'", param=param, code="resource_missing",
                    status=status)


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None
    content_type: str = "application/json"


RESET = Response(0, b"", fault="reset")  # sentinel: abort the connection


# ---- the request log ------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake saw it (never the API key).

    ``headers`` holds the Stripe headers that were sent (``Stripe-Version``,
    ``Stripe-Account``), under those names.
    """

    method: str
    path: str
    query: str
    params: Mapping[str, Any]
    headers: Mapping[str, str]
    status: int
    fault: str | None

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("Stripe-Version")

    @property
    def stripe_account(self) -> str | None:
        return self.headers.get("Stripe-Account")


class RequestLog:
    """Thread-safe record of every request, with counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.by_status: Counter[int] = Counter()
        self.by_method: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self.by_status[record.status] += 1
            self.by_method[record.method] += 1
            if record.fault:
                self.faults[record.fault] += 1

    def records(self) -> list[RequestRecord]:
        """A copy of every record so far, oldest first."""
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def count(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        return sum(
            1
            for r in self.records()
            if (method is None or r.method == method)
            and (path is None or r.path == path)
            and (path_prefix is None or r.path.startswith(path_prefix))
            and (status is None or r.status == status)
        )

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.by_status.clear()
            self.by_method.clear()
            self.faults.clear()


# ---- query parsing --------------------------------------------------------------------

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SUBKEY = re.compile(r"\[([^\[\]]*)\]")


def parse_params(query: str) -> dict[str, Any]:
    """Stripe's form encoding of a GET query into plain values.

    ``a=1`` → ``{"a": "1"}``; ``a[]=x&a[]=y`` and ``a[0]=x&a[1]=y`` (stripe-python's
    form) → lists; ``a[gte]=1`` → ``{"a": {"gte": "1"}}``.
    """
    scalars: dict[str, Any] = {}
    lists: dict[str, list[tuple[int, int, str]]] = {}
    for order, (key, value) in enumerate(parse_qsl(query, keep_blank_values=True)):
        m = _KEY.fullmatch(key)
        if m is None:
            raise _invalid(f"Invalid parameter name: {key}")
        base, rest = m.groups()
        subs = _SUBKEY.findall(rest)
        if not subs:
            scalars[base] = value
        elif len(subs) > 1:
            raise _invalid(f"Received unknown parameter: {key}", param=key,
                           code="parameter_unknown")
        elif subs[0] == "" or subs[0].isdigit():
            index = int(subs[0]) if subs[0] else 1 << 30
            lists.setdefault(base, []).append((index, order, value))
        else:
            nested = scalars.setdefault(base, {})
            if not isinstance(nested, dict):
                raise _invalid(f"Invalid hash: {base}", param=base)
            nested[subs[0]] = value
    for base, values in lists.items():
        if base in scalars:
            raise _invalid(f"Invalid array: {base}", param=base)
        scalars[base] = [v for _, _, v in sorted(values)]
    return scalars


def _int_param(value: Any, name: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise _invalid(f"Invalid integer: {value}", param=name)
    return int(value)


def _bool_param(value: Any, name: str) -> bool:
    if value not in ("true", "false"):
        raise _invalid(f"Invalid boolean: {value}", param=name)
    return value == "true"


def _str_param(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {value}", param=name)
    return value


def _list_param(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise _invalid(f"Invalid array: {name}", param=name)


def created_range(value: Any) -> tuple[int | None, int | None]:
    """``created`` / ``created[gte|gt|lte|lt]`` as an inclusive [lo, hi] range."""
    if isinstance(value, str):
        t = _int_param(value, "created")
        return t, t
    if not isinstance(value, dict):
        raise _invalid("Invalid created", param="created")
    lo: int | None = None
    hi: int | None = None
    for op, raw in value.items():
        t = _int_param(raw, f"created[{op}]")
        if op == "gte":
            lo = t if lo is None else max(lo, t)
        elif op == "gt":
            lo = t + 1 if lo is None else max(lo, t + 1)
        elif op == "lte":
            hi = t if hi is None else min(hi, t)
        elif op == "lt":
            hi = t - 1 if hi is None else min(hi, t - 1)
        else:
            raise _invalid(f"Received unknown parameter: created[{op}]",
                           param=f"created[{op}]", code="parameter_unknown")
    return lo, hi


# ---- list filters ---------------------------------------------------------------------

Predicate = Callable[[JSON], bool]


def _eq(field_name: str) -> Callable[[Any, str], Predicate]:
    def build(value: Any, name: str) -> Predicate:
        wanted = _str_param(value, name)
        return lambda o: o.get(field_name) == wanted
    return build


def _bool_eq(field_name: str) -> Callable[[Any, str], Predicate]:
    def build(value: Any, name: str) -> Predicate:
        wanted = _bool_param(value, name)
        return lambda o: bool(o.get(field_name)) == wanted
    return build


def _subscription_status(value: Any, name: str) -> Predicate:
    status = _str_param(value, name)
    if status not in SUBSCRIPTION_STATUSES:
        raise _invalid(f"Invalid status: must be one of {', '.join(sorted(SUBSCRIPTION_STATUSES))}",
                       param=name)
    if status == "all":
        return lambda o: True
    if status == "ended":
        return lambda o: o["status"] in _ENDED
    return lambda o: o["status"] == status


def _invoice_status(value: Any, name: str) -> Predicate:
    status = _str_param(value, name)
    if status not in INVOICE_STATUSES:
        raise _invalid(f"Invalid status: must be one of {', '.join(sorted(INVOICE_STATUSES))}",
                       param=name)
    return lambda o: o["status"] == status


def _invoice_subscription(value: Any, name: str) -> Predicate:
    wanted = _str_param(value, name)
    return lambda o: ((o.get("parent") or {}).get("subscription_details") or {}).get(
        "subscription") == wanted


def _subscription_price(value: Any, name: str) -> Predicate:
    wanted = _str_param(value, name)
    return lambda o: any(i["price"]["id"] == wanted for i in o["items"]["data"])


def _pending(value: Any, name: str) -> Predicate:
    wanted = _bool_param(value, name)
    return lambda o: (o.get("invoice") is None) == wanted


def _promo_coupon(value: Any, name: str) -> Predicate:
    wanted = _str_param(value, name)
    return lambda o: (o.get("promotion") or {}).get("coupon") == wanted


def _lookup_keys(value: Any, name: str) -> Predicate:
    wanted = set(_list_param(value, name))
    return lambda o: o.get("lookup_key") in wanted


def _event_type(value: Any, name: str) -> Predicate:
    pattern = _str_param(value, name)
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        return lambda o: str(o["type"]).startswith(prefix)
    return lambda o: o["type"] == pattern


def _event_types(value: Any, name: str) -> Predicate:
    wanted = set(_list_param(value, name))
    return lambda o: o["type"] in wanted


def _ignored(value: Any, name: str) -> Predicate:
    return lambda o: True


FILTERS: dict[str, dict[str, Callable[[Any, str], Predicate]]] = {
    "customers": {"email": _eq("email"), "test_clock": _eq("test_clock")},
    "products": {"active": _bool_eq("active")},
    "prices": {"active": _bool_eq("active"), "product": _eq("product"), "type": _eq("type"),
               "currency": _eq("currency"), "lookup_keys": _lookup_keys},
    "coupons": {},
    "promotion_codes": {"active": _bool_eq("active"), "code": _eq("code"),
                        "coupon": _promo_coupon, "customer": _eq("customer")},
    "subscriptions": {"status": _subscription_status, "customer": _eq("customer"),
                      "price": _subscription_price, "test_clock": _eq("test_clock"),
                      "customer_account": _eq("customer_account"),
                      "collection_method": _eq("collection_method")},
    "invoices": {"customer": _eq("customer"), "status": _invoice_status,
                 "subscription": _invoice_subscription},
    "invoice_items": {"customer": _eq("customer"), "invoice": _eq("invoice"),
                      "pending": _pending},
    "invoice_payments": {"invoice": _eq("invoice"), "status": _eq("status")},
    "charges": {"customer": _eq("customer"), "payment_intent": _eq("payment_intent")},
    "refunds": {"charge": _eq("charge"), "payment_intent": _eq("payment_intent")},
    "credit_notes": {"customer": _eq("customer"), "invoice": _eq("invoice")},
    "disputes": {"charge": _eq("charge"), "payment_intent": _eq("payment_intent")},
    "events": {"type": _event_type, "types": _event_types, "delivery_success": _ignored},
}


def _not_on_a_test_clock(obj: JSON) -> bool:
    return not obj.get("test_clock")


def _hidden_by_default(name: str, params: Mapping[str, Any]) -> list[Predicate]:
    """What a list leaves out unless a filter asks for it: ended subscriptions (unless
    ``status``), and customers and subscriptions on a test clock (unless ``test_clock``,
    or for subscriptions ``customer``)."""
    hidden: list[Predicate] = []
    if name == "subscriptions" and "status" not in params:
        hidden.append(lambda o: o["status"] not in _ENDED)
    if name == "customers" and "test_clock" not in params:
        hidden.append(_not_on_a_test_clock)
    if name == "subscriptions" and "test_clock" not in params and "customer" not in params:
        hidden.append(_not_on_a_test_clock)
    return hidden


# ---- the store: indexes and serialised objects ----------------------------------------


def _created(obj: JSON) -> int:
    # Invoice items carry ``date`` where every other object has ``created``.
    return int(obj["created"] if "created" in obj else obj["date"])


@dataclass
class _Index:
    """One resource sorted like Stripe lists it: created DESC, then id DESC."""

    objs: list[JSON]
    ids: list[str]
    neg_created: list[int]  # ascending, for bisect
    pos: dict[str, int]
    deleted: set[str]

    @classmethod
    def build(cls, live: Iterable[JSON], deleted: Iterable[JSON]) -> _Index:
        dead = list(deleted)
        objs = sorted([*live, *dead], key=lambda o: (_created(o), o["id"]), reverse=True)
        return cls(
            objs=objs,
            ids=[o["id"] for o in objs],
            neg_created=[-_created(o) for o in objs],
            pos={o["id"]: i for i, o in enumerate(objs)},
            deleted={o["id"] for o in dead},
        )


class _Store:
    """One account as served: lazily built indexes and a cache of serialised objects."""

    def __init__(self, account: Account, cache_limit: int | None = None) -> None:
        self.account = account
        self.lock = threading.RLock()
        self.version = 0
        self.cache_limit = cache_limit
        self.cache_bytes = 0
        self._indexes: dict[str, _Index] = {}
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

    def index(self, name: str) -> _Index:
        idx = self._indexes.get(name)
        if idx is None:
            with self.lock:
                idx = self._indexes.get(name)
                if idx is None:
                    if name == "events":
                        idx = _Index.build(self.account.events, ())
                    elif name == "test_clocks":
                        idx = _Index.build(self.account.test_clocks, ())
                    else:
                        idx = _Index.build(self.account.objects(name),
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


# ---- rate limiting ---------------------------------------------------------------------


class _TokenBucket:
    """``rate`` requests a second with bursts of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


# ---- the server ------------------------------------------------------------------------


def mask_key(key: str) -> str:
    """How Stripe echoes a key in errors: prefix, stars, last four."""
    m = re.match(r"(?:sk|rk|pk)_(?:test|live)_", key)
    prefix = m.group(0) if m else ""
    tail = key[-4:] if len(key) >= len(prefix) + 8 else ""
    return f"{prefix}****{tail}"


class FakeStripe:
    """The fake Stripe API over an ``Account`` (and optional connected accounts).

    Options are plain attributes and may be changed while the server runs.
    """

    def __init__(
        self,
        account: Account,
        *,
        api_key: str = DEFAULT_API_KEY,
        restricted_denied: Iterable[str] = (),
        latency: float = 0.0,
        rate_limit: float | None = None,
        endpoint_rate_limit: float | None = None,
        fail_rate: float = 0.0,
        fault_kinds: Iterable[str] = FAULT_KINDS,
        seed: int = 1,
        retry_after: int | None = 1,
        timeout_hold: float = 2.0,
        connected: Mapping[str, Account] | None = None,
        prewarm: bool = False,
        cache_limit: int | None = 4 << 30,
    ) -> None:
        self.account = account
        self.api_key = api_key
        self.restricted_denied: set[str] = set(restricted_denied)
        self.latency = latency
        self.fail_rate = fail_rate
        self.fault_kinds = tuple(fault_kinds)
        unknown = set(self.fault_kinds) - set(ALL_FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        self.retry_after = retry_after  # Retry-After of an injected 429 (None: no header)
        self.timeout_hold = timeout_hold  # how long a "timeout" fault holds its answer
        self._stopping = threading.Event()
        self.log = RequestLog()
        self.prewarm = prewarm
        self._store = _Store(account, cache_limit)
        self._connected = {acct_id: _Store(a, cache_limit)
                           for acct_id, a in (connected or {}).items()}
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._bucket: _TokenBucket | None = None
        self.rate_limit = rate_limit
        # Stripe's per-endpoint limit (25/s unless documented otherwise), one bucket per operation.
        self.endpoint_rate_limit = endpoint_rate_limit
        self._endpoint_buckets: dict[str, _TokenBucket] = {}
        self._endpoint_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._request_seq = 0
        self._routes = self._build_routes()

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def rate_limit(self) -> float | None:
        return self._bucket.rate if self._bucket else None

    @rate_limit.setter
    def rate_limit(self, value: float | None) -> None:
        self._bucket = _TokenBucket(value) if value else None

    def _endpoint_bucket(self, path: str) -> _TokenBucket:
        endpoint = endpoint_of(path)  # the same operation the client budgets for
        with self._endpoint_lock:
            bucket = self._endpoint_buckets.get(endpoint)
            if bucket is None:
                assert self.endpoint_rate_limit
                bucket = self._endpoint_buckets[endpoint] = _TokenBucket(self.endpoint_rate_limit)
            return bucket

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Stripe server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _bind(self, host: str, port: int) -> ThreadingHTTPServer:
        server = _Server((host, port), _Handler)
        server.fake = self
        self._server = server
        return server

    def warm(self, resources: Iterable[str] | None = None) -> int:
        """Serialise every object now, as the registry lists it, so that no request has
        to (a cold page of 100 invoices costs ~7 ms of CPU; a warm one ~0.1 ms).
        Returns the number of objects serialised."""
        wanted = set(resources) if resources is not None else None
        count = 0
        for store in (self._store, *self._connected.values()):
            for res in (*RESOURCES, EVENTS):
                if wanted is not None and res.name not in wanted:
                    continue
                plan = plan_for(OBJECT_OF[res.name], res.expand, listed=True)
                idx = store.index(res.name)
                for obj in idx.objs:
                    if obj["id"] not in idx.deleted:
                        store.serialized(res.name, obj, plan)
                        count += 1
        return count

    def render_listed(self, name: str, obj: JSON, expand: Iterable[str] | None = None) -> JSON:
        """``obj`` as a list of ``name`` answers it with ``expand[]`` (by default the
        registry's, what the sync asks for): what a synced row should hold."""
        paths = BY_NAME[name].expand if expand is None else tuple(expand)
        return self._store.render(name, obj, plan_for(OBJECT_OF[name], paths, listed=True))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._server is not None:
            return self.base_url
        if self.prewarm:
            self.warm()
        self._stopping.clear()
        server = self._bind(host, port)
        self._thread = threading.Thread(target=server.serve_forever, name="fake-stripe",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self.base_url

    def serve_forever(self, host: str = "127.0.0.1", port: int = 12111) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        server = self._bind(host, port)
        try:
            server.serve_forever()
        finally:
            self._close()

    def stop(self) -> None:
        """Stop accepting, drop open keep-alive connections, free the port."""
        server = self._server
        if server is None:
            return
        self._stopping.set()  # answers held by a "timeout" fault are dropped now
        server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        server, self._server, self._thread = self._server, None, None
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if server is not None:
            server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- mutation helpers (tests) ---------------------------------------------------------

    def _edit(self, fn: Callable[..., JSON], *args: Any, **kwargs: Any) -> JSON:
        with self._store.lock:
            try:
                return fn(self.account, *args, **kwargs)
            finally:
                self._store.reset()

    def add_customer(self, *, now: int, name: str | None = None, email: str | None = None,
                     metadata: JSON | None = None, currency: str | None = None) -> JSON:
        return self._edit(generator.add_customer, now=now, name=name, email=email,
                          metadata=metadata, currency=currency)

    def add_subscription(self, customer_id: str, *, now: int, price: str,
                         quantity: int = 1) -> JSON:
        return self._edit(generator.add_subscription, customer_id, now=now, price=price,
                          quantity=quantity)

    def change_subscription(self, sub_id: str, *, now: int, quantity: int | None = None,
                            price: str | None = None, cancel_at_period_end: bool | None = None,
                            item: str | None = None) -> JSON:
        return self._edit(generator.change_subscription, sub_id, now=now, quantity=quantity,
                          price=price, cancel_at_period_end=cancel_at_period_end, item=item)

    def cancel_subscription(self, sub_id: str, *, now: int,
                            reason: str = "cancellation_requested",
                            feedback: str | None = None) -> JSON:
        return self._edit(generator.cancel_subscription, sub_id, now=now, reason=reason,
                          feedback=feedback)

    def update_customer(self, customer_id: str, *, now: int, **fields: Any) -> JSON:
        return self._edit(generator.update_customer, customer_id, now=now, **fields)

    def delete_customer(self, customer_id: str, now: int) -> JSON:
        return self._edit(generator.delete_customer, customer_id, now=now)

    # -- request handling -------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        """Answer one request (the HTTP handler calls this; tests may too)."""
        parts = urlsplit(target)
        path, query = parts.path, parts.query
        headers = {k.lower(): v for k, v in headers.items()}
        version = headers.get("stripe-version")
        on_behalf = headers.get("stripe-account")
        params: dict[str, Any] = {}
        try:
            resp = self._answer(method, path, query, headers, params)
        except StripeError as err:
            resp = Response(err.status, err.body(), err.headers)
        sent = {name: value for name, value in (("Stripe-Version", version),
                                                 ("Stripe-Account", on_behalf)) if value}
        self.log.add(RequestRecord(method, path, query, params, sent, resp.status, resp.fault))
        if resp is not RESET:
            resp.headers += [
                ("Request-Id", self._request_id()),
                ("Stripe-Version", version or self.account.api_version),
            ]
        return resp

    def _request_id(self) -> str:
        with self._rng_lock:
            self._request_seq += 1
            n = self._request_seq
        return f"req_{n:06d}{self.account.ids.tag[:8]}"

    def _answer(self, method: str, path: str, query: str, headers: Mapping[str, str],
                params: dict[str, Any]) -> Response:
        if method != "GET":
            raise StripeError(405, "invalid_request_error",
                              f"The sandbox is read-only: {method} {path} is not allowed.",
                              headers=[("Allow", "GET")])
        if self.latency > 0:
            time.sleep(self.latency)
        bucket = self._bucket
        if bucket is not None and not bucket.take():
            raise StripeError(
                429, "rate_limit_error",
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit", headers=[("Stripe-Rate-Limited-Reason", "global-rate")])
        if self.endpoint_rate_limit and not self._endpoint_bucket(path).take():
            raise StripeError(
                429, "rate_limit_error",
                "Request rate limit exceeded for this endpoint. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit", headers=[("Stripe-Rate-Limited-Reason", "endpoint-rate")])
        key = self._authenticate(headers)
        store = self._account_store(headers.get("stripe-account"), key)
        fault = self._pick_fault()
        params.update(parse_params(query))
        resp = self._route(store, path, params, key)
        return self._apply_fault(fault, resp) if fault else resp

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("authorization") or ""
        key = ""
        if auth.startswith("Bearer "):
            key = auth[7:].strip()
        elif auth.startswith("Basic "):  # Stripe also takes the key as a Basic username
            try:
                key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(
                401, "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
                "details, or we can help at https://support.stripe.com/.",
                headers=[("WWW-Authenticate", 'Basic realm="Stripe"')])
        if key != self.api_key:
            raise StripeError(401, "invalid_request_error",
                              f"Invalid API Key provided: {mask_key(key)}",
                              headers=[("WWW-Authenticate", 'Basic realm="Stripe"')])
        return key

    def _account_store(self, on_behalf: str | None, key: str) -> _Store:
        if not on_behalf or on_behalf == self.account.account["id"]:
            return self._store
        store = self._connected.get(on_behalf)
        if store is None:
            raise StripeError(
                403, "invalid_request_error",
                f"The provided key '{mask_key(key)}' does not have access to account "
                f"'{on_behalf}' (or that account does not exist). Application access may "
                "have been revoked.", code="account_invalid")
        return store

    def _deny(self, resource: str, key: str, store: _Store) -> None:
        if resource in self.restricted_denied:
            perm = RAK_PERMISSIONS.get(resource, f"rak_{resource}_read")
            raise StripeError(
                403, "permission_error",
                f"The provided key '{mask_key(key)}' does not have the required permissions "
                f"for this endpoint on account '{store.account.account['id']}'. Having the "
                f"'{perm}' permission would allow this request to continue.")

    # -- faults -------------------------------------------------------------------------------

    def _pick_fault(self) -> str | None:
        if self.fail_rate <= 0 or not self.fault_kinds:
            return None
        with self._rng_lock:
            if self._rng.random() >= self.fail_rate:
                return None
            return self._rng.choice(self.fault_kinds)

    def _apply_fault(self, fault: str, resp: Response) -> Response:
        if fault == "reset":
            return RESET
        if fault == "truncated":
            body = resp.body[: max(1, len(resp.body) // 2)]
            return Response(200, body, [], fault)
        if fault == "429" or fault.startswith("429-"):
            return self._rate_limited(fault)
        if fault == "timeout":
            # The real answer, but the handler sits on it first (see _Handler._serve).
            return Response(resp.status, resp.body, resp.headers, fault)
        if fault == "malformed-html":
            page = (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>"
                    b"502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n")
            return Response(200, page, [], fault, content_type="text/html")
        if fault == "malformed-shape":
            return Response(200, _misshapen(resp.body), [], fault)
        status = int(fault)
        message = {500: "An unknown error occurred", 502: "Bad gateway",
                   503: "Service temporarily unavailable"}[status]
        err = StripeError(status, "api_error", message)
        return Response(status, err.body(), [], fault)

    def _rate_limited(self, fault: str) -> Response:
        reason = fault.removeprefix("429-") if fault != "429" else None
        headers = [("Retry-After", str(self.retry_after))] if self.retry_after is not None else []
        if reason is not None:
            headers.append(("Stripe-Rate-Limited-Reason", reason))
        err = StripeError(429, "rate_limit_error",
                          "Request rate limit exceeded. Learn more about rate limits here "
                          "https://stripe.com/docs/rate-limits.", code="rate_limit", headers=headers)
        return Response(429, err.body(), err.headers, fault)

    # -- routing --------------------------------------------------------------------------------

    def _build_routes(self) -> dict[str, Resource]:
        return {r.path: r for r in RESOURCES}

    def _route(self, store: _Store, path: str, params: dict[str, Any], key: str) -> Response:
        segments = path.rstrip("/").split("/")
        if len(segments) < 3 or segments[1] != "v1":
            raise self._unknown_url(path)
        base = "/".join(segments[:3])
        rest = segments[3:]
        if base == "/v1/account" and not rest:
            self._deny("account", key, store)
            self._only(params, set())
            return self._json(store.account.account)
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
                raise _missing("balance_transaction", rest[0])
            return self._json(txn)
        if base == "/v1/test_helpers" and rest and rest[0] == "test_clocks" and len(rest) <= 2:
            self._deny("test_clocks", key, store)
            self._test_mode_only(key, "Test clocks")
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
            raise self._unknown_url(path)
        self._deny(resource.name, key, store)
        if not rest:
            return self._list(store, resource.name, resource.path, params,
                              windowed=resource.windowed)
        if len(rest) == 1:
            return self._retrieve(store, resource.name, resource.object, rest[0], params)
        child = _child_at(resource, rest)
        if child is not None:
            return self._child_lines(store, resource, child, rest[0], params)
        raise self._unknown_url(path)

    @staticmethod
    def _test_mode_only(key: str, what: str) -> None:
        # Test helpers exist in test mode only; a live key is refused.
        if re.match(r"(?:sk|rk)_live_", key):
            raise _invalid(f"{what} are only available in test mode: use a test mode API key.")

    @staticmethod
    def _unknown_url(path: str) -> StripeError:
        return _invalid(f"Unrecognized request URL (GET: {path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                        status=404)

    @staticmethod
    def _json(obj: JSON) -> Response:
        return Response(200, json.dumps(obj, separators=(",", ":")).encode())

    @staticmethod
    def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
        for name in params:
            if name not in allowed:
                raise _invalid(f"Received unknown parameter: {name}", param=name,
                               code="parameter_unknown")

    @staticmethod
    def _expand(params: Mapping[str, Any], name: str, *, listed: bool) -> Plan:
        """The request's ``expand[]`` on objects of ``name`` (each entry, on a list)."""
        if "expand" not in params:
            return NO_PLAN
        try:
            return plan_for(OBJECT_OF[name], _list_param(params["expand"], "expand"),
                            listed=listed)
        except ExpandError as err:
            raise _invalid(err.message, param=err.param, code=err.code) from None

    @staticmethod
    def _limit(params: Mapping[str, Any]) -> int:
        if "limit" not in params:
            return 10
        limit = _int_param(params["limit"], "limit")
        if limit < 1:
            raise _invalid("This value must be greater than or equal to 1.", param="limit")
        if limit > MAX_LIMIT:
            raise _invalid(f"This value must be less than or equal to {MAX_LIMIT}.",
                           param="limit")
        return limit

    @staticmethod
    def _cursor(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
        after, before = params.get("starting_after"), params.get("ending_before")
        if after is not None and before is not None:
            raise _invalid("You may only specify one of these parameters: ending_before, "
                           "starting_after.", param="ending_before")
        return (None if after is None else _str_param(after, "starting_after"),
                None if before is None else _str_param(before, "ending_before"))

    def _list(self, store: _Store, name: str, url: str, params: Mapping[str, Any], *,
              windowed: bool) -> Response:
        filters = FILTERS.get(name, {})
        allowed = {"limit", "starting_after", "ending_before", "expand", *filters}
        if windowed:
            allowed.add("created")
        self._only(params, allowed)
        limit = self._limit(params)
        after, before = self._cursor(params)
        plan = self._expand(params, name, listed=True)
        preds = [build(params[p], p) for p, build in filters.items() if p in params]
        preds += _hidden_by_default(name, params)
        idx = store.index(name)
        lo, hi = 0, len(idx.objs)
        if "created" in params:
            c_lo, c_hi = created_range(params["created"])
            if c_hi is not None:
                lo = bisect_left(idx.neg_created, -c_hi)
            if c_lo is not None:
                hi = bisect_right(idx.neg_created, -c_lo)

        def keep(i: int) -> bool:
            obj = idx.objs[i]
            return obj["id"] not in idx.deleted and all(p(obj) for p in preds)

        object_name = OBJECT_OF[name]
        found: list[int] = []
        if before is not None:
            end = idx.pos.get(before)
            if end is None:
                raise _missing(object_name, before, param="ending_before", status=400)
            i = min(end, hi) - 1
            while i >= lo and len(found) <= limit:
                if keep(i):
                    found.append(i)
                i -= 1
            has_more = len(found) > limit
            found = sorted(found[:limit])
        else:
            start = lo
            if after is not None:
                pos = idx.pos.get(after)
                if pos is None:
                    raise _missing(object_name, after, param="starting_after", status=400)
                start = max(lo, pos + 1)
            i = start
            while i < hi and len(found) <= limit:
                if keep(i):
                    found.append(i)
                i += 1
            has_more = len(found) > limit
            found = found[:limit]
        parts = [store.serialized(name, idx.objs[i], plan) for i in found]
        return self._list_response(parts, has_more, url)

    @staticmethod
    def _list_response(parts: list[bytes], has_more: bool, url: str) -> Response:
        body = b"".join((
            b'{"object":"list","data":[', b",".join(parts), b'],"has_more":',
            b"true" if has_more else b"false", b',"url":', json.dumps(url).encode(), b"}",
        ))
        return Response(200, body)

    def _retrieve(self, store: _Store, name: str, object_name: str, obj_id: str,
                  params: Mapping[str, Any]) -> Response:
        self._only(params, {"expand"})
        plan = self._expand(params, name, listed=False)
        idx = store.index(name)
        pos = idx.pos.get(obj_id)
        if pos is None or (obj_id in idx.deleted and name in FORGOTTEN_WHEN_DELETED):
            raise _missing(object_name, obj_id)
        if obj_id in idx.deleted:
            return self._json({"id": obj_id, "object": object_name, "deleted": True})
        return Response(200, store.serialized(name, idx.objs[pos], plan))

    def _page(self, store: _Store, entries: list[JSON], params: Mapping[str, Any], url: str,
              object_name: str, name: str) -> Response:
        """Page an in-order child list (invoice lines, items, credit note lines)."""
        limit = self._limit(params)
        after, before = self._cursor(params)
        plan = self._expand(params, name, listed=True)
        ids = [e["id"] for e in entries]
        if before is not None:
            if before not in ids:
                raise _missing(object_name, before, param="ending_before", status=400)
            end = ids.index(before)
            chunk, has_more = entries[max(0, end - limit):end], end - limit > 0
        else:
            start = 0
            if after is not None:
                if after not in ids:
                    raise _missing(object_name, after, param="starting_after", status=400)
                start = ids.index(after) + 1
            chunk, has_more = entries[start:start + limit], start + limit < len(entries)
        parts = [json.dumps(store.render_child(e, plan), separators=(",", ":")).encode()
                 for e in chunk]
        return self._list_response(parts, has_more, url)

    def _child_lines(self, store: _Store, resource: Resource, child: Child, parent_id: str,
                     params: Mapping[str, Any]) -> Response:
        self._only(params, {"limit", "starting_after", "ending_before", "expand"})
        idx = store.index(resource.name)
        pos = idx.pos.get(parent_id)
        if pos is None or parent_id in idx.deleted:
            raise _missing(resource.object, parent_id)
        parent = idx.objs[pos]
        return self._page(store, parent[child.field]["data"], params, child.path.format(id=parent_id),
                          child.object, child.table)

    def _subscription_items(self, store: _Store, params: Mapping[str, Any]) -> Response:
        self._only(params, {"subscription", "limit", "starting_after", "ending_before",
                            "expand"})
        if "subscription" not in params:
            raise _invalid("Missing required param: subscription.", param="subscription",
                           code="parameter_missing")
        sub_id = _str_param(params["subscription"], "subscription")
        idx = store.index("subscriptions")
        pos = idx.pos.get(sub_id)
        if pos is None or sub_id in idx.deleted:
            raise _missing("subscription", sub_id, param="subscription", status=400)
        return self._page(store, idx.objs[pos]["items"]["data"], params, "/v1/subscription_items",
                          "subscription_item", "subscription_items")

    def _subscription_item(self, store: _Store, item_id: str,
                           params: Mapping[str, Any]) -> Response:
        self._only(params, {"expand"})
        plan = self._expand(params, "subscription_items", listed=False)
        item = store.subscription_item(item_id)
        if item is None:
            raise _missing("subscription_item", item_id)
        return self._json(store.render_child(item, plan))


def _child_at(resource: Resource, rest: list[str]) -> Child | None:
    """The child list a path under one of ``resource``'s objects names (``in_…/lines``)."""
    if len(rest) != 2:
        return None
    return next((c for c in resource.children if c.path == f"{resource.path}/{{id}}/{rest[1]}"), None)


def _misshapen(body: bytes) -> bytes:
    """Valid JSON that is not the answer: the envelope without ``object`` and ``data``."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return b"[]"
    kept = {k: v for k, v in parsed.items() if k not in ("object", "data")}
    return json.dumps(kept or {"ok": True}, separators=(",", ":")).encode()


# ---- HTTP plumbing ----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    fake: FakeStripe

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the kill -9 tests) or gone after a timeout is no news.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-fake"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are dropped after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.fake._conns_lock:
            self.server.fake._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.fake._conns_lock:
                self.server.fake._conns.discard(self.connection)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)  # keep the connection usable after a refused POST
        resp = self.server.fake.handle(self.command, self.path, dict(self.headers.items()))
        if resp.fault == "reset":
            self._reset()
            return
        if resp.fault == "timeout":
            if self.server.fake._stopping.wait(self.server.fake.timeout_hold):
                self._reset()  # the server is stopping: nobody waits for this answer any more
                return
            try:
                self._send(resp)
            except OSError:  # the client gave up waiting and closed: what a timeout is
                self.close_connection = True
            return
        self._send(resp)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in resp.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send a RST instead of a FIN: a "connection reset".
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
