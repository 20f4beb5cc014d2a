"""``nrr sync`` against the fake Stripe on setups real accounts have and generated ones
did not: item discounts, coupons and customers deleted before the first backfill,
customer-wide discounts and their events, test clocks. SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import select

from syncer.db.store import Store, table
from syncer.sandbox.expansion import Plan
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.fake_stripe.params import list_param
from syncer.sandbox.fake_stripe.responses import invalid
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import KEY, NOW, settings_for, stored, sync

JSON = dict[str, Any]


@pytest.fixture
def account() -> Account:
    return generate_account(customers=30, seed=7, now=NOW)


def _serve(account: Account) -> FakeStripe:
    server = FakeStripe(account, api_key=KEY)
    server.start()
    return server


@pytest.fixture
def fake(account: Account) -> Iterator[FakeStripe]:
    server = _serve(account)
    yield server
    server.stop()


def _active(account: Account) -> JSON:
    return next(s for s in account.subscriptions if s["status"] == "active" and not s["discounts"])


def _discount(account: Account, did: str, coupon: str, **links: Any) -> JSON:
    base = {"id": did, "object": "discount", "checkout_session": None, "customer": None, "customer_account": None,
            "end": None, "invoice": None, "invoice_item": None, "promotion_code": None,
            "source": {"coupon": coupon, "type": "coupon"}, "start": NOW - 86400 * 40, "subscription": None,
            "subscription_item": None}
    return base | links


def _give_item_a_discount(account: Account, coupon: str) -> tuple[JSON, JSON, JSON]:
    sub = _active(account)
    item = sub["items"]["data"][0]
    discount = _discount(account, "di_1ItemE2e", coupon, customer=sub["customer"], subscription_item=item["id"])
    account.discounts[discount["id"]] = discount
    item["discounts"] = [discount["id"]]
    return sub, item, discount


def _columns(store: Store, name: str, object_id: str) -> dict[str, Any] | None:
    t = table(name)
    with store.reading() as conn:
        row = conn.execute(select(t).where(t.c.id == object_id)).mappings().first()
    return dict(row) if row else None


def _refused_nested_expansion(fake: FakeStripe) -> bool:
    return any(r.status == 400 and "expand" in r.query and "." in r.query.split("expand")[-1]
               for r in fake.log.records())


class _OneLevelExpandFake(FakeStripe):
    """A server that expands one level only (``data.discounts``, not through an expanded
    object), refusing deeper paths with Stripe's 400, as an account on an older API might."""

    @staticmethod
    def _expand(params: Mapping[str, Any], name: str, *, listed: bool) -> Plan:
        for path in list_param(params.get("expand", []), "expand"):
            if "." in (path.removeprefix("data.") if listed else path):
                raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        return FakeStripe._expand(params, name, listed=listed)


# ---- item discounts ---------------------------------------------------------------------------


def test_an_item_discount_is_stored_as_a_row_of_its_item_subscription_and_customer(
    account: Account, store: Store, database_url: str
) -> None:
    sub, item, discount = _give_item_a_discount(account, account.coupons[0]["id"])
    with _serve(account) as fake:
        outcome = sync(settings_for(fake, database_url), store, clock=NOW)
        assert outcome.result.ok, outcome.result.errors
    row = _columns(store, "discounts", discount["id"])
    assert row is not None, "the item's discount came as an id: no row"
    assert (row["subscription_item"], row["subscription"], row["customer"]) == (item["id"], sub["id"], sub["customer"])
    assert row["coupon"] == account.coupons[0]["id"]
    assert stored(store, "subscription_items")[item["id"]]["discounts"][0]["id"] == discount["id"]


