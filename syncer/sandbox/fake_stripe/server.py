"""The fake server: its options, lifecycle, request log, faults, rate limits and edits."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

from syncer.sandbox import generator
from syncer.sandbox.expansion import plan_for
from syncer.sandbox.fake_stripe.api import ReadApi
from syncer.sandbox.fake_stripe.auth import DEFAULT_API_KEY, authenticate, mask_key
from syncer.sandbox.fake_stripe.faults import ALL_FAULT_KINDS, FAULT_KINDS, apply_fault
from syncer.sandbox.fake_stripe.http_server import Handler, Server
from syncer.sandbox.fake_stripe.params import parse_params
from syncer.sandbox.fake_stripe.rate_limit import TokenBucket
from syncer.sandbox.fake_stripe.request_log import RequestLog, RequestRecord
from syncer.sandbox.fake_stripe.responses import RESET, Response, StripeError
from syncer.sandbox.fake_stripe.store import Store
from syncer.sandbox.fake_stripe.tables import OBJECT_OF
from syncer.sandbox.generator import JSON, Account
from syncer.stripe.resources import BY_NAME, EVENTS, RESOURCES, endpoint_of


class FakeStripe(ReadApi):
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
        super().__init__(restricted_denied=restricted_denied)
        self.api_key = api_key
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
        self._store = Store(account, cache_limit)
        self._connected = {acct_id: Store(a, cache_limit)
                           for acct_id, a in (connected or {}).items()}
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._bucket: TokenBucket | None = None
        self.rate_limit = rate_limit
        # Stripe's per-endpoint limit (25/s unless documented otherwise), one bucket per operation.
        self.endpoint_rate_limit = endpoint_rate_limit
        self._endpoint_buckets: dict[str, TokenBucket] = {}
        self._endpoint_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._request_seq = 0

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def rate_limit(self) -> float | None:
        return self._bucket.rate if self._bucket else None

    @rate_limit.setter
    def rate_limit(self, value: float | None) -> None:
        self._bucket = TokenBucket(value) if value else None

    def _endpoint_bucket(self, path: str) -> TokenBucket:
        endpoint = endpoint_of(path)  # the same operation the client budgets for
        with self._endpoint_lock:
            bucket = self._endpoint_buckets.get(endpoint)
            if bucket is None:
                assert self.endpoint_rate_limit
                bucket = self._endpoint_buckets[endpoint] = TokenBucket(self.endpoint_rate_limit)
            return bucket

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Stripe server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _bind(self, host: str, port: int) -> ThreadingHTTPServer:
        server = Server((host, port), Handler)
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
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
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
        key = authenticate(headers, self.api_key)
        store = self._account_store(headers.get("stripe-account"), key)
        fault = self._pick_fault()
        params.update(parse_params(query))
        resp = self._route(store, path, params, key)
        return apply_fault(fault, resp, retry_after=self.retry_after) if fault else resp

    def _account_store(self, on_behalf: str | None, key: str) -> Store:
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

    # -- faults -------------------------------------------------------------------------------

    def _pick_fault(self) -> str | None:
        if self.fail_rate <= 0 or not self.fault_kinds:
            return None
        with self._rng_lock:
            if self._rng.random() >= self.fail_rate:
                return None
            return self._rng.choice(self.fault_kinds)
