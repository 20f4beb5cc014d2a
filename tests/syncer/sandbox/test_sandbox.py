"""The synthetic account generator and the fake Stripe server (syncer.sandbox)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest

from syncer.sandbox.fake_stripe import (
    DEFAULT_API_KEY,
    FakeStripe,
    mask_key,
    parse_params,
)
from syncer.sandbox.generator import (
    DAY,
    EVENT_RETENTION,
    RESOURCE_NAMES,
    Account,
    generate_account,
    item_mrr,
    monthly,
    price_amount,
    subscription_mrr,
    truth_mrr,
)
from syncer.stripe.resources import BY_NAME, RESOURCES
from tests.syncer.sandbox.fake_api import AUTH, ok, walk

NOW = 1_784_000_000  # 2026-07-14T03:33:20Z


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(customers=80, seed=3, now=NOW, months=24)


def _all_ids(acct: Account) -> list[str]:
    ids = [o["id"] for name in RESOURCE_NAMES for o in acct.objects(name)]
    ids += [e["id"] for e in acct.events]
    ids += list(acct.discounts) + list(acct.balance_transactions)
    ids += [ln["id"] for inv in acct.invoices for ln in inv["lines"]["data"]]
    ids += [ln["id"] for cn in acct.credit_notes for ln in cn["lines"]["data"]]
    ids += [it["id"] for s in acct.subscriptions for it in s["items"]["data"]]
    ids += [c for c in acct.deleted.get("customers", {})]
    return ids


# ---- generator ----------------------------------------------------------------------


def test_same_seed_same_account_and_other_seed_differs() -> None:
    a = generate_account(customers=40, seed=9, now=NOW, months=12)
    b = generate_account(customers=40, seed=9, now=NOW, months=12)
    c = generate_account(customers=40, seed=10, now=NOW, months=12)
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()


def test_ids_are_unique_and_prefixed(account: Account) -> None:
    ids = _all_ids(account)
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes
    prefixes = {
        "customers": "cus_", "products": "prod_", "prices": "price_",
        "promotion_codes": "promo_", "subscriptions": "sub_", "invoices": "in_",
        "invoice_items": "ii_", "invoice_payments": "inpay_", "charges": "ch_",
        "refunds": "re_", "credit_notes": "cn_", "disputes": "dp_",
    }
    for name, prefix in prefixes.items():
        objs = account.objects(name)
        assert objs, name
        assert all(o["id"].startswith(prefix) for o in objs), name
        assert all(o["object"] == BY_NAME[name].object for o in objs), name
    assert all(e["id"].startswith("evt_") for e in account.events)
    assert all(d.startswith("di_") for d in account.discounts)
    assert all(t.startswith("txn_") for t in account.balance_transactions)
    assert account.account["id"].startswith("acct_")


def test_objects_have_the_current_api_shape(account: Account) -> None:
    for inv in account.invoices:
        assert "subscription" not in inv
        for line in inv["lines"]["data"]:
            assert line["pricing"]["price_details"]["price"].startswith("price_")
            kind = line["parent"]["type"]
            assert kind in ("subscription_item_details", "invoice_item_details")
            assert line["parent"][kind] is not None
            # a line keeps a top-level ``subscription`` (an invoice does not)
            assert line["subscription"] == line["parent"][kind]["subscription"]
    sub_invoices = [i for i in account.invoices if i["parent"]]
    assert sub_invoices
    assert all(
        i["parent"]["subscription_details"]["subscription"].startswith("sub_")
        for i in sub_invoices
    )
    prorations = [
        ln for i in account.invoices for ln in i["lines"]["data"]
        if (ln["parent"]["subscription_item_details"] or {}).get("proration")
    ]
    assert prorations
    assert all(ln["parent"]["subscription_item_details"]["invoice_item"] for ln in prorations)
    for sub in account.subscriptions:
        for key in ("cancellation_details", "cancel_at_period_end", "canceled_at", "ended_at",
                    "pause_collection", "discounts"):
            assert key in sub
        for item in sub["items"]["data"]:
            assert item["current_period_start"] < item["current_period_end"]
    assert all("invoice" not in ch for ch in account.charges)
    assert all(d["source"]["coupon"] for d in account.discounts.values())
    assert any(s["cancellation_details"]["reason"] == "payment_failed"
               for s in account.subscriptions)
    assert any(s["pause_collection"] for s in account.subscriptions) or any(
        i["status"] == "void" for i in account.invoices)
    assert {"active", "canceled", "past_due", "incomplete_expired"} <= {
        s["status"] for s in account.subscriptions}


def test_invoice_amounts_add_up(account: Account) -> None:
    for inv in account.invoices:
        lines = inv["lines"]["data"]
        subtotal = sum(ln["amount"] for ln in lines)
        discount = sum(d["amount"] for ln in lines for d in ln["discount_amounts"])
        tax = sum(t["amount"] for ln in lines for t in ln["taxes"])
        assert inv["subtotal"] == subtotal
        assert inv["total_excluding_tax"] == subtotal - discount
        assert inv["total"] == subtotal - discount + tax
        if inv["status"] == "paid":
            assert inv["amount_paid"] == inv["amount_due"]


def test_invoice_payments_link_invoices_to_charges(account: Account) -> None:
    charges_by_pi: dict[str, list[dict[str, Any]]] = {}
    for ch in account.charges:
        charges_by_pi.setdefault(ch["payment_intent"], []).append(ch)
    invoices = {i["id"] for i in account.invoices}
    linked = set()
    for pay in account.invoice_payments:
        assert pay["invoice"] in invoices
        pi = pay["payment"]["payment_intent"]
        linked.add(pi)
        if pay["status"] == "paid":
            assert any(c["status"] == "succeeded" and c["amount"] == pay["amount_paid"]
                       for c in charges_by_pi[pi])
    standalone = [ch for ch in account.charges if ch["payment_intent"] not in linked]
    assert standalone  # charges that belong to no invoice


def test_balance_transactions_carry_exchange_rates_for_foreign_currency(
    account: Account,
) -> None:
    seen = set()
    for ch in account.charges:
        if ch["status"] != "succeeded":
            assert ch["balance_transaction"] is None
            continue
        txn = account.balance_transactions[ch["balance_transaction"]]
        assert txn["source"] == ch["id"] and txn["currency"] == account.currency
        foreign = ch["currency"] != account.currency
        seen.add(foreign)
        assert (txn["exchange_rate"] is not None) == foreign
    assert seen == {True, False}


def test_long_invoices_and_subscriptions_exist(account: Account) -> None:
    assert any(len(i["lines"]["data"]) > 10 for i in account.invoices)
    assert any(len(s["items"]["data"]) > 10 for s in account.subscriptions)
    assert any(len(c["lines"]["data"]) > 10 for c in account.credit_notes)


def test_events_cover_only_the_last_30_days(account: Account) -> None:
    assert account.events
    assert all(NOW - EVENT_RETENTION <= e["created"] <= NOW for e in account.events)
    assert all(e["api_version"] == account.api_version for e in account.events)
    types = {e["type"] for e in account.events}
    assert {"customer.created", "customer.subscription.created", "invoice.paid",
            "charge.succeeded", "customer.subscription.updated"} <= types
    assert all(e["data"]["object"]["id"] for e in account.events)
    assert max(o["created"] for o in account.invoices) <= NOW


def test_prices_and_mrr_normalisation() -> None:
    graduated = {"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": [
        {"up_to": 5, "unit_amount": 1000, "flat_amount": 2000},
        {"up_to": 20, "unit_amount": 800, "flat_amount": 0},
        {"up_to": None, "unit_amount": 500, "flat_amount": 0}]}
    assert price_amount(graduated, 3) == 2000 + 3000
    assert price_amount(graduated, 25) == 2000 + 5000 + 15 * 800 + 5 * 500
    volume = {"billing_scheme": "tiered", "tiers_mode": "volume", "tiers": [
        {"up_to": 10, "unit_amount": 1200, "flat_amount": None},
        {"up_to": None, "unit_amount": 1000, "flat_amount": None}]}
    assert price_amount(volume, 12) == 12000
    assert monthly(99000, "year", 1) == 8250
    assert monthly(27000, "month", 3) == 9000
    annual = {"billing_scheme": "per_unit", "unit_amount": 18000,
              "recurring": {"interval": "year", "interval_count": 1, "usage_type": "licensed"}}
    assert item_mrr(annual, 4, 15.0) == 6000 - 900
    metered = dict(annual, recurring={"interval": "month", "interval_count": 1,
                                      "usage_type": "metered"})
    assert item_mrr(metered, 100) == 0


def test_truth_agrees_with_the_final_objects(account: Account) -> None:
    """The timeline replayed at ``now`` gives each customer the MRR its objects imply."""
    subs: dict[str, list[dict[str, Any]]] = {}
    for s in account.subscriptions:
        subs.setdefault(s["customer"], []).append(s)
    checked = 0
    for cus in account.customers:
        mine = subs.get(cus["id"], [])
        if any(s["pause_collection"] for s in mine):
            continue  # paused MRR ends at the next renewal, which the object cannot tell
        expected = sum(max(0, sum(subscription_mrr(account, s, NOW).values())) for s in mine)
        assert truth_mrr(account, cus["id"], NOW) == expected, cus["id"]
        checked += expected > 0
    assert checked > 30


# ---- server: reads ------------------------------------------------------------------


def test_lists_paginate_forwards_exactly_once_in_stripe_order(
    client: httpx.Client, account: Account
) -> None:
    got = walk(client, "/v1/invoices", limit=7)
    assert [o["id"] for o in got] == [
        o["id"] for o in sorted(account.invoices, key=lambda o: (o["created"], o["id"]),
                                reverse=True)]
    customers = walk(client, "/v1/customers", limit=100)
    # Stripe lists a customer on a test clock only when asked for that clock.
    assert {c["id"] for c in customers} == {c["id"] for c in account.customers
                                            if c["test_clock"] is None}


def test_lists_paginate_backwards_with_ending_before(
    client: httpx.Client, account: Account
) -> None:
    last = ok(client.get("/v1/charges", params={"limit": 100}))
    cursor = None
    while True:  # find the oldest charge
        page = ok(client.get("/v1/charges", params={"limit": 100, **(
            {"starting_after": cursor} if cursor else {})}))
        if not page["has_more"]:
            oldest = page["data"][-1]["id"]
            break
        cursor = page["data"][-1]["id"]
    seen = [oldest]
    cursor = oldest
    while True:
        page = ok(client.get("/v1/charges", params={"limit": 9, "ending_before": cursor}))
        seen = [o["id"] for o in page["data"]] + seen
        if not page["has_more"]:
            break
        cursor = page["data"][0]["id"]
    assert seen[0] == last["data"][0]["id"]
    assert sorted(seen) == sorted(c["id"] for c in account.charges)
    assert len(seen) == len(set(seen))


def test_created_filters(client: httpx.Client, account: Account) -> None:
    mid = NOW - 200 * DAY
    older = walk(client, "/v1/invoices", limit=100, **{"created[lt]": mid})
    newer = walk(client, "/v1/invoices", limit=100, **{"created[gte]": mid})
    assert all(o["created"] < mid for o in older)
    assert all(o["created"] >= mid for o in newer)
    assert len(older) + len(newer) == len(account.invoices)
    one = account.invoices[5]
    exact = ok(client.get("/v1/invoices", params={"created": one["created"], "limit": 100}))
    assert one["id"] in {o["id"] for o in exact["data"]}
    assert all(o["created"] == one["created"] for o in exact["data"])
    window = walk(client, "/v1/charges", limit=100,
                   **{"created[gt]": mid, "created[lte]": mid + 30 * DAY})
    assert all(mid < o["created"] <= mid + 30 * DAY for o in window)
    notes = walk(client, "/v1/credit_notes", limit=100, **{"created[gte]": mid})
    assert all(o["created"] >= mid for o in notes)
    # an unknown parameter is rejected like Stripe does
    resp = client.get("/v1/credit_notes", params={"created_after": mid})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "parameter_unknown"


def test_subscriptions_hide_ended_unless_status_all(
    client: httpx.Client, account: Account
) -> None:
    default = walk(client, "/v1/subscriptions", limit=100)
    every = walk(client, "/v1/subscriptions", limit=100, status="all")
    canceled = walk(client, "/v1/subscriptions", limit=100, status="canceled")
    listed = [s for s in account.subscriptions if s["test_clock"] is None]  # as Stripe lists
    assert len(every) == len(listed)
    assert {s["status"] for s in default}.isdisjoint({"canceled", "incomplete_expired"})
    assert len(default) == sum(s["status"] not in ("canceled", "incomplete_expired")
                               for s in listed)
    assert canceled and all(s["status"] == "canceled" for s in canceled)
    assert client.get("/v1/subscriptions", params={"status": "nope"}).status_code == 400


def test_embedded_lists_are_truncated_and_child_endpoints_page_the_rest(
    client: httpx.Client, account: Account
) -> None:
    inv = next(i for i in account.invoices if len(i["lines"]["data"]) > 10)
    got = ok(client.get(f"/v1/invoices/{inv['id']}"))
    assert len(got["lines"]["data"]) == 10 and got["lines"]["has_more"] is True
    assert got["lines"]["url"] == f"/v1/invoices/{inv['id']}/lines"
    lines = got["lines"]["data"] + walk(client, got["lines"]["url"], limit=3,
                                         starting_after=got["lines"]["data"][-1]["id"])
    assert [ln["id"] for ln in lines] == [ln["id"] for ln in inv["lines"]["data"]]
    # the list endpoint embeds the same truncated list
    listed = walk(client, "/v1/invoices", limit=100)
    assert all(len(i["lines"]["data"]) <= 10 for i in listed)

    sub = next(s for s in account.subscriptions if len(s["items"]["data"]) > 10)
    got = ok(client.get(f"/v1/subscriptions/{sub['id']}"))
    assert len(got["items"]["data"]) == 10 and got["items"]["has_more"] is True
    assert got["items"]["url"] == f"/v1/subscription_items?subscription={sub['id']}"
    items = walk(client, "/v1/subscription_items", subscription=sub["id"], limit=4)
    assert [i["id"] for i in items] == [i["id"] for i in sub["items"]["data"]]
    item = ok(client.get(f"/v1/subscription_items/{items[-1]['id']}"))
    assert item["subscription"] == sub["id"]
    assert client.get("/v1/subscription_items").status_code == 400

    cn = next(c for c in account.credit_notes if len(c["lines"]["data"]) > 10)
    got = ok(client.get(f"/v1/credit_notes/{cn['id']}"))
    assert got["lines"]["has_more"] is True
    rest = walk(client, f"/v1/credit_notes/{cn['id']}/lines", limit=100,
                 starting_after=got["lines"]["data"][-1]["id"])
    assert len(got["lines"]["data"]) + len(rest) == len(cn["lines"]["data"])


def test_expand(client: httpx.Client, account: Account) -> None:
    inv = next(i for i in account.invoices if i["discounts"])
    plain = ok(client.get(f"/v1/invoices/{inv['id']}"))
    assert plain["discounts"] == inv["discounts"]
    for key in ("expand[]", "expand[0]"):
        got = ok(client.get(f"/v1/invoices/{inv['id']}", params={key: "discounts"}))
        disc = got["discounts"][0]
        assert disc["object"] == "discount" and disc["id"] == inv["discounts"][0]
        assert isinstance(disc["source"]["coupon"], str)
    page = ok(client.get("/v1/subscriptions", params={
        "status": "all", "limit": 100, "expand[]": "data.discounts"}))
    expanded = [d for s in page["data"] for d in s["discounts"]]
    assert expanded and all(isinstance(d, dict) for d in expanded)
    charges = ok(client.get("/v1/charges", params={
        "limit": 20, "expand[0]": "data.balance_transaction"}))["data"]
    paid = [c for c in charges if c["status"] == "succeeded"]
    assert paid and all(c["balance_transaction"]["object"] == "balance_transaction"
                        for c in paid)
    txn = ok(client.get(f"/v1/balance_transactions/{paid[0]['balance_transaction']['id']}"))
    assert txn["source"] == paid[0]["id"]
    # tiers are includable: only there when expanded
    tiered = next(p for p in account.prices if p["billing_scheme"] == "tiered")
    assert "tiers" not in ok(client.get(f"/v1/prices/{tiered['id']}"))
    assert ok(client.get(f"/v1/prices/{tiered['id']}", params={"expand[]": "tiers"}))["tiers"]
    bad = client.get("/v1/invoices", params={"expand[]": "data.nope"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert client.get("/v1/invoices", params={"expand[]": "discounts"}).status_code == 400


def test_request_errors_use_stripes_envelope(client: httpx.Client, account: Account) -> None:
    missing = client.get("/v1/invoices", params={"starting_after": "in_missing"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "resource_missing"
    assert client.get("/v1/invoices/in_missing").status_code == 404
    assert client.get("/v1/invoices", params={"limit": 101}).status_code == 400
    assert client.get("/v1/invoices", params={"limit": 0}).status_code == 400
    assert client.get("/v1/invoices", params={"foo": 1}).json()["error"]["param"] == "foo"
    both = client.get("/v1/invoices", params={"starting_after": "a", "ending_before": "b"})
    assert both.status_code == 400
    unknown = client.get("/v1/nothing")
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert ok(client.get("/v1/account"))["id"] == account.account["id"]


def test_deleted_customer_retrieves_as_a_tombstone(client: httpx.Client, account: Account) -> None:
    gone = next(iter(account.deleted["customers"]))
    assert ok(client.get(f"/v1/customers/{gone}")) == {
        "id": gone, "object": "customer", "deleted": True}
    assert gone not in {c["id"] for c in walk(client, "/v1/customers", limit=100)}


def test_events_endpoint(client: httpx.Client, account: Account) -> None:
    events = walk(client, "/v1/events", limit=100)
    assert len(events) == len(account.events)
    assert [e["created"] for e in events] == sorted((e["created"] for e in events),
                                                    reverse=True)
    subs = walk(client, "/v1/events", limit=100, type="customer.subscription.*")
    assert subs and all(e["type"].startswith("customer.subscription.") for e in subs)
    two = walk(client, "/v1/events", limit=100,
                **{"types[0]": "invoice.paid", "types[1]": "charge.succeeded"})
    assert {e["type"] for e in two} == {"invoice.paid", "charge.succeeded"}
    one = ok(client.get(f"/v1/events/{events[0]['id']}"))
    assert one["id"] == events[0]["id"] and one["data"]["object"]["id"]


def test_stripe_python_can_page_the_fake(fake: FakeStripe, account: Account) -> None:
    stripe = pytest.importorskip("stripe")
    sdk = stripe.StripeClient(DEFAULT_API_KEY, base_addresses={"api": fake.base_url},
                              max_network_retries=0)
    params: Any = {"limit": 100, "expand": ["data.discounts"],
                   "created": {"gte": NOW - 365 * DAY}}
    got = [inv.id for inv in sdk.v1.invoices.list(params).auto_paging_iter()]
    assert sorted(got) == sorted(i["id"] for i in account.invoices
                                 if i["created"] >= NOW - 365 * DAY)
    record = fake.log.records()[-1]
    assert record.stripe_version == account.api_version
    assert record.params["expand"] == ["data.discounts"]


def test_query_parsing_accepts_stripe_encodings() -> None:
    assert parse_params("expand[0]=a&expand[1]=b&created[gte]=5&limit=3") == {
        "expand": ["a", "b"], "created": {"gte": "5"}, "limit": "3"}
    assert parse_params("expand%5B%5D=a&expand%5B%5D=b") == {"expand": ["a", "b"]}
    assert mask_key("sk_test_abcdefgh1234") == "sk_test_****1234"
    assert "abcdefgh" not in mask_key("rk_live_abcdefgh1234")


# ---- server: auth, permissions, faults ----------------------------------------------------


def test_wrong_or_missing_key_is_401(fake: FakeStripe) -> None:
    wrong = httpx.get(f"{fake.base_url}/v1/customers",
                      headers={"Authorization": "Bearer sk_test_wrongkey9876"})
    assert wrong.status_code == 401
    err = wrong.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["message"] == "Invalid API Key provided: sk_test_****9876"
    assert httpx.get(f"{fake.base_url}/v1/customers").status_code == 401


def test_restricted_key_gets_403_on_denied_resources(client: httpx.Client,
                                                     fake: FakeStripe) -> None:
    fake.restricted_denied = {"invoices", "events"}
    resp = client.get("/v1/invoices")
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["type"] == "permission_error"
    assert "'rak_invoice_read' permission" in err["message"]
    assert fake.account.account["id"] in err["message"]
    assert client.get("/v1/invoices/in_x/lines").status_code == 403
    assert client.get("/v1/events").status_code == 403
    assert client.get("/v1/customers").status_code == 200


def test_non_get_requests_are_refused_and_recorded(client: httpx.Client,
                                                   fake: FakeStripe) -> None:
    before = fake.log.count(method="POST")
    resp = client.post("/v1/customers", data={"email": "x@example.com"})
    assert resp.status_code == 405 and resp.json()["error"]["type"] == "invalid_request_error"
    assert client.delete("/v1/customers/cus_x").status_code == 405
    assert fake.log.count(method="POST") == before + 1
    assert fake.log.count(method="DELETE", status=405) >= 1
    assert client.get("/v1/customers").status_code == 200  # the connection still works


def test_requests_are_recorded_with_stripe_headers(client: httpx.Client,
                                                   fake: FakeStripe) -> None:
    client.get("/v1/products", headers={"Stripe-Version": "2026-10-28.endive"})
    rec = fake.log.records()[-1]
    assert (rec.method, rec.path, rec.status) == ("GET", "/v1/products", 200)
    assert rec.stripe_version == "2026-10-28.endive"
    assert rec.headers == {"Stripe-Version": "2026-10-28.endive"}
    assert all(DEFAULT_API_KEY not in repr(r) for r in fake.log.records())


def test_connected_accounts_via_stripe_account_header() -> None:
    main = generate_account(customers=5, seed=1, now=NOW, months=3)
    other = generate_account(customers=7, seed=2, now=NOW, months=3)
    acct_id = other.account["id"]
    with FakeStripe(main, connected={acct_id: other}) as server, httpx.Client(
        base_url=server.base_url, headers=AUTH
    ) as c:
        mine = walk(c, "/v1/customers", limit=100)
        theirs = ok(c.get("/v1/customers", params={"limit": 100},
                           headers={"Stripe-Account": acct_id}))["data"]
        assert {x["id"] for x in mine} == {x["id"] for x in main.customers}
        assert {x["id"] for x in theirs} == {x["id"] for x in other.customers}
        assert server.log.records()[-1].stripe_account == acct_id
        denied = c.get("/v1/customers", headers={"Stripe-Account": "acct_unknown"})
        assert denied.status_code == 403


@pytest.mark.parametrize("kind,status", [("500", 500), ("502", 502), ("503", 503)])
def test_injected_server_errors(kind: str, status: int) -> None:
    acct = generate_account(customers=3, seed=1, now=NOW, months=2)
    with FakeStripe(acct, fail_rate=1.0, fault_kinds=[kind]) as server:
        resp = httpx.get(f"{server.base_url}/v1/customers", headers=AUTH)
        assert resp.status_code == status
        assert resp.json()["error"]["type"] == "api_error"
        assert server.log.faults[kind] == 1


def test_injected_429_truncation_and_reset() -> None:
    acct = generate_account(customers=3, seed=1, now=NOW, months=2)
    with FakeStripe(acct, fail_rate=1.0, fault_kinds=["429"]) as server:
        url = f"{server.base_url}/v1/customers"
        resp = httpx.get(url, headers=AUTH)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
        assert resp.json()["error"]["type"] == "rate_limit_error"

        server.fault_kinds = ("truncated",)
        resp = httpx.get(url, headers=AUTH)
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.content)

        server.fault_kinds = ("reset",)
        with pytest.raises(httpx.TransportError):
            httpx.get(url, headers=AUTH)

        server.fail_rate = 0.0
        assert httpx.get(url, headers=AUTH).status_code == 200
        assert server.log.faults == Counter({"429": 1, "truncated": 1, "reset": 1})


def test_fault_rate_is_roughly_honoured_and_seeded() -> None:
    acct = generate_account(customers=3, seed=1, now=NOW, months=2)
    kinds = ["500", "503"]
    outcomes = []
    for _ in range(2):
        with (
            FakeStripe(acct, fail_rate=0.3, fault_kinds=kinds, seed=5) as server,
            httpx.Client(base_url=server.base_url, headers=AUTH) as c,
        ):
            outcomes.append([c.get("/v1/products").status_code for _ in range(60)])
    assert outcomes[0] == outcomes[1]  # same seed, same faults
    faults = sum(s != 200 for s in outcomes[0])
    assert 5 <= faults <= 35
    assert set(outcomes[0]) <= {200, 500, 503}


def test_rate_limit_answers_429_like_stripe() -> None:
    acct = generate_account(customers=3, seed=1, now=NOW, months=2)
    with FakeStripe(acct, rate_limit=0.001) as server:  # one token, refilled very slowly
        with httpx.Client(base_url=server.base_url, headers=AUTH) as c:
            assert c.get("/v1/products").status_code == 200
            resp = c.get("/v1/products")
        assert resp.status_code == 429
        assert resp.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
        assert resp.json()["error"]["type"] == "rate_limit_error"


# ---- mutation helpers ---------------------------------------------------------------------


def _small() -> Account:
    return generate_account(customers=30, seed=4, now=NOW, months=12)


def test_change_subscription_updates_the_object_and_emits_an_event() -> None:
    acct = _small()
    sub = next(s for s in acct.subscriptions if s["status"] == "active"
               and s["items"]["data"][0]["price"]["lookup_key"] == "pro_m"
               and not s["discounts"])
    later = NOW + 3600
    with FakeStripe(acct) as server, httpx.Client(base_url=server.base_url,
                                                   headers=AUTH) as c:
        before = ok(c.get(f"/v1/subscriptions/{sub['id']}"))  # now cached
        server.change_subscription(sub["id"], now=later, quantity=3)
        after = ok(c.get(f"/v1/subscriptions/{sub['id']}"))
        assert before["items"]["data"][0].get("quantity") == 1
        assert after["items"]["data"][0]["quantity"] == 3
        events = ok(c.get("/v1/events", params={"created[gte]": later}))["data"]
        assert [e["type"] for e in events] == ["customer.subscription.updated"]
        assert events[0]["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 1
        assert truth_mrr(acct, sub["customer"], later) - truth_mrr(
            acct, sub["customer"], later - 1) == 2 * 9900

        server.change_subscription(sub["id"], now=later + 60, cancel_at_period_end=True)
        got = ok(c.get(f"/v1/subscriptions/{sub['id']}"))
        assert got["cancel_at_period_end"] is True and got["canceled_at"] == later + 60
        assert got["cancellation_details"]["reason"] == "cancellation_requested"


def test_delete_customer_cancels_and_tombstones() -> None:
    acct = _small()
    sub = next(s for s in acct.subscriptions if s["status"] == "active")
    cus = sub["customer"]
    later = NOW + 7200
    with FakeStripe(acct) as server, httpx.Client(base_url=server.base_url,
                                                   headers=AUTH) as c:
        server.delete_customer(cus, later)
        assert ok(c.get(f"/v1/customers/{cus}"))["deleted"] is True
        assert ok(c.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "canceled"
        types = [e["type"] for e in ok(c.get("/v1/events", params={
            "created[gte]": later}))["data"]]
        assert "customer.deleted" in types and "customer.subscription.deleted" in types
        assert truth_mrr(acct, cus, later) == 0


def test_add_customer_and_subscription_appear_with_events() -> None:
    acct = _small()
    price = next(p for p in acct.prices if p["lookup_key"] == "pro_m")
    later = NOW + 86400
    with FakeStripe(acct) as server, httpx.Client(base_url=server.base_url,
                                                   headers=AUTH) as c:
        cus = server.add_customer(now=later, name="Newco Ltd", email="ap@newco.example")
        sub = server.add_subscription(cus["id"], now=later + 10, price=price["id"], quantity=2)
        assert ok(c.get(f"/v1/customers/{cus['id']}"))["name"] == "Newco Ltd"
        listed = ok(c.get("/v1/subscriptions", params={"customer": cus["id"]}))["data"]
        assert [s["id"] for s in listed] == [sub["id"]]
        invoices = ok(c.get("/v1/invoices", params={"customer": cus["id"]}))["data"]
        assert len(invoices) == 1 and invoices[0]["status"] == "paid"
        assert invoices[0]["parent"]["subscription_details"]["subscription"] == sub["id"]
        types = Counter(e["type"] for e in ok(c.get("/v1/events", params={
            "created[gte]": later, "limit": 100}))["data"])
        assert types["customer.created"] == 1
        assert types["customer.subscription.created"] == 1
        assert types["invoice.paid"] == 1 and types["charge.succeeded"] == 1
    assert truth_mrr(acct, cus["id"], later + 10) == 2 * 9900
    assert len({e["id"] for e in acct.events}) == len(acct.events)


def test_every_registry_resource_is_served(client: httpx.Client, account: Account) -> None:
    for res in RESOURCES:
        params = dict(res.params)
        if res.expand:
            params["expand[]"] = res.expand[0]
        page = ok(client.get(res.path, params={**params, "limit": 100}))
        assert page["object"] == "list" and page["url"] == res.path
        assert page["data"], res.name
        first = page["data"][0]
        assert first["object"] == res.object
        assert ok(client.get(res.retrieve(first["id"])))["id"] == first["id"]


def _quantities(acct: Account) -> dict[str, int]:
    return {s["id"]: s["items"]["data"][0].get("quantity") for s in acct.subscriptions}


def test_control_mutate_adds_a_seat_to_a_seeded_fraction_with_events() -> None:
    import io

    from syncer.sandbox.__main__ import serve_control

    acct, twin = _small(), _small()
    before, later = _quantities(acct), NOW + 600
    out = io.StringIO()
    serve_control(FakeStripe(acct), [f"mutate 0.25 {later}\n", "\n", "requests\n",
                                     f"mutate 2 {later}\n", "jump\n"], out)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(replies) == 4  # the blank line has no answer
    changed = replies[0]["subscriptions"]
    live = [s for s in acct.subscriptions if s["status"] in ("active", "trialing", "past_due")]
    assert replies[0]["changed"] == len(changed) >= 1 and len(changed) <= round(0.25 * len(live))
    after = _quantities(acct)
    assert {s for s in after if after[s] != before[s]} == set(changed)
    assert all(after[s] == before[s] + 1 for s in changed)
    updated = [e for e in acct.events if e["created"] == later]
    assert sorted(e["data"]["object"]["id"] for e in updated) == sorted(changed)
    assert {e["type"] for e in updated} == {"customer.subscription.updated"}
    assert replies[1] == {"requests": 0}
    assert "between 0 and 1" in replies[2]["error"] and "unknown command" in replies[3]["error"]
    # Seeded: the same account gets the same subscriptions changed.
    serve_control(FakeStripe(twin), [f"mutate 0.25 {later}"], twin_out := io.StringIO())
    assert json.loads(twin_out.getvalue())["subscriptions"] == changed


def test_sandbox_cli_serves_and_obeys_the_control_channel() -> None:
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer.sandbox", "--customers", "20", "--months", "6",
         "--now", str(NOW), "--port", str(port), "--summary", "--prewarm", "--control"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        summary = json.loads(proc.stdout.readline())
        assert summary["counts"]["customers"] > 0 and summary["minimal_pages"] > 0
        proc.stdin.write(f"mutate 0.5 {NOW + 600}\n")
        proc.stdin.flush()
        changed = json.loads(proc.stdout.readline())["subscriptions"]
        assert changed
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as c:
            for _ in range(100):  # the summary is printed just before the port is bound
                try:
                    events = ok(c.get("/v1/events", params={"created[gte]": NOW + 600,
                                                             "limit": 100}))["data"]
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
        assert sorted(e["data"]["object"]["id"] for e in events) == sorted(changed)
        proc.stdin.write("requests\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["requests"] >= 1
    finally:
        proc.terminate()
        proc.wait(10)