def test_a_server_without_nested_expansions_still_lists_discounts_expanded_one_level(
    account: Account, store: Store, database_url: str
) -> None:
    # The plainer request is kept per resource: subscription discounts still come as objects.
    with_discount = next(s for s in account.subscriptions if s["discounts"])
    with _OneLevelExpandFake(account, api_key=KEY) as fake:
        fake.start()
        assert sync(settings_for(fake, database_url), store, clock=NOW).result.ok
        assert _refused_nested_expansion(fake)
        listed = [r for r in fake.log.records() if r.path == "/v1/subscriptions" and r.status == 200]
    assert listed and all("data.discounts" in r.query for r in listed)
    assert with_discount["discounts"][0] in stored(store, "discounts")


# ---- deleted coupons and customers ------------------------------------------------------------


def _delete_coupon_first(account: Account) -> JSON:
    """A coupon deleted before the backfill: no longer listed, its discounts still apply."""
    coupon = copy.deepcopy(account.coupons[0]) | {"id": "GONE50", "percent_off": 50.0, "name": "Gone 50%"}
    account.deleted.setdefault("coupons", {})[coupon["id"]] = coupon
    return coupon


def test_a_discount_of_a_deleted_coupon_is_stored_with_the_coupon(
    account: Account, store: Store, database_url: str
) -> None:
    coupon = _delete_coupon_first(account)
    sub = _active(account)
    sub_discount = _discount(account, "di_1SubGoneE2e", coupon["id"], customer=sub["customer"], subscription=sub["id"])
    account.discounts[sub_discount["id"]] = sub_discount
    sub["discounts"] = [sub_discount["id"]]
    other = next(s for s in account.subscriptions if s["status"] == "active" and s is not sub and not s["discounts"])
    item = other["items"]["data"][0]
    item_discount = _discount(account, "di_1ItemGoneE2e", coupon["id"], customer=other["customer"],
                              subscription_item=item["id"])
    account.discounts[item_discount["id"]] = item_discount
    item["discounts"] = [item_discount["id"]]
    with _serve(account) as fake:
        outcome = sync(settings_for(fake, database_url), store, clock=NOW)
        assert outcome.result.ok, outcome.result.errors
        # The item's coupon is five levels deep in a listing: asked of the item instead.
        assert any(r.path == f"/v1/subscription_items/{item['id']}" for r in fake.log.records())
    assert "GONE50" not in stored(store, "coupons", include_deleted=True)
    discounts = stored(store, "discounts")
    for did in (sub_discount["id"], item_discount["id"]):
        assert discounts[did]["source"]["coupon"]["percent_off"] == 50.0, did


def test_a_customer_deleted_before_the_backfill_is_fetched_and_stored_as_deleted(
    fake: FakeStripe, account: Account, store: Store, database_url: str
) -> None:
    (gone,) = account.deleted["customers"]
    assert any(s["customer"] == gone for s in account.subscriptions)  # still named by its subscription
    outcome = sync(settings_for(fake, database_url), store, clock=NOW)
    assert outcome.result.ok, outcome.result.errors
    assert [r.path for r in fake.log.records() if r.path.startswith("/v1/customers/")] == [f"/v1/customers/{gone}"]
    assert gone not in stored(store, "customers")
    tombstone = stored(store, "customers", include_deleted=True)[gone]
    assert tombstone == {"id": gone, "object": "customer", "deleted": True}
    fake.log.clear()
    assert sync(settings_for(fake, database_url), store, clock=NOW + 600).result.ok
    assert not any(r.path.startswith("/v1/customers/") for r in fake.log.records())  # asked once


# ---- customer-wide discounts --------------------------------------------------------------------


def _remove_customer_discount(account: Account, customer_id: str, *, now: int) -> JSON:
    """What Stripe does on ``DELETE /v1/customers/{id}/discount``: the customer loses it and
    a ``customer.discount.deleted`` event carries the discount (``subscription`` null)."""
    customer = account.get("customers", customer_id)
    assert customer is not None
    discount = customer["discount"]
    account.put("customers", dict(customer, discount=None))
    account.add_event("customer.discount.deleted", now, dict(discount, end=now))
    return discount


