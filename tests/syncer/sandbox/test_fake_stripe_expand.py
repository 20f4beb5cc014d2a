"""The fake Stripe answers like Stripe for expansions, test clocks and deleted coupons."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import stripe

from syncer.sandbox.expansion import field_type, object_class
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import JSON, Account, generate_account
from syncer.sandbox.pages import minimal_pages_by_endpoint
from tests.syncer.sandbox.fake_api import ok, walk

NOW = 1_784_000_000  # 2026-07-14T03:33:20Z
CLOCK_ID = "clock_1TestClockFake000001"
GONE_COUPON = "GONE30"
ITEM_DISCOUNT = "di_1ItemDiscountFake00001"
LINE_DISCOUNT = "di_1LineDiscountFake00001"
GONE_DISCOUNT = "di_1GoneCouponFake000001"


def _discount(template: JSON, discount_id: str, coupon: str, **links: Any) -> JSON:
    return {**copy.deepcopy(template), "id": discount_id, "invoice": None,
            "invoice_item": None, "subscription": None, "subscription_item": None,
            "source": {"coupon": coupon, "type": "coupon"}, **links}


def _clock() -> JSON:
    return {"id": CLOCK_ID, "object": "test_helpers.test_clock", "created": NOW - 3600,
            "deletes_after": NOW + 30 * 86400, "frozen_time": NOW - 86400, "livemode": False,
            "name": "annual renewal", "status": "ready", "status_details": {}}


@pytest.fixture(scope="module")
def account() -> Account:
    """A generated account with the setups real accounts have and the generator makes
    rarely or never: an item-level and a line-level discount, a discount whose coupon
    was deleted, a customer-level discount, and a customer (with its subscriptions) on a
    test clock."""
    acct = generate_account(customers=30, seed=5, now=NOW, months=12)
    template = next(iter(acct.discounts.values()))
    plain = [s for s in acct.subscriptions if not s["discounts"] and s["status"] == "active"]
    item_sub, gone_sub = plain[0], plain[1]
    item = item_sub["items"]["data"][0]
    item["discounts"] = [ITEM_DISCOUNT]
    acct.discounts[ITEM_DISCOUNT] = _discount(template, ITEM_DISCOUNT, "LAUNCH20",
                                              subscription=item_sub["id"],
                                              subscription_item=item["id"])
    invoice = next(i for i in acct.invoices if i["lines"]["data"])
    invoice["lines"]["data"][0]["discounts"] = [LINE_DISCOUNT]
    acct.discounts[LINE_DISCOUNT] = _discount(template, LINE_DISCOUNT, "ANNUAL15",
                                              invoice=invoice["id"])
    acct.coupons.append({**copy.deepcopy(acct.coupons[0]), "id": GONE_COUPON,
                         "name": "Gone 30% off", "percent_off": 30.0})
    acct.remove("coupons", GONE_COUPON)
    gone_sub["discounts"] = [GONE_DISCOUNT]
    acct.discounts[GONE_DISCOUNT] = _discount(template, GONE_DISCOUNT, GONE_COUPON,
                                              subscription=gone_sub["id"])
    acct.customers[0]["discount"] = _discount(template, "di_1CustomerDiscountFake01",
                                              "LAUNCH20", customer=acct.customers[0]["id"])
    acct.test_clocks.append(_clock())
    clocked = next(s for s in acct.subscriptions
                   if s["status"] == "active" and s not in (item_sub, gone_sub)
                   and s["customer"] != acct.customers[0]["id"])
    customer = acct.get("customers", clocked["customer"])
    assert customer is not None
    customer["test_clock"] = CLOCK_ID
    for sub in acct.subscriptions:
        if sub["customer"] == customer["id"]:
            sub["test_clock"] = CLOCK_ID
    return acct


def _all(client: httpx.Client, path: str, **params: Any) -> list[JSON]:
    """Every object of a list, a hundred a page."""
    return walk(client, path, **params, limit=100)


def _error(resp: httpx.Response, status: int = 400) -> JSON:
    assert resp.status_code == status, resp.text
    err: JSON = resp.json()["error"]
    return err


def _clocked_customer(account: Account) -> JSON:
    return next(c for c in account.customers if c.get("test_clock") == CLOCK_ID)


def _sub_with(account: Account, discount_id: str) -> JSON:
    return next(s for s in account.subscriptions
                if discount_id in s["discounts"]
                or any(discount_id in i.get("discounts", []) for i in s["items"]["data"]))


# ---- what is expandable comes from stripe-python's types --------------------------------


def test_expandable_fields_are_read_from_stripe_pythons_types() -> None:
    discounts = field_type(stripe.Subscription, "discounts")
    assert discounts is not None and discounts.kind == "expand"
    assert discounts.shape == (stripe.Discount,)
    coupon = field_type(stripe.Discount.Source, "coupon")
    assert coupon is not None and coupon.kind == "expand" and coupon.shape == (stripe.Coupon,)
    source = field_type(stripe.Discount, "source")
    assert source is not None and source.kind == "walk"
    assert field_type(stripe.Subscription, "status") is None
    assert object_class("test_helpers.test_clock") is stripe.test_helpers.TestClock


# ---- expansion forms --------------------------------------------------------------------


def test_a_subscription_list_expands_each_subscriptions_discounts(
        client: httpx.Client, account: Account) -> None:
    subs = _all(client, "/v1/subscriptions", status="all", **{"expand[]": "data.discounts"})
    gone = next(s for s in subs if s["id"] == _sub_with(account, GONE_DISCOUNT)["id"])
    assert gone["discounts"] == [account.discounts[GONE_DISCOUNT]]
    plain = _all(client, "/v1/subscriptions", status="all")
    assert next(s for s in plain if s["id"] == gone["id"])["discounts"] == [GONE_DISCOUNT]


def test_a_subscription_list_expands_the_discounts_of_its_items(
        client: httpx.Client, account: Account) -> None:
    sub_id = _sub_with(account, ITEM_DISCOUNT)["id"]
    subs = _all(client, "/v1/subscriptions", status="all",
                **{"expand[]": "data.items.data.discounts"})
    item = next(s for s in subs if s["id"] == sub_id)["items"]["data"][0]
    assert item["discounts"] == [account.discounts[ITEM_DISCOUNT]]
    assert item["discounts"][0]["source"]["coupon"] == "LAUNCH20"


def test_an_invoice_list_expands_the_discounts_of_its_lines(
        client: httpx.Client, account: Account) -> None:
    invoice = next(i for i in account.invoices
                   if i["lines"]["data"] and i["lines"]["data"][0]["discounts"] == [LINE_DISCOUNT])
    got = _all(client, "/v1/invoices", customer=invoice["customer"],
               **{"expand[]": "data.lines.data.discounts"})
    line = next(i for i in got if i["id"] == invoice["id"])["lines"]["data"][0]
    assert line["discounts"][0]["id"] == LINE_DISCOUNT
    assert line["discounts"][0]["source"] == {"coupon": "ANNUAL15", "type": "coupon"}


def test_an_expansion_steps_through_the_discounts_plain_source_to_its_coupon(
        client: httpx.Client, account: Account) -> None:
    coupons = {c["id"]: c for c in account.coupons} | account.deleted["coupons"]
    subs = _all(client, "/v1/subscriptions", status="all",
                **{"expand[]": "data.discounts.source.coupon"})
    discounts = [d for s in subs for d in s["discounts"]]
    assert len(discounts) == sum(len(s["discounts"]) for s in account.subscriptions
                                 if not s.get("test_clock"))
    for discount in discounts:
        stored = account.discounts[discount["id"]]
        assert discount["source"]["coupon"] == coupons[stored["source"]["coupon"]]
        assert {k: v for k, v in discount.items() if k != "source"} == {
            k: v for k, v in stored.items() if k != "source"}


def test_a_customers_own_discount_expands_its_coupon(client: httpx.Client,
                                                     account: Account) -> None:
    owner = account.customers[0]
    customers = _all(client, "/v1/customers", **{"expand[]": "data.discount.source.coupon"})
    got = next(c for c in customers if c["id"] == owner["id"])
    assert got["discount"]["id"] == "di_1CustomerDiscountFake01"
    assert got["discount"]["source"]["coupon"] == next(
        c for c in account.coupons if c["id"] == "LAUNCH20")
    assert got["discount"]["source"]["coupon"]["percent_off"] == 20.0


def test_a_discount_still_expands_the_coupon_that_was_deleted(
        client: httpx.Client, account: Account) -> None:
    sub_id = _sub_with(account, GONE_DISCOUNT)["id"]
    subs = _all(client, "/v1/subscriptions", status="all",
                **{"expand[]": "data.discounts.source.coupon"})
    coupon = next(s for s in subs if s["id"] == sub_id)["discounts"][0]["source"]["coupon"]
    assert coupon["id"] == GONE_COUPON and coupon["percent_off"] == 30.0
    assert coupon == account.deleted["coupons"][GONE_COUPON]
    retrieved = ok(client.get(f"/v1/subscriptions/{sub_id}",
                               params={"expand[]": "discounts.source.coupon"}))
    assert retrieved["discounts"][0]["source"]["coupon"]["name"] == "Gone 30% off"


def test_child_list_endpoints_expand_their_entries_with_data(
        client: httpx.Client, account: Account) -> None:
    invoice = next(i for i in account.invoices
                   if i["lines"]["data"] and i["lines"]["data"][0]["discounts"] == [LINE_DISCOUNT])
    lines = ok(client.get(f"/v1/invoices/{invoice['id']}/lines",
                           params={"expand[]": "data.discounts"}))["data"]
    assert lines[0]["discounts"] == [account.discounts[LINE_DISCOUNT]]
    sub_id = _sub_with(account, ITEM_DISCOUNT)["id"]
    items = ok(client.get("/v1/subscription_items", params={
        "subscription": sub_id, "expand[]": "data.discounts.source.coupon"}))["data"]
    assert items[0]["discounts"][0]["source"]["coupon"]["id"] == "LAUNCH20"
    refused = client.get("/v1/subscription_items", params={
        "subscription": sub_id, "expand[]": "discounts"})
    assert _error(refused)["param"] == "expand[0]"
    item = ok(client.get(f"/v1/subscription_items/{items[0]['id']}",
                          params={"expand[]": "discounts"}))
    assert item["discounts"][0]["id"] == ITEM_DISCOUNT


def test_the_cache_keeps_expanded_and_plain_answers_apart(client: httpx.Client,
                                                          account: Account) -> None:
    sub_id = _sub_with(account, GONE_DISCOUNT)["id"]
    for _ in range(2):  # the second round is served from the cache
        plain = ok(client.get(f"/v1/subscriptions/{sub_id}"))
        expanded = ok(client.get(f"/v1/subscriptions/{sub_id}",
                                  params={"expand[]": "discounts"}))
        deep = ok(client.get(f"/v1/subscriptions/{sub_id}",
                              params={"expand[0]": "discounts", "expand[1]":
                                      "discounts.source.coupon"}))
        assert plain["discounts"] == [GONE_DISCOUNT]
        assert expanded["discounts"][0]["source"]["coupon"] == GONE_COUPON
        assert deep["discounts"][0]["source"]["coupon"]["id"] == GONE_COUPON


def test_tiers_are_included_only_when_expanded(client: httpx.Client, account: Account) -> None:
    tiered = next(p for p in account.prices if p["billing_scheme"] == "tiered")
    listed = _all(client, "/v1/prices", **{"expand[]": "data.tiers"})
    assert next(p for p in listed if p["id"] == tiered["id"])["tiers"] == tiered["tiers"]
    plain = _all(client, "/v1/prices")
    assert "tiers" not in next(p for p in plain if p["id"] == tiered["id"])


# ---- refused expansions -----------------------------------------------------------------


def test_more_than_four_levels_are_refused_with_stripes_message(client: httpx.Client) -> None:
    err = _error(client.get("/v1/subscriptions", params={
        "expand[0]": "data.discounts", "expand[1]": "data.items.data.price.product"}))
    assert err == {
        "code": "property_expansion_max_depth",
        "doc_url": "https://stripe.com/docs/error-codes/property-expansion-max-depth",
        "message": "You cannot expand more than 4 levels of a property. "
                   "Property: data.items.data.price.product",
        "param": "expand[1]",
        "type": "invalid_request_error",
    }


def test_a_field_that_is_not_expandable_is_refused_with_stripes_message(
        client: httpx.Client, account: Account) -> None:
    err = _error(client.get("/v1/subscriptions", params={"expand[]": "data.status"}))
    assert err == {"message": "This property cannot be expanded (status).",
                   "param": "expand[0]", "type": "invalid_request_error"}
    # a list object is walked through with data, and a path ends on an expandable field
    walked = _error(client.get("/v1/subscriptions", params={"expand[]": "data.items.discounts"}))
    assert walked["message"] == "This property cannot be expanded (discounts)."
    plain = _error(client.get("/v1/subscriptions", params={"expand[]": "data.discounts.source"}))
    assert plain["message"] == "This property cannot be expanded (source)."
    sub_id = account.subscriptions[0]["id"]
    on_retrieve = _error(client.get(f"/v1/subscriptions/{sub_id}",
                                    params={"expand[]": "data.discounts"}))
    assert on_retrieve["message"] == "This property cannot be expanded (data)."


def test_a_list_expansion_must_start_with_data(client: httpx.Client) -> None:
    err = _error(client.get("/v1/invoices", params={"expand[]": "discounts"}))
    assert err["message"] == ("This property cannot be expanded (discounts). You may want to "
                              "try expanding 'data.discounts' instead.")
    assert err["param"] == "expand[0]" and err["type"] == "invalid_request_error"


# ---- test clocks ------------------------------------------------------------------------


def test_customers_on_a_test_clock_are_listed_only_with_that_clock(
        client: httpx.Client, account: Account) -> None:
    clocked = _clocked_customer(account)
    listed = {c["id"] for c in _all(client, "/v1/customers")}
    assert clocked["id"] not in listed
    assert len(listed) == len(account.customers) - 1
    on_clock = _all(client, "/v1/customers", test_clock=CLOCK_ID)
    assert [c["id"] for c in on_clock] == [clocked["id"]]
    assert on_clock[0]["test_clock"] == CLOCK_ID
    assert ok(client.get(f"/v1/customers/{clocked['id']}"))["id"] == clocked["id"]


def test_subscriptions_on_a_test_clock_are_listed_with_that_clock_or_their_customer(
        client: httpx.Client, account: Account) -> None:
    clocked = _clocked_customer(account)
    theirs = {s["id"] for s in account.subscriptions if s["customer"] == clocked["id"]}
    everyone = {s["id"] for s in _all(client, "/v1/subscriptions", status="all")}
    assert theirs and not theirs & everyone
    assert len(everyone) == len(account.subscriptions) - len(theirs)
    by_clock = {s["id"] for s in _all(client, "/v1/subscriptions", status="all",
                                      test_clock=CLOCK_ID)}
    by_customer = {s["id"] for s in _all(client, "/v1/subscriptions", status="all",
                                         customer=clocked["id"])}
    assert by_clock == by_customer == theirs
    one = next(iter(theirs))
    assert ok(client.get(f"/v1/subscriptions/{one}"))["test_clock"] == CLOCK_ID


def test_invoices_of_a_customer_on_a_test_clock_are_listed_as_usual(
        client: httpx.Client, account: Account) -> None:
    clocked = _clocked_customer(account)
    theirs = {i["id"] for i in account.invoices if i["customer"] == clocked["id"]}
    listed = {i["id"] for i in _all(client, "/v1/invoices")}
    assert theirs and theirs <= listed
    assert len(listed) == len(account.invoices)


def test_test_clocks_are_listed_paged_and_retrieved(client: httpx.Client,
                                                    account: Account,
                                                    fake: FakeStripe) -> None:
    second = {**_clock(), "id": "clock_1TestClockFake000002", "created": NOW - 60,
              "name": None}
    with fake._store.lock:
        account.test_clocks.append(second)
        fake._store.reset()
    try:
        first_page = ok(client.get("/v1/test_helpers/test_clocks", params={"limit": 1}))
        assert first_page["url"] == "/v1/test_helpers/test_clocks"
        assert [c["id"] for c in first_page["data"]] == [second["id"]]  # newest first
        assert first_page["has_more"] is True
        rest = ok(client.get("/v1/test_helpers/test_clocks", params={
            "limit": 1, "starting_after": second["id"]}))
        assert rest["data"] == [_clock()] and rest["has_more"] is False
        assert ok(client.get(f"/v1/test_helpers/test_clocks/{CLOCK_ID}")) == _clock()
        missing = _error(client.get("/v1/test_helpers/test_clocks/clock_nope"), 404)
        assert missing["code"] == "resource_missing"
        unknown = _error(client.get("/v1/test_helpers/test_clocks", params={"created": NOW}))
        assert unknown["param"] == "created"
    finally:
        with fake._store.lock:
            account.test_clocks.remove(second)
            fake._store.reset()


def test_a_customers_test_clock_expands(client: httpx.Client, account: Account) -> None:
    clocked = _clocked_customer(account)
    got = ok(client.get(f"/v1/customers/{clocked['id']}", params={"expand[]": "test_clock"}))
    assert got["test_clock"] == _clock()


def test_subscriptions_filter_on_their_accounts_v2_customer(client: httpx.Client,
                                                             account: Account,
                                                             fake: FakeStripe) -> None:
    sub = next(s for s in account.subscriptions if not s.get("test_clock"))
    with fake._store.lock:
        sub["customer_account"] = "acct_1CustomerAccountV2"
        fake._store.reset()
    try:
        got = _all(client, "/v1/subscriptions", status="all",
                   customer_account="acct_1CustomerAccountV2")
        assert [s["id"] for s in got] == [sub["id"]]
    finally:
        with fake._store.lock:
            sub["customer_account"] = None
            fake._store.reset()


def test_the_page_floor_lists_each_test_clocks_customers_and_subscriptions(
        account: Account) -> None:
    pages = minimal_pages_by_endpoint(account)
    unclocked = sum(1 for c in account.customers if not c.get("test_clock"))
    assert unclocked <= 100  # one page without the clock, one for it
    assert pages["/v1/customers"] == 2 and pages["/v1/subscriptions"] == 2
    assert pages["/v1/test_helpers/test_clocks"] == 1
    live = generate_account(customers=5, seed=1, now=NOW, months=3, livemode=True)
    assert "/v1/test_helpers/test_clocks" not in minimal_pages_by_endpoint(live)
    assert minimal_pages_by_endpoint(live)["/v1/customers"] == 1


def test_a_live_mode_key_cannot_use_test_clocks(account: Account) -> None:
    live = "sk_live_51SandboxLive000000000000000"
    with FakeStripe(account, api_key=live) as server, httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {live}"}) as c:
        err = _error(c.get("/v1/test_helpers/test_clocks"))
        assert err["type"] == "invalid_request_error"
        assert err["message"] == ("Test clocks are only available in test mode: use a test "
                                  "mode API key.")
        assert _error(c.get(f"/v1/test_helpers/test_clocks/{CLOCK_ID}"))["type"] == (
            "invalid_request_error")


def test_a_restricted_key_without_the_test_clock_permission_gets_403(
        client: httpx.Client, fake: FakeStripe) -> None:
    fake.restricted_denied = {"test_clocks"}
    err = _error(client.get("/v1/test_helpers/test_clocks"), 403)
    assert err["type"] == "permission_error"
    assert "'rak_test_clock_read' permission" in err["message"]
    assert client.get("/v1/customers").status_code == 200


# ---- deleted coupons --------------------------------------------------------------------


def test_a_deleted_coupon_is_not_listed_and_retrieving_it_is_404(
        client: httpx.Client, account: Account) -> None:
    listed = [c["id"] for c in _all(client, "/v1/coupons")]
    assert GONE_COUPON not in listed
    assert sorted(listed) == sorted(c["id"] for c in account.coupons)
    err = _error(client.get(f"/v1/coupons/{GONE_COUPON}"), 404)
    assert err["code"] == "resource_missing"
    assert err["message"] == f"No such coupon: '{GONE_COUPON}'"
    assert ok(client.get("/v1/coupons/LAUNCH20"))["percent_off"] == 20.0
