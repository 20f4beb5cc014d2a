"""The project's fake Stripe (``syncer.sandbox``) with a server-side request counter.

Same account generator, latency, token-bucket rate limit and prewarm as ``python -m
syncer.sandbox`` (and ``bench/run.py``). Two additions for the comparison:

* ``--stats FILE``: on SIGTERM/SIGINT, write a JSON summary of every request served
  (total, by status, by endpoint, first/last request time) so each tool's request count
  is measured by the server, not by the client.
* ``--lenient``: unknown list parameters and unknown ``expand[]`` paths are ignored
  instead of answered 400. The fake is stricter than Stripe about parameters Stripe
  accepts but the fake does not model (e.g. ``expand[]=data.discount`` on old API
  versions); third-party tools send those, and we do not change their request logic.
  Ignoring a param never filters data out, so each tool still receives every object.

Run from the repo root: ``.venv/bin/python bench/compare/fake_server.py --port 12111 ...``
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncer.sandbox.expansion import ExpandError, Plan, plan_for
from syncer.sandbox.fake_stripe import OBJECT_OF, FakeStripe, Response, list_param
from syncer.sandbox.generator import generate_account
from syncer.sandbox.pages import minimal_pages


class CountingFake(FakeStripe):
    """FakeStripe that times every request and may ignore unmodelled params."""

    lenient = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.first: float | None = None
        self.last: float | None = None
        self.in_flight = 0
        self.max_in_flight = 0

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        with self.lock:
            now = time.time()
            self.first = self.first if self.first is not None else now
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            resp = super().handle(method, target, headers)
        finally:
            with self.lock:
                self.in_flight -= 1
        # Ids in paths (/v1/invoices/in_123/lines) collapse to {id} so endpoints group.
        parts = target.split("?", 1)[0].split("/")
        endpoint = "/".join(parts[:3] + ["{id}"] + parts[4:]) if len(parts) > 3 else "/".join(parts)
        with self.lock:
            self.last = time.time()
            self.by_endpoint[f"{method} {endpoint}"] += 1
            self.by_status[resp.status] += 1
        return resp

    def _route(self, store: Any, path: str, params: dict[str, Any], key: str) -> Response:
        # tap-stripe checks its connection with GET /v1/accounts/{id} (the fake only has
        # /v1/account); answer it with the same account object.
        if self.lenient and path.startswith("/v1/accounts/"):
            return super()._route(store, "/v1/account", params, key)
        return super()._route(store, path, params, key)

    def _only(self, params: Mapping[str, Any], allowed: set[str]) -> None:  # type: ignore[override]
        if not self.lenient:
            FakeStripe._only(params, allowed)

    def _expand(self, params: Mapping[str, Any], name: str, *, listed: bool) -> Plan:  # type: ignore[override]
        if not self.lenient or "expand" not in params:
            return FakeStripe._expand(params, name, listed=listed)
        return plan_for(OBJECT_OF[name], [p for p in list_param(params["expand"], "expand")
                                          if _accepted(OBJECT_OF[name], p, listed)], listed=listed)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": sum(self.by_status.values()),
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "rate_limited_429": self.by_status.get(429, 0),
                "by_endpoint": dict(self.by_endpoint.most_common()),
                "first_request_at": self.first,
                "last_request_at": self.last,
                "max_in_flight": self.max_in_flight,
            }


def _accepted(object_name: str, path: str, listed: bool) -> bool:
    try:
        plan_for(object_name, [path], listed=listed)
    except ExpandError:
        return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--now", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--latency", type=float, default=0.15)
    p.add_argument("--rate-limit", type=float, default=100.0)
    p.add_argument("--lenient", action="store_true")
    p.add_argument("--stats", type=Path, required=True)
    args = p.parse_args()
    account = generate_account(customers=args.customers, seed=args.seed, now=args.now,
                               months=args.months, livemode=True)
    CountingFake.lenient = args.lenient
    fake = CountingFake(account, api_key=args.api_key, latency=args.latency,
                        rate_limit=args.rate_limit, prewarm=True)
    fake.warm()

    def stop(*_: object) -> None:
        args.stats.write_text(json.dumps(fake.stats(), indent=2) + "\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"counts": account.counts(), "minimal_pages": minimal_pages(account),
                      "account_id": account.account["id"],
                      "account_created": account.account["created"]}), flush=True)
    fake.serve_forever("127.0.0.1", args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