def test_a_removed_customer_discount_rereads_the_customer_and_ends_at_the_events_time(
    account: Account, store: Store, database_url: str
) -> None:
    customer = next(c for c in account.customers if not any(s["customer"] == c["id"] for s in account.subscriptions))
    discount = _discount(account, "di_1CustomerE2e", account.coupons[0]["id"], customer=customer["id"])
    customer["discount"] = discount
    with _serve(account) as fake:
        settings = settings_for(fake, database_url)
        assert sync(settings, store, clock=NOW).result.ok
        assert stored(store, "discounts")[discount["id"]]["customer"] == customer["id"]
        fake._edit(_remove_customer_discount, customer["id"], now=NOW + 100)
        fake.log.clear()
        outcome = sync(settings, store, clock=NOW + 300)
        assert outcome.result.ok, outcome.result.errors
        assert f"/v1/customers/{customer['id']}" in [r.path for r in fake.log.records()]
    assert stored(store, "customers")[customer["id"]]["discount"] is None
    row = _columns(store, "discounts", discount["id"])
    assert row is not None and row["deleted_at"] == NOW + 100


# ---- test clocks ------------------------------------------------------------------------------


def _put_on_a_test_clock(account: Account) -> tuple[JSON, list[JSON]]:
    clock = {"id": "clock_1E2eClock", "object": "test_helpers.test_clock", "created": NOW - 86400,
             "deletes_after": NOW + 86400 * 30, "frozen_time": NOW - 86400 * 400, "livemode": False,
             "name": "e2e", "status": "ready", "status_details": {}}
    account.test_clocks.append(clock)
    sub = _active(account)
    customer = account.get("customers", sub["customer"])
    assert customer is not None
    customer["test_clock"] = clock["id"]
    subs = [s for s in account.subscriptions if s["customer"] == customer["id"]]
    for s in subs:
        s["test_clock"] = clock["id"]
    return customer, subs


def test_test_clocks_customers_and_subscriptions_are_listed_in_test_mode(
    account: Account, store: Store, database_url: str
) -> None:
    customer, subs = _put_on_a_test_clock(account)
    with _serve(account) as fake:
        settings = settings_for(fake, database_url)
        outcome = sync(settings, store, clock=NOW)
        assert outcome.result.ok, outcome.result.errors
        clocks = [r for r in fake.log.records() if r.path == "/v1/test_helpers/test_clocks"]
        assert clocks and all(r.status == 200 for r in clocks)
        by_clock = [r for r in fake.log.records() if "test_clock=clock_1E2eClock" in r.query]
        assert {r.path for r in by_clock} == {"/v1/customers", "/v1/subscriptions"}
        assert all("status=all" in r.query for r in by_clock if r.path == "/v1/subscriptions")
        fake.log.clear()
        assert sync(settings, store, clock=NOW + 600).result.ok
        # Listed once, resumable like any listing: each has its own, completed checkpoint.
        assert not any("test_clock=" in r.query for r in fake.log.records())
        frozen = account.test_clocks[0]["frozen_time"]
        listings = {f"customers@test_clock=clock_1E2eClock@{frozen}", f"subscriptions@test_clock=clock_1E2eClock@{frozen}"}
        assert {s.resource for s in store.states() if s.completed_at is not None} >= listings

        # Advancing the clock bills and renews at the clock's time, and those events are
        # created at that time too, behind the events cursor: the clock is listed again.
        fake._edit(lambda acct: acct.test_clocks[0].update(frozen_time=frozen + 86400 * 31) or {})
        fake.log.clear()
        assert sync(settings, store, clock=NOW + 1200).result.ok
        assert {r.path for r in fake.log.records() if "test_clock=clock_1E2eClock" in r.query} == {
            "/v1/customers", "/v1/subscriptions"}
    assert customer["id"] in stored(store, "customers")
    assert {s["id"] for s in subs} <= set(stored(store, "subscriptions"))
    # The moved clock's old checkpoints are gone (they would never be refreshed).
    assert not {s.resource for s in store.states()} & listings
