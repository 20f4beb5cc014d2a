"""An incremental normalization stores, row for row, the facts a full rebuild stores: after
syncs that changed some customers, after time passed with no change, and after random
edits of any object table (hypothesis)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from syncer.app import normalizing
from syncer.app.normalizing import Target
from syncer.app.reporting import (
    AccountRef,
    normalize_account,
    normalize_settings,
    platform_account,
    report_month,
)
from syncer.app.settings import Settings
from syncer.db.changes import Changed
from syncer.db.facts_store import SPANS, last_normalization, recorded_unowned
from syncer.db.objects import CHANGE_COLUMNS
from syncer.db.store import RunStats, Store, table
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sync.projection import RowContext, project, project_discounts
from tests.e2e.harness import NOW, sync
from tests.syncer.app.normalizations import fact_rows, paused_after_first_batch

DAY = 86400


def incremental_equals_full(settings: Settings, store: Store, *, now: int) -> dict[str, Any]:
    """Normalize incrementally, then rebuild; assert both stored the same facts. Returns
    the incremental run's row."""
    ref = platform_account(store)
    normalize_account(settings, store, now=now)
    run = last_normalization(store, ref.account, ref.livemode)
    assert run is not None
    incremental = fact_rows(store, ref)
    normalize_account(settings, store, now=now, full=True)
    full = fact_rows(store, ref)
    differing = {name: {"incremental only": [r for r in rows if r not in full[name]],
                        "full only": [r for r in full[name] if r not in rows]}
                 for name, rows in incremental.items() if rows != full[name]}
    assert not differing, f"as of {now}: {differing}"
    return run


@pytest.fixture
def served(served: tuple[FakeStripe, Settings, Store]) -> tuple[FakeStripe, Settings, Store]:
    """The synced account, normalized once at ``NOW``."""
    _, settings, store = served
    normalize_account(settings, store, now=NOW)
    return served


def test_time_passing_without_changes_rederives_only_what_the_clock_changes(
    served: tuple[FakeStripe, Settings, Store],
) -> None:
    fake, settings, store = served
    kinds = {}
    for days in (0, 1, 3, 10, 17, 31, 45, 62):
        clock = NOW + days * DAY + 3600
        assert sync(settings, store, clock=clock).result.ok
        kinds[days] = incremental_equals_full(settings, store, now=clock)["kind"]
    # A day re-derives the few customers whose period, trial or grace ended; a month
    # without any new data has every monthly customer's, and a rebuild is as cheap.
    assert kinds[0] == kinds[1] == kinds[3] == "incremental", kinds


def test_synced_changes_are_rederived_as_a_rebuild_would(served: tuple[FakeStripe, Settings, Store]) -> None:
    fake, settings, store = served
    account = fake.account
    subs = [s for s in account.subscriptions if s["status"] in ("active", "trialing", "past_due")]
    prices = sorted({i["price"]["id"] for s in subs for i in s["items"]["data"]})
    clock = NOW + 3600
    customer = fake.add_customer(now=clock, name="New Co")
    fake.add_subscription(customer["id"], now=clock + 60, price=prices[0])
    item = subs[0]["items"]["data"][0]
    fake.change_subscription(subs[0]["id"], now=clock + 120, item=item["id"], quantity=(item.get("quantity") or 1) + 2)
    fake.change_subscription(subs[1]["id"], now=clock + 180, cancel_at_period_end=True)
    fake.cancel_subscription(subs[2]["id"], now=clock + 240)
    fake.delete_customer(subs[3]["customer"], now=clock + 300)
    clock += 600
    assert sync(settings, store, clock=clock).result.ok
    run = incremental_equals_full(settings, store, now=clock)
    assert run["kind"] == "incremental" and 5 <= run["customers_updated"] < 20


# ---- random edits of any object table --------------------------------------------------


def _pick(store: Store, ref: AccountRef, name: str, n: int) -> dict[str, Any] | None:
    t = table(name)
    with store.reading() as conn:
        rows = conn.execute(select(t.c.raw).where(t.c.account == ref.account, t.c.livemode == ref.livemode,
                                                  t.c.deleted_at.is_(None)).order_by(t.c.id)).scalars().all()
    return json.loads(rows[n % len(rows)]) if rows else None


def _items(obj: dict[str, Any]) -> list[dict[str, Any]]:
    items = obj.get("items")
    return items.get("data") or [] if isinstance(items, dict) else []


