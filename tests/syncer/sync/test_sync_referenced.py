"""What the lists cannot give: customers deleted before the first backfill, coupons of
item discounts deleted before it, customer discounts that ended, and events about
discounts. Against a stub of Stripe that answers as its API reference documents, on
SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from syncer.db.store import Store, table
from syncer.errors import StripeNotFound, StripeRequestError
from syncer.stripe.resources import BY_NAME
from syncer.sync.collect import Collected, collect, fetch_expanded
from syncer.sync.context import SyncContext, Target
from syncer.sync.events import _object_key, sync_events
from syncer.sync.projection import project
from syncer.sync.referenced import fetch_deleted_coupons, fetch_unlisted_customers

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
ACCOUNT, VERSION, NOW = "acct_1", "2026-10-28.endive", 1_795_000_000


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


class Page:
    def __init__(self, data: list[dict[str, Any]], has_more: bool = False) -> None:
        self.data, self.has_more = data, has_more


class StubStripe:
    """Objects by path; records every request. ``refuse_nested`` plays a Stripe-compatible
    server that expands ``discounts`` but nothing through it."""

    api_version = VERSION

    def __init__(self, objects: dict[str, dict[str, Any]], *, refuse_nested: bool = False) -> None:
        self.objects = objects
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.refuse_nested = refuse_nested
        self.events: list[dict[str, Any]] = []

    def fetch_list_page(self, path: str, params: dict[str, Any], *, resource: str,
                        retry_budget: float | None = None) -> Page:
        self.asked.append((path, params))
        assert path == "/v1/events", path
        return Page(self.events)

    def fetch_object(self, path: str, *, resource: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        params = params or {}
        self.asked.append((path, params))
        if self.refuse_nested and any(e.count(".") for e in params.get("expand", [])):
            raise StripeRequestError(f"Stripe rejected GET {path} (400): This property cannot be expanded")
        if path not in self.objects:
            raise StripeNotFound(f"Stripe has no {path}")
        obj = copy.deepcopy(self.objects[path])
        if "discounts.source.coupon" not in params.get("expand", []):
            for d in obj.get("discounts") or []:
                if isinstance(d, dict) and isinstance(d["source"]["coupon"], dict):
                    d["source"]["coupon"] = d["source"]["coupon"]["id"]
        return obj


def _ctx(store: Store) -> SyncContext:
    return SyncContext(store=store, clock=lambda: NOW, concurrency=2)


def _write(store: Store, target: Target, resource: str, *objs: dict[str, Any], at: int = NOW - 1000) -> None:
    ctx = _ctx(store)
    out = collect(target, BY_NAME[resource], objs, ctx.row_context(target, at), Collected())
    with store.transaction() as conn:
        out.write(store, conn, account=ACCOUNT, livemode=False, at=at)


def _rows(store: Store, name: str) -> dict[str, dict[str, Any]]:
    t = table(name)
    with store.reading() as conn:
        return {r["id"]: dict(r) for r in conn.execute(select(t)).mappings()}


def _discount(did: str, coupon: Any, **links: Any) -> dict[str, Any]:
    d = load("discount")
    d.update(id=did, **links)
    d["source"]["coupon"] = coupon
    return d


def _subscription(sub_id: str, customer: str | None, *, item_discounts: list[Any] | None = None) -> dict[str, Any]:
    sub = load("subscription")
    sub.update(id=sub_id, customer=customer, discounts=[])
    sub["items"]["data"][0].update(id=f"si_{sub_id}", subscription=sub_id, discounts=item_discounts or [])
    return sub


# ---- customers deleted before the first backfill ----------------------------------------------


def test_a_customer_deleted_before_the_backfill_is_fetched_and_stored_as_deleted(store: Store) -> None:
    stub = StubStripe({"/v1/customers/cus_gone": {"id": "cus_gone", "object": "customer", "deleted": True}})
    target = Target(ACCOUNT, False, stub)
    _write(store, target, "subscriptions", _subscription("sub_1", "cus_gone"), _subscription("sub_2", "cus_here"),
           _subscription("sub_3", None) | {"customer_account": "acct_1Billed"})
    _write(store, target, "customers", load("customer") | {"id": "cus_here"})
    invoice = load("invoice") | {"id": "in_1", "customer": "cus_unknown"}
    _write(store, target, "invoices", invoice)

    assert fetch_unlisted_customers(_ctx(store), target) == 1
    # Only the ids no customer row holds; an Accounts v2 customer is no /v1/customers object.
    assert sorted(path for path, _ in stub.asked) == ["/v1/customers/cus_gone", "/v1/customers/cus_unknown"]
    customers = _rows(store, "customers")
    assert customers["cus_gone"]["deleted_at"] == NOW
    assert json.loads(customers["cus_gone"]["raw"]) == {"id": "cus_gone", "object": "customer", "deleted": True}
    assert "cus_unknown" not in customers  # Stripe cannot find it: left out, no crash
    assert fetch_unlisted_customers(_ctx(store), target) == 0  # stored: not asked again


def test_customers_the_backfill_already_fetched_are_stored_without_asking_again(store: Store) -> None:
    stub = StubStripe({"/v1/customers/cus_late": {"id": "cus_late", "object": "customer", "deleted": True}})
    target = Target(ACCOUNT, False, stub)
    _write(store, target, "subscriptions", _subscription("sub_1", "cus_gone"), _subscription("sub_2", "cus_late"),
           _subscription("sub_3", "cus_nowhere"))
    # While the lists were paged: one tombstone, one Stripe could not find, and a guess
    # that turned out to be listed after all (not stored: only what is missing is).
    prefetched = {"cus_gone": {"id": "cus_gone", "object": "customer", "deleted": True}, "cus_nowhere": None,
                  "cus_listed": {"id": "cus_listed", "object": "customer", "deleted": True}}
    assert fetch_unlisted_customers(_ctx(store), target, prefetched) == 2
    assert [path for path, _ in stub.asked] == ["/v1/customers/cus_late"]
    assert sorted(_rows(store, "customers")) == ["cus_gone", "cus_late"]


# ---- coupons deleted before the first backfill -----------------------------------------------


def test_an_item_discount_whose_coupon_was_deleted_is_stored_with_the_coupon_from_its_item(store: Store) -> None:
    coupon = load("coupon") | {"id": "GONE50", "percent_off": 50.0}
    item_discount = _discount("di_item", "GONE50", customer="cus_1", subscription=None, subscription_item="si_sub_1")
    kept = _discount("di_kept", "LISTED", customer="cus_1", subscription=None, subscription_item="si_sub_1")
    item = load("subscription_item") | {"id": "si_sub_1", "subscription": "sub_1"}
    item["discounts"] = [_discount("di_item", coupon, customer="cus_1", subscription=None, subscription_item="si_sub_1"),
                         _discount("di_kept", load("coupon") | {"id": "LISTED"}, customer="cus_1")]
    stub = StubStripe({"/v1/subscription_items/si_sub_1": item})
    target = Target(ACCOUNT, False, stub)
    _write(store, target, "coupons", load("coupon") | {"id": "LISTED"})
    _write(store, target, "subscriptions", _subscription("sub_1", "cus_1", item_discounts=[item_discount, kept]))
    assert _rows(store, "discounts")["di_item"]["percent_off"] is None

    assert fetch_deleted_coupons(_ctx(store), target) == 1
    assert stub.asked == [("/v1/subscription_items/si_sub_1", {"expand": ["discounts", "discounts.source.coupon"]})]
    row = _rows(store, "discounts")["di_item"]
    assert (row["coupon"], row["percent_off"], row["subscription_item"], row["subscription"]) == (
        "GONE50", 50.0, "si_sub_1", "sub_1")
    assert json.loads(row["raw"])["source"]["coupon"]["id"] == "GONE50"
    assert _rows(store, "discounts")["di_kept"]["percent_off"] is None  # its coupon is listed: untouched
    stub.asked.clear()
    assert fetch_deleted_coupons(_ctx(store), target) == 0
    assert stub.asked == []  # nothing left to ask


def test_a_server_that_cannot_expand_the_coupon_leaves_the_discount_as_it_was(store: Store) -> None:
    item = load("subscription_item") | {"id": "si_sub_1", "subscription": "sub_1"}
    item["discounts"] = [_discount("di_item", load("coupon") | {"id": "GONE50"}, subscription_item="si_sub_1")]
    stub = StubStripe({"/v1/subscription_items/si_sub_1": item}, refuse_nested=True)
    target = Target(ACCOUNT, False, stub)
    discount = _discount("di_item", "GONE50", subscription=None, subscription_item="si_sub_1")
    _write(store, target, "subscriptions", _subscription("sub_1", "cus_1", item_discounts=[discount]))
    assert fetch_deleted_coupons(_ctx(store), target) == 0
    assert [p["expand"] for _, p in stub.asked] == [["discounts", "discounts.source.coupon"], ["discounts"]]
    assert _rows(store, "discounts")["di_item"]["coupon"] == "GONE50"


# ---- customer discounts ---------------------------------------------------------------------


def test_an_expansion_a_server_refused_is_not_asked_again_of_that_account() -> None:
    target, other = Target(ACCOUNT, False, StubStripe({}, refuse_nested=True)), Target("acct_2", False, StubStripe({}))

    def fetch_of(t: Target) -> Any:
        return lambda params: t.api.fetch_object("/v1/customers/cus_1", resource="customers", params=params)

    full = ["discounts", "discounts.source.coupon"]
    target.api.objects["/v1/customers/cus_1"] = other.api.objects["/v1/customers/cus_1"] = {"id": "cus_1"}
    for t in (target, target, other):
        assert fetch_expanded(fetch_of(t), {}, full, target=t, endpoint="/v1/customers/{id}") == {"id": "cus_1"}
    assert [p["expand"] for _, p in target.api.asked] == [full, ["discounts"], ["discounts"]]
    assert [p["expand"] for _, p in other.api.asked] == [full]


def _customer_with(discount: dict[str, Any] | None) -> dict[str, Any]:
    return load("customer") | {"id": "cus_1", "discount": discount}


def test_a_customer_without_its_discount_ends_that_discount_and_no_other(store: Store) -> None:
    target = Target(ACCOUNT, False, StubStripe({}))
    own = _discount("di_own", load("coupon"), customer="cus_1")
    _write(store, target, "customers", _customer_with(own), at=NOW - 1000)
    sub_discount = _discount("di_sub", load("coupon"), customer="cus_1", subscription="sub_1")
    sub = _subscription("sub_1", "cus_1") | {"discounts": [sub_discount]}
    _write(store, target, "subscriptions", sub, at=NOW - 1000)

    _write(store, target, "customers", _customer_with(None), at=NOW - 500)
    discounts = _rows(store, "discounts")
    assert discounts["di_own"]["deleted_at"] == NOW - 500
    assert discounts["di_sub"]["deleted_at"] is None  # the subscription's, not the customer's


def test_a_customer_with_a_new_discount_ends_the_old_one(store: Store) -> None:
    target = Target(ACCOUNT, False, StubStripe({}))
    _write(store, target, "customers", _customer_with(_discount("di_old", load("coupon"), customer="cus_1")), at=NOW - 900)
    _write(store, target, "customers", _customer_with(_discount("di_new", load("coupon"), customer="cus_1")), at=NOW - 800)
    discounts = _rows(store, "discounts")
    assert (discounts["di_old"]["deleted_at"], discounts["di_new"]["deleted_at"]) == (NOW - 800, None)


# ---- events about discounts -----------------------------------------------------------------


def _event(eid: str, type_: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    event = load("event")
    event.update(id=eid, type=type_, created=created, api_version=VERSION, data={"object": obj})
    return event


def test_a_customer_discount_event_is_followed_to_the_customer_and_a_subscription_one_to_its_subscription() -> None:
    own = _discount("di_own", "C", customer="cus_1", subscription=None)
    on_sub = _discount("di_sub", "C", customer="cus_1", subscription="sub_1")
    of_account = _discount("di_acct", "C", customer=None, customer_account="acct_1Billed", subscription=None)
    assert _object_key(_event("evt_1", "customer.discount.created", own, NOW)) == ("customers", "cus_1")
    assert _object_key(_event("evt_2", "customer.discount.deleted", on_sub, NOW)) == ("subscriptions", "sub_1")
    assert _object_key(_event("evt_3", "customer.discount.deleted", of_account, NOW)) is None  # no /v1/customers object


def test_a_deleted_customer_discount_event_rereads_the_customer_and_ends_the_discount_when_it_did(store: Store) -> None:
    stub = StubStripe({"/v1/customers/cus_1": _customer_with(None)})
    target = Target(ACCOUNT, False, stub)
    own = _discount("di_own", load("coupon"), customer="cus_1", subscription=None)
    _write(store, target, "customers", _customer_with(own), at=NOW - 1000)
    with store.transaction() as conn:
        store.set_event_cursor(conn, ACCOUNT, False, NOW - 600, NOW - 600)
    stub.events = [_event("evt_1", "customer.discount.deleted", own, NOW - 300)]

    result = sync_events(_ctx(store), target)
    assert (result.applied, result.refetched) == (1, 1)
    assert ("/v1/customers/cus_1", {}) in stub.asked  # the customer, re-read
    discount = _rows(store, "discounts")["di_own"]
    assert discount["deleted_at"] == NOW - 300  # the event's time, for the normalizer to date its end
    assert json.loads(_rows(store, "customers")["cus_1"]["raw"])["discount"] is None
    assert _rows(store, "events")["evt_1"]["object_id"] == "di_own"


def test_projected_customer_discount_row_is_the_customers_own() -> None:
    own = _discount("di_own", load("coupon"), customer=None)
    rows = project("customers", _customer_with(own), _ctx_row())
    (row,) = rows["discounts"]
    assert (row["customer"], row["subscription"], row["invoice"]) == ("cus_1", None, None)


def _ctx_row() -> Any:
    from syncer.sync.projection import RowContext

    return RowContext(account=ACCOUNT, livemode=False, api_version=VERSION, synced_at=NOW)


def test_a_deleted_items_discount_takes_its_coupon_from_the_latest_invoice_that_billed_the_item(store: Store) -> None:
    # An ended subscription's item is gone (404); its invoices' lines still carry the discount.
    coupon = load("coupon") | {"id": "GONE50", "percent_off": 50.0}
    discount = _discount("di_item", "GONE50", customer="cus_1", subscription=None, subscription_item="si_sub_1")
    line = load("line_item") | {"id": "il_1", "discounts": [dict(discount, source={"coupon": coupon, "type": "coupon"})]}
    line["parent"] = {"type": "subscription_item_details", "invoice_item_details": None,
                      "subscription_item_details": {"subscription": "sub_1", "subscription_item": "si_sub_1",
                                                    "proration": False, "invoice_item": None}}

    class EndedItems(StubStripe):
        def fetch_list_page(self, path: str, params: dict[str, Any], *, resource: str,
                            retry_budget: float | None = None) -> Page:
            self.asked.append((path, params))
            assert path == "/v1/invoices/in_new/lines", path
            return Page([line])

    stub = EndedItems({})
    target = Target(ACCOUNT, False, stub)
    _write(store, target, "subscriptions", _subscription("sub_1", "cus_1", item_discounts=[discount]))
    for invoice_id, created in (("in_old", NOW - 90 * 86400), ("in_new", NOW - 30 * 86400)):
        unexpanded = dict(line, id=f"il_{invoice_id}", discounts=["di_item"])
        invoice = load("invoice") | {"id": invoice_id, "created": created,
                                     "lines": {"object": "list", "has_more": False, "data": [unexpanded]}}
        _write(store, target, "invoices", invoice)
    assert fetch_deleted_coupons(_ctx(store), target) == 1
    assert stub.asked == [
        ("/v1/subscription_items/si_sub_1", {"expand": ["discounts", "discounts.source.coupon"]}),
        ("/v1/invoices/in_new/lines", {"limit": 100, "expand": ["data.discounts", "data.discounts.source.coupon"]}),
    ]
    row = _rows(store, "discounts")["di_item"]
    assert (row["percent_off"], row["subscription_item"], row["subscription"]) == (50.0, "si_sub_1", "sub_1")


def test_a_discount_copy_naming_its_coupon_by_id_never_replaces_one_carrying_the_coupon(store: Store) -> None:
    # The same discount on an invoice (coupon expanded) and on its lines (four levels deep:
    # coupon as an id), in one page and in a later one.
    target = Target(ACCOUNT, False, StubStripe({}))
    coupon = load("coupon") | {"id": "GONE50", "percent_off": 50.0}
    expanded = _discount("di_1", coupon, customer="cus_1", subscription="sub_1")
    by_id = _discount("di_1", "GONE50", customer="cus_1", subscription="sub_1")
    invoice = load("invoice") | {"id": "in_1", "discounts": [expanded]}
    invoice["lines"]["data"][0]["discounts"] = [by_id]
    _write(store, target, "invoices", invoice, at=NOW - 100)
    assert _rows(store, "discounts")["di_1"]["percent_off"] == 50.0
    later = load("invoice") | {"id": "in_2", "discounts": []}
    later["lines"]["data"][0].update(id="il_2", discounts=[by_id | {"end": NOW}])
    _write(store, target, "invoices", later, at=NOW - 50)
    row = _rows(store, "discounts")["di_1"]
    assert (row["percent_off"], row["duration"], row["synced_at"], row["end"]) == (50.0, "forever", NOW - 50, NOW)
    assert json.loads(row["raw"])["source"]["coupon"]["id"] == "GONE50"
