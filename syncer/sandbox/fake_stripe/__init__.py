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

Modules, one idea each: ``server`` (``FakeStripe``: options, lifecycle, request log,
faults and rate limits applied, edits), ``api`` (routing and answering a GET),
``listing`` (pages and cursors), ``filters``, ``params``, ``store`` (indexes and the
cache of serialised objects), ``tables`` (what the fake knows of each resource),
``responses`` (Stripe's error envelope), ``auth``, ``faults``, ``rate_limit``,
``request_log``, ``http_server``.
"""

from __future__ import annotations

from syncer.sandbox.fake_stripe.api import ReadApi
from syncer.sandbox.fake_stripe.auth import DEFAULT_API_KEY, mask_key
from syncer.sandbox.fake_stripe.faults import (
    ALL_FAULT_KINDS,
    EXTRA_FAULT_KINDS,
    FAULT_KINDS,
    RATE_LIMITED_REASONS,
)
from syncer.sandbox.fake_stripe.filters import (
    FILTERS,
    INVOICE_STATUSES,
    SUBSCRIPTION_STATUSES,
    Predicate,
)
from syncer.sandbox.fake_stripe.listing import MAX_LIMIT
from syncer.sandbox.fake_stripe.params import created_range, list_param, parse_params
from syncer.sandbox.fake_stripe.request_log import RequestLog, RequestRecord
from syncer.sandbox.fake_stripe.responses import RESET, Response, StripeError
from syncer.sandbox.fake_stripe.server import FakeStripe
from syncer.sandbox.fake_stripe.tables import (
    CHILD_FIELD,
    FORGOTTEN_WHEN_DELETED,
    OBJECT_OF,
    RAK_PERMISSIONS,
)

__all__ = [
    "ALL_FAULT_KINDS",
    "CHILD_FIELD",
    "DEFAULT_API_KEY",
    "EXTRA_FAULT_KINDS",
    "FAULT_KINDS",
    "FILTERS",
    "FORGOTTEN_WHEN_DELETED",
    "INVOICE_STATUSES",
    "MAX_LIMIT",
    "OBJECT_OF",
    "RAK_PERMISSIONS",
    "RATE_LIMITED_REASONS",
    "RESET",
    "SUBSCRIPTION_STATUSES",
    "FakeStripe",
    "Predicate",
    "ReadApi",
    "RequestLog",
    "RequestRecord",
    "Response",
    "StripeError",
    "created_range",
    "list_param",
    "mask_key",
    "parse_params",
]