def _edit(store: Store, ref: AccountRef, edit: str, n: int, clock: int) -> None:
    """Change one stored object as Stripe could (or as a sync could store it) at ``clock``."""
    name, change = EDITS[edit]
    obj = _pick(store, ref, name, n)
    if obj is None:
        return
    if change is None:  # a deletion
        with store.transaction() as conn:
            store.mark_deleted(conn, name, obj["id"], account=ref.account, livemode=ref.livemode, at=clock)
        return
    rows: dict[str, list[Any]] = {}
    ctx = RowContext(ref.account, ref.livemode, "2026-11-17", clock)
    for resource, changed in change(obj, clock, lambda other, k: _pick(store, ref, other, k), n):
        projected = project_discounts([changed], {}, ctx, owned=()) if resource == "discounts" \
            else project(resource, changed, ctx)
        for t, more in projected.items():
            rows.setdefault(t, []).extend(more)
    with store.transaction() as conn:
        store.upsert_rows(conn, rows)


Pick = Any
Change = Any


def _quantity(sub: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in _items(sub)[:1]:
        item["quantity"] = (item.get("quantity") or 1) + 1 + n % 3
    yield "subscriptions", sub
    yield "events", {"id": f"evt_q{clock}_{n}", "object": "event", "type": "customer.subscription.updated",
                     "created": clock, "data": {"object": sub, "previous_attributes": {"items": {}}}}


def _new_price(sub: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    price = pick("prices", n)
    for item in _items(sub)[:1]:
        if price is not None:
            item["price"] = price
    yield "subscriptions", sub


def _cancel_now(sub: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    sub.update(status="canceled", canceled_at=clock, ended_at=clock,
               cancellation_details={"reason": "cancellation_requested", "feedback": None, "comment": None})
    yield "subscriptions", sub


def _cancel_later(sub: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    ends = [i.get("current_period_end") for i in _items(sub) if isinstance(i.get("current_period_end"), int)]
    sub.update(cancel_at_period_end=True, canceled_at=clock, cancel_at=max(ends, default=clock + 30 * DAY))
    yield "subscriptions", sub


def _invoice_fails(inv: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    inv.update(status="open", attempted=True, attempt_count=2, next_payment_attempt=clock + 3 * DAY,
               amount_paid=0, amount_remaining=inv.get("amount_due") or 0)
    inv.setdefault("status_transitions", {})["paid_at"] = None
    yield "invoices", inv


def _invoice_recovers(inv: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    inv.update(status="paid", amount_paid=inv.get("amount_due") or 0, amount_remaining=0,
               next_payment_attempt=None)
    inv.setdefault("status_transitions", {})["paid_at"] = clock
    yield "invoices", inv


def _charge_rate(ch: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    bt = ch.get("balance_transaction")
    if isinstance(bt, dict):
        bt["exchange_rate"] = round((bt.get("exchange_rate") or 1.0) * 1.1, 6)
    ch["amount"] = (ch.get("amount") or 0) + 100
    yield "charges", ch


def _coupon_terms(coupon: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    if coupon.get("percent_off") is not None:
        coupon["percent_off"] = min(100, (coupon["percent_off"] or 0) + 5)
    else:
        coupon["amount_off"] = (coupon.get("amount_off") or 0) + 100
    yield "coupons", coupon


def _price_amount(price: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    price["unit_amount"] = (price.get("unit_amount") or 0) + 100
    price["unit_amount_decimal"] = str(price["unit_amount"])
    yield "prices", price


def _discount_ends(d: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    d["end"] = clock + (n % 40) * DAY
    yield "discounts", d


def _new_customer(cus: dict[str, Any], clock: int, pick: Pick, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """A copy of a customer, with a copy of one subscription, under new ids."""
    new_id = f"cus_new{clock}{n}"
    yield "customers", {**cus, "id": new_id, "created": clock}
    sub = pick("subscriptions", n)
    if sub is not None:
        sub = json.loads(json.dumps(sub).replace(sub["id"], f"sub_new{clock}{n}"))
        # Nothing of the original customer's: in Stripe every link stays within a customer.
        sub.update(customer=new_id, created=clock, start_date=clock, discounts=[], discount=None, latest_invoice=None,
                   schedule=None, customer_account=None)
        for k, item in enumerate(_items(sub)):
            item["id"] = f"si_new{clock}{n}{k}"
            item["subscription"] = sub["id"]
        yield "subscriptions", sub


EDITS: dict[str, tuple[str, Change]] = {
    "quantity": ("subscriptions", _quantity),
    "price": ("subscriptions", _new_price),
    "cancel": ("subscriptions", _cancel_now),
    "cancel_later": ("subscriptions", _cancel_later),
    "payment_fails": ("invoices", _invoice_fails),
    "payment_recovers": ("invoices", _invoice_recovers),
    "fx": ("charges", _charge_rate),
    "coupon": ("coupons", _coupon_terms),
    "price_amount": ("prices", _price_amount),
    "discount_end": ("discounts", _discount_ends),
    "new_customer": ("customers", _new_customer),
    "delete_customer": ("customers", None),
    "delete_subscription": ("subscriptions", None),
    "delete_invoice": ("invoices", None),
    "delete_discount": ("discounts", None),
}


def _successful_sync_at(store: Store, clock: int) -> None:
    """What a sync that brought the edits leaves: a successful run, the data as of ``clock``."""
    run = store.begin_run("sync", [], clock, os.getpid())
    store.finish_run(run, status="success", now=clock, stats=RunStats(counts={}))


@settings(max_examples=int(os.environ.get("NRR_INCREMENTAL_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None,
          phases=[Phase.explicit, Phase.generate])
@given(steps=st.lists(st.tuples(st.lists(st.tuples(st.sampled_from(sorted(EDITS)), st.integers(0, 10**6)),
                                         max_size=4),
                                st.integers(1, 20 * DAY)), min_size=1, max_size=3))
def test_random_changes_then_incremental_equals_a_rebuild(
    served: tuple[FakeStripe, Settings, Store], steps: list[tuple[list[tuple[str, int]], int]],
) -> None:
    """Each example goes on from the state the previous ones left (a longer history);
    after each step, the incremental run must store what a rebuild stores."""
    _, settings, store = served
    ref = platform_account(store)
    for edits, elapsed in steps:
        _CLOCK[0] += elapsed
        for edit, n in edits:
            _edit(store, ref, edit, n, _CLOCK[0])
        _successful_sync_at(store, _CLOCK[0])
        incremental_equals_full(settings, store, now=_CLOCK[0])


_CLOCK = [NOW + 3600]


# ---- a crash in the middle ---------------------------------------------------------------


def test_a_normalization_killed_midway_leaves_the_previous_facts_and_the_next_catches_up(
    served: tuple[FakeStripe, Settings, Store], database_url: str, tmp_path: Path,
) -> None:
    fake, settings, store = served
    ref = platform_account(store)
    before = fact_rows(store, ref)
    run_before = last_normalization(store, ref.account, ref.livemode)
    clock = NOW + 3600
    for k, sub in enumerate(s for s in fake.account.subscriptions if s["status"] == "active"):
        if k == 8:
            break
        item = sub["items"]["data"][0]
        fake.change_subscription(sub["id"], now=clock + k, item=item["id"], quantity=(item.get("quantity") or 1) + 1)
    clock += 60
    assert sync(settings, store, clock=clock).result.ok
    target = Target(ref.account, ref.livemode, ref.default_currency or "usd", ref.name)
    with paused_after_first_batch(database_url, target, normalize_settings(settings), clock, tmp_path,
                                  pause_seconds=60) as child:
        os.kill(child.pid or 0, signal.SIGKILL)
    assert child.exitcode == -signal.SIGKILL
    assert fact_rows(store, ref) == before
    assert last_normalization(store, ref.account, ref.livemode) == run_before
    run = incremental_equals_full(settings, store, now=clock)
    assert run["kind"] == "incremental" and run["customers_updated"] >= 8


def test_a_refund_stored_before_its_charge_moves_to_the_charges_customer(
    served: tuple[FakeStripe, Settings, Store],
) -> None:
    """A refund whose charge is not stored belongs to no customer; when the charge comes,
    the refund's facts move to the charge's customer although the refund did not change."""
    _, settings, store = served
    ref = platform_account(store)
    refunds, charges = table("refunds"), table("charges")
    with store.reading() as conn:
        refund, charge_id, raw = conn.execute(
            select(refunds.c.id, refunds.c.charge, refunds.c.raw).join(charges, charges.c.id == refunds.c.charge)
            .where(charges.c.customer.is_not(None)).order_by(refunds.c.id).limit(1)).one()
        charge = conn.execute(select(charges).where(charges.c.id == charge_id)).mappings().one()
    # A refund of an API version that named no customer, listed before its charge.
    older = {k: v for k, v in json.loads(raw).items() if k not in ("customer", "customer_account")}
    with store.transaction() as conn:
        conn.execute(charges.delete().where(charges.c.id == charge_id))
        store.upsert_rows(conn, project("refunds", older, RowContext(ref.account, ref.livemode, "2025-01-27", NOW + 1)))
    clock = NOW + 3600
    _successful_sync_at(store, clock)
    normalize_account(settings, store, now=clock, full=True)
    lines = fact_rows(store, ref)["revenue_lines"]
    assert [line.customer for line in lines if line.source == refund] == [None]
    with store.transaction() as conn:
        store.upsert_rows(conn, {"charges": [{k: v for k, v in charge.items() if k not in CHANGE_COLUMNS}]})
    _successful_sync_at(store, clock + 60)
    run = incremental_equals_full(settings, store, now=clock + 60)
    assert run["kind"] == "incremental"
    lines = fact_rows(store, ref)["revenue_lines"]
    assert [line.customer for line in lines if line.source == refund] == [charge["customer"]]


def test_a_charge_of_no_customer_moves_to_its_invoices_customer_when_the_payment_arrives(
    served: tuple[FakeStripe, Settings, Store], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An Accounts v2 charge names no customer: it is its invoice's customer's through the
    invoice payment of its payment intent. Stored before that payment, it is of no
    customer; changes elsewhere leave it there without looking it up again, and the
    payment's arrival moves it."""
    _, settings, store = served
    ref = platform_account(store)
    charges, payments, invoices = table("charges"), table("invoice_payments"), table("invoices")
    with store.reading() as conn:
        charge_id, raw, payment_id = conn.execute(
            select(charges.c.id, charges.c.raw, payments.c.id)
            .join(payments, payments.c.payment_intent == charges.c.payment_intent)
            .join(invoices, invoices.c.id == payments.c.invoice)
            .where(invoices.c.customer.is_not(None)).order_by(charges.c.id).limit(1)).one()
        payment = conn.execute(select(payments).where(payments.c.id == payment_id)).mappings().one()
    unnamed = {k: v for k, v in json.loads(raw).items() if k not in ("customer", "customer_account")}
    with store.transaction() as conn:
        conn.execute(payments.delete().where(payments.c.id == payment_id))
        store.upsert_rows(conn, project("charges", unnamed, RowContext(ref.account, ref.livemode, "2026-11-17", NOW)))
    clock = NOW + 3600
    _successful_sync_at(store, clock)
    normalize_account(settings, store, now=clock, full=True)

    def held() -> list[str]:
        with store.reading() as conn:
            return recorded_unowned(conn, ref.account, ref.livemode).get("charges", [])

    assert charge_id in held()
    looked_up: list[str] = []
    monkeypatch.setattr(normalizing, "owners", lambda conn, name, *a, **k: looked_up.append(name) or Changed())
    _edit(store, ref, "quantity", 0, clock + 60)
    _successful_sync_at(store, clock + 60)
    normalize_account(settings, store, now=clock + 60)
    assert looked_up == [] and charge_id in held()
    monkeypatch.undo()

    with store.transaction() as conn:
        store.upsert_rows(conn, {"invoice_payments": [{k: v for k, v in payment.items() if k not in CHANGE_COLUMNS}]})
    _successful_sync_at(store, clock + 120)
    normalize_account(settings, store, now=clock + 120)
    run = last_normalization(store, ref.account, ref.livemode)
    assert run is not None and run["kind"] == "incremental"
    assert charge_id not in held()
    incremental_equals_full(settings, store, now=clock + 120)  # the facts it left are a rebuild's


def test_a_report_after_a_sync_reads_facts_brought_up_to_date(served: tuple[FakeStripe, Settings, Store]) -> None:
    """A sync whose normalization did not run (a crash between the two): the report
    normalizes first, so it never reads facts older than the last successful sync."""
    fake, settings, store = served
    ref = platform_account(store)
    sub = next(s for s in fake.account.subscriptions if s["status"] == "active")
    item = sub["items"]["data"][0]
    fake.change_subscription(sub["id"], now=NOW + 3600, item=item["id"], quantity=(item.get("quantity") or 1) + 5)
    assert sync(settings, store, clock=NOW + 7200).result.ok  # the harness's sync does not normalize
    stale = last_normalization(store, ref.account, ref.livemode)
    assert stale is not None and stale["data_as_of"] < NOW + 7200
    report_month(settings, store, None, now=NOW + 7200)
    fresh = last_normalization(store, ref.account, ref.livemode)
    assert fresh is not None and fresh["data_as_of"] == NOW + 7200 and fresh["kind"] == "incremental"
    with store.reading() as conn:
        spans = conn.execute(select(SPANS.c.start).where(SPANS.c.subscription == sub["id"])).scalars().all()
    assert NOW + 3600 in spans  # the change, dated by its event, is in the facts the report read
