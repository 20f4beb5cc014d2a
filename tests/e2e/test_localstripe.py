"""``nrr sync`` against a Stripe-compatible server we did not write: localstripe.

localstripe speaks an older API shape, has no ``created`` filters on most lists, no
``expand`` of discounts and no prices, credit notes, disputes or invoice payments. The
sync must still store every object it serves, and a second sync must be nearly free.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("localstripe")

KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
CUSTOMERS = 45


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/v1/customers", auth=(KEY, ""), timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.2)
        _fill(base)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _fill(base: str) -> None:
    with httpx.Client(base_url=base, auth=(KEY, ""), timeout=10) as c:

        def post(path: str, **data: str) -> dict:
            r = c.post(path, data=data)
            r.raise_for_status()
            return r.json()

        product = post("/v1/products", name="Pro")
        for plan, amount, interval in (("basic", "1000", "month"), ("pro", "5000", "month"), ("annual", "50000", "year")):
            post("/v1/plans", id=plan, amount=amount, currency="usd", interval=interval, product=product["id"])
        post("/v1/coupons", id="off20", percent_off="20", duration="forever")
        for i in range(CUSTOMERS):
            tok = post("/v1/tokens", **{"card[number]": "4242424242424242", "card[exp_month]": "12",
                                        "card[exp_year]": "2030", "card[cvc]": "123"})
            cus = post("/v1/customers", email=f"c{i}@example.com", source=tok["id"])
            if i % 3 != 2:
                post("/v1/subscriptions", customer=cus["id"], **{"items[0][plan]": ("basic", "pro", "annual")[i % 3]})
            if i % 5 == 0:
                post("/v1/invoiceitems", customer=cus["id"], amount="1500", currency="usd", description="setup")


def _server_count(base: str, path: str, **params: str) -> int:
    n, after = 0, None
    with httpx.Client(base_url=base, auth=(KEY, "")) as c:
        while True:
            q = {"limit": "100", **params, **({"starting_after": after} if after else {})}
            body = c.get(path, params=q).json()
            n += len(body["data"])
            if not body["has_more"]:
                return n
            after = body["data"][-1]["id"]


def _nrr(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncer.app.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
        check=False,
    )


def test_sync_stores_everything_and_resyncs_for_a_few_requests(localstripe: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "STRIPE_API_KEY": KEY,
        "STRIPE_API_BASE": localstripe,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'nrr.db'}",
        "LOG_FORMAT": "json",
    }
    first = _nrr(["sync"], env, tmp_path)
    assert first.returncode == 0, first.stderr

    status = json.loads(_nrr(["status", "--format", "json"], env, tmp_path).stdout)
    counts = {k: v["count"] for k, v in status["resources"].items()}
    assert counts["customers"] == _server_count(localstripe, "/v1/customers") == CUSTOMERS
    assert counts["subscriptions"] == _server_count(localstripe, "/v1/subscriptions", status="all") > 0
    assert counts["invoices"] == _server_count(localstripe, "/v1/invoices") > 0
    assert counts["invoice_items"] == _server_count(localstripe, "/v1/invoiceitems") > 0
    assert counts["charges"] == _server_count(localstripe, "/v1/charges") > 0
    assert counts["invoice_lines"] >= counts["invoices"]
    assert counts["subscription_items"] == counts["subscriptions"]
    assert first.stderr.count("sync.unsupported") >= 1  # prices, credit notes, ... : said, not fatal

    second = _nrr(["sync"], env, tmp_path)
    assert second.returncode == 0, second.stderr
    runs = json.loads(_nrr(["status", "--format", "json"], env, tmp_path).stdout)["runs"]
    assert runs[0]["status"] == "success"
    # Only the events since the cursor (plus its one-minute overlap) are read again.
    assert runs[0]["requests"] <= 3 + CUSTOMERS * 4 // 100
