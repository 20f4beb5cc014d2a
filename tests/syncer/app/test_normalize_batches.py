"""Normalization streamed a batch of customers at a time gives exactly the facts of the
whole account normalized at once, and replaces the stored facts atomically."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update
from structlog.testing import capture_logs

from reports.facts import Facts
from syncer.app import batch_normalize
from syncer.app.accounts import AccountRef, platform_account
from syncer.app.reporting import normalize_account, normalize_settings
from syncer.app.settings import Settings
from syncer.db import raw_loader
from syncer.db.facts_store import (
    CHURNS,
    FAILURES,
    REVENUE,
    SPANS,
    FactCounts,
    last_normalization,
    load_facts,
)
from syncer.db.store import Store, table
from syncer.normalize import RawAccount, normalize
from syncer.sandbox.fake_stripe import FakeStripe
from tests.e2e.harness import NOW

FACT_KINDS = ("customers", "spans", "churns", "revenue", "failures")


@pytest.fixture
def synced(served: tuple[FakeStripe, Settings, Store]) -> tuple[Settings, Store, AccountRef]:
    _, settings, store = served
    return settings, store, platform_account(store)


def _whole(settings: Settings, store: Store, ref: AccountRef) -> Facts:
    raw = raw_loader.load_raw(store, ref.account, ref.livemode)
    wanted = {k: v for k, v in raw.items() if k in RawAccount.__dataclass_fields__}
    return normalize(RawAccount(**wanted, default_currency=ref.default_currency or "usd", account_name=ref.name),
                     normalize_settings(settings), now=NOW)


def _stored(store: Store, ref: AccountRef) -> Facts:
    return load_facts(store, ref.account, ref.livemode, default_currency="usd", account_name=None)


def _as_sets(facts: Facts) -> dict[str, list[str]]:
    return {kind: sorted(map(repr, getattr(facts, kind))) for kind in FACT_KINDS}


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_batches_give_the_facts_of_the_whole_account(
    synced: tuple[Settings, Store, AccountRef], monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    settings, store, ref = synced
    monkeypatch.setattr(raw_loader, "BATCH_CUSTOMERS", batch)
    whole = _whole(settings, store, ref)
    assert whole.spans and whole.revenue and whole.churns and whole.failures  # the account exercises every kind
    returned = normalize_account(settings, store, now=NOW).counts
    assert _as_sets(_stored(store, ref)) == {**_as_sets(whole), "customers": _as_sets(_stored(store, ref))["customers"]}
    assert (returned.customers, returned.spans) == (len(whole.customers), len(whole.spans))
    run = last_normalization(store, ref.account, ref.livemode)
    assert run is not None
    assert (run["customers"], run["spans"], run["churns"], run["revenue_lines"], run["failures"]) == (
        len(whole.customers), len(whole.spans), len(whole.churns), len(whole.revenue), len(whole.failures))


def test_batches_cover_every_customer_once(synced: tuple[Settings, Store, AccountRef]) -> None:
    _, store, ref = synced
    with store.reading() as conn:
        ranges = raw_loader.customer_ranges(conn, ref.account, ref.livemode, size=6)
        seen = [c["id"] for rng in ranges
                for c in raw_loader.fetch_batch(conn, ref.account, ref.livemode, rng)["customers"]]
        invoices = [i["id"] for rng in ranges
                    for i in raw_loader.fetch_batch(conn, ref.account, ref.livemode, rng)["invoices"]]
    raw = raw_loader.load_raw(store, ref.account, ref.livemode)
    assert ranges[-1].none and len(ranges) == len(raw["customers"]) // 6 + 2  # the last listed range is open-ended
    assert sorted(seen) == sorted(c["id"] for c in raw["customers"])
    assert sorted(invoices) == sorted(i["id"] for i in raw["invoices"])


def test_a_failed_normalization_keeps_the_previous_facts(
    synced: tuple[Settings, Store, AccountRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, ref = synced
    normalize_account(settings, store, now=NOW)
    before = _as_sets(_stored(store, ref))
    run_before = last_normalization(store, ref.account, ref.livemode)
    monkeypatch.setattr(raw_loader, "BATCH_CUSTOMERS", 5)
    calls = 0

    def failing(raw: RawAccount, *args: Any, **kwargs: Any) -> Facts:
        nonlocal calls
        calls += 1
        if calls == 3:  # two batches already written inside the transaction
            raise RuntimeError("boom")
        return normalize(raw, *args, **kwargs)

    monkeypatch.setattr(batch_normalize, "normalize", failing)
    with pytest.raises(RuntimeError, match="boom"):
        normalize_account(settings, store, now=NOW + 60, full=True)
    assert _as_sets(_stored(store, ref)) == before
    assert last_normalization(store, ref.account, ref.livemode) == run_before


@pytest.mark.parametrize("size", [6, 1000])  # several ranges, and one range for every customer
def test_an_object_of_no_customer_is_in_exactly_one_batch(
    synced: tuple[Settings, Store, AccountRef], size: int
) -> None:
    _, store, ref = synced
    charges = table("charges")
    with store.transaction() as conn:
        guest = conn.execute(select(charges.c.id).limit(1)).scalar_one()
        conn.execute(update(charges).where(charges.c.id == guest).values(customer=None))
    with store.reading() as conn:
        ranges = raw_loader.customer_ranges(conn, ref.account, ref.livemode, size=size)
        seen = [c["id"] for rng in ranges
                for c in raw_loader.fetch_batch(conn, ref.account, ref.livemode, rng)["charges"]]
    assert seen.count(guest) == 1
    assert sorted(seen) == sorted(c["id"] for c in raw_loader.load_raw(store, ref.account, ref.livemode)["charges"])


@pytest.mark.parametrize("size", [6, 1000])
def test_a_charge_of_no_customer_goes_with_the_invoice_its_payment_intent_paid(
    synced: tuple[Settings, Store, AccountRef], size: int
) -> None:
    _, store, ref = synced
    charges, payments, invoices = table("charges"), table("invoice_payments"), table("invoices")
    with store.transaction() as conn:
        paid = conn.execute(
            select(charges.c.id, invoices.c.customer)
            .join(payments, payments.c.payment_intent == charges.c.payment_intent)
            .join(invoices, invoices.c.id == payments.c.invoice).limit(1)).one()
        unpaid = conn.execute(select(charges.c.id).where(charges.c.id != paid.id).limit(1)).scalar_one()
        conn.execute(update(charges).where(charges.c.id.in_([paid.id, unpaid])).values(customer=None))
        conn.execute(update(charges).where(charges.c.id == unpaid).values(payment_intent="pi_paid_by_no_invoice"))
    with store.reading() as conn:
        ranges = raw_loader.customer_ranges(conn, ref.account, ref.livemode, size=size)
        batches = [raw_loader.fetch_batch(conn, ref.account, ref.livemode, rng) for rng in ranges]
    holding = {c["id"]: n for n, batch in enumerate(batches) for c in batch["charges"]}
    of_customer = {i["customer"]: n for n, batch in enumerate(batches) for i in batch["invoices"]}
    assert holding[paid.id] == of_customer[paid.customer]  # beside its invoice and payments
    assert holding[unpaid] == len(batches) - 1  # the range of no customer


def test_the_lookups_of_some_customers_hold_their_discounts_and_those_of_no_customer(
    synced: tuple[Settings, Store, AccountRef],
) -> None:
    """An incremental run's shared lookups: every price and coupon, but of the discounts
    only those its customers' objects can use, in the order the whole account's are in."""
    _, store, ref = synced
    discounts = table("discounts")
    with store.transaction() as conn:
        stray = conn.execute(select(discounts.c.id).order_by(discounts.c.id.desc()).limit(1)).scalar_one()
        conn.execute(update(discounts).where(discounts.c.id == stray).values(customer=None))
    with store.reading() as conn:
        every = raw_loader.load_shared(conn, ref.account, ref.livemode)
        column = {d: c for d, c in conn.execute(select(discounts.c.id, discounts.c.customer))}
        some = sorted({c for c in column.values() if c})[:2]
        only = raw_loader.load_shared(conn, ref.account, ref.livemode, customers=some)
    expected = [d for d, customer in sorted(column.items()) if customer in some or customer is None]
    assert stray in expected and len(column) > len(expected) > 1
    assert list(only["discounts"]) == expected
    assert list(every["discounts"]) == sorted(column)
    assert {k: v for k, v in only.items() if k != "discounts"} == {k: v for k, v in every.items() if k != "discounts"}


def test_customers_only_referenced_are_batched_too(synced: tuple[Settings, Store, AccountRef]) -> None:
    # ``nrr sync --resource invoices`` lists no customer: the batches still hold a few
    # customers' invoices each, not the whole account in one.
    _, store, ref = synced
    raw = raw_loader.load_raw(store, ref.account, ref.livemode)
    with store.transaction() as conn:
        conn.execute(table("customers").delete())
    with store.reading() as conn:
        ranges = raw_loader.customer_ranges(conn, ref.account, ref.livemode, size=6)
        batches = [raw_loader.fetch_batch(conn, ref.account, ref.livemode, rng)["invoices"] for rng in ranges]
    owners = [{i["customer"] for i in batch} for batch in batches]
    assert len(ranges) >= len(raw["customers"]) // 6
    assert max(map(len, owners)) <= 6
    assert sorted(i["id"] for batch in batches for i in batch) == sorted(i["id"] for i in raw["invoices"])


@pytest.mark.parametrize("size", [6, 1000])
def test_a_payment_whose_invoice_is_missing_or_of_no_customer_is_in_exactly_one_batch(
    synced: tuple[Settings, Store, AccountRef], size: int
) -> None:
    _, store, ref = synced
    invoices, payments = table("invoices"), table("invoice_payments")
    with store.transaction() as conn:
        orphan, guest = conn.execute(select(payments.c.id, payments.c.invoice).limit(2)).all()
        conn.execute(invoices.delete().where(invoices.c.id == orphan.invoice))
        conn.execute(update(invoices).where(invoices.c.id == guest.invoice).values(customer=None))
    with store.reading() as conn:
        ranges = raw_loader.customer_ranges(conn, ref.account, ref.livemode, size=size)
        batches = [raw_loader.fetch_batch(conn, ref.account, ref.livemode, rng)["invoice_payments"] for rng in ranges]
    seen = [p["id"] for batch in batches for p in batch]
    assert {p["id"] for p in batches[-1]} >= {orphan.id, guest.id}  # the range of no customer
    assert sorted(seen) == sorted(p["id"] for p in raw_loader.load_raw(store, ref.account, ref.livemode)["invoice_payments"])


# ---- batches read ahead on other connections (syncer.app.batch_normalize) ---------------------------


@pytest.fixture
def read_ahead(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Batches of 3 customers; the names of the threads that read them."""
    monkeypatch.setattr(raw_loader, "BATCH_CUSTOMERS", 3)
    readers: list[str] = []
    read = batch_normalize._read_range

    def spied(*args: Any) -> Any:
        readers.append(threading.current_thread().name)
        return read(*args)

    monkeypatch.setattr(batch_normalize, "_read_range", spied)
    return readers


def test_batches_read_ahead_give_the_facts_of_batches_read_in_turn_row_for_row(
    synced: tuple[Settings, Store, AccountRef], read_ahead: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, ref = synced
    with monkeypatch.context() as in_turn:
        in_turn.setattr(batch_normalize, "_worker_url", lambda store: None)  # as for a database in memory
        in_turn_counts = normalize_account(settings, store, now=NOW, full=True).counts
    in_turn_rows = _rows_in_order(store, ref)
    assert read_ahead == []
    counts = normalize_account(settings, store, now=NOW, full=True).counts
    assert all(in_turn_rows.values())
    assert _rows_in_order(store, ref) == in_turn_rows and counts == in_turn_counts
    assert len(read_ahead) >= 14 and {name.split("_")[0] for name in read_ahead} == {"normalize-read"}


def test_a_batch_that_fails_to_be_read_ahead_fails_the_run_and_the_previous_facts_stay(
    synced: tuple[Settings, Store, AccountRef], read_ahead: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, ref = synced
    normalize_account(settings, store, now=NOW)
    before, run_before = _rows_in_order(store, ref), last_normalization(store, ref.account, ref.livemode)
    read, reads = batch_normalize._read_range, len(read_ahead)

    def failing_on_the_fifth(*args: Any) -> Any:
        if len(read_ahead) == reads + 4:
            raise RuntimeError("disk I/O error")
        return read(*args)

    monkeypatch.setattr(batch_normalize, "_read_range", failing_on_the_fifth)
    with pytest.raises(RuntimeError, match="disk I/O error"):
        normalize_account(settings, store, now=NOW + 60, full=True)
    assert _rows_in_order(store, ref) == before
    assert last_normalization(store, ref.account, ref.livemode) == run_before
    assert not [t for t in threading.enumerate() if t.name.startswith("normalize-read")]
    assert gc.isenabled()  # the pause of the cycle collector ended with the run


# ---- a worker process beside this one (syncer.app.batch_normalize) ----------------------------------


def _rows_in_order(store: Store, ref: AccountRef) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored fact row of the account, in the order it was written."""
    out = {}
    with store.reading() as conn:
        for t in (SPANS, CHURNS, REVENUE, FAILURES):
            columns = [c for c in t.columns if c.name != "id"]
            out[t.name] = [tuple(r) for r in conn.execute(
                select(*columns).where(t.c.account == ref.account, t.c.livemode == ref.livemode).order_by(t.c.id))]
    return out


@pytest.fixture
def in_two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 3 customers, a worker from the second batch on."""
    monkeypatch.setattr(raw_loader, "BATCH_CUSTOMERS", 3)
    monkeypatch.setattr(batch_normalize, "WORKERS", 1)
    monkeypatch.setattr(batch_normalize, "PARALLEL_FROM_BATCHES", 2)


def _normalized_serially(
    settings: Settings, store: Store, ref: AccountRef, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, list[tuple[Any, ...]]], FactCounts]:
    """The rows and counts of a run without a worker: what a run with one must store."""
    with monkeypatch.context() as serially, capture_logs() as logs:
        serially.setattr(batch_normalize, "WORKERS", 0)
        counts = normalize_account(settings, store, now=NOW, full=True).counts
    assert not [e for e in logs if e["event"] == "normalize.batches"]  # no worker
    return _rows_in_order(store, ref), counts


def test_a_worker_process_stores_the_facts_of_a_serial_run_row_for_row(
    synced: tuple[Settings, Store, AccountRef], in_two_processes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, ref = synced
    serial, serial_counts = _normalized_serially(settings, store, ref, monkeypatch)
    with capture_logs() as logs:
        counts = normalize_account(settings, store, now=NOW, full=True).counts
    (tally,) = [e for e in logs if e["event"] == "normalize.batches"]
    assert tally["workers"] >= 1 and tally["here"] + tally["workers"] == tally["batches"] >= 14
    assert all(serial.values())
    assert _rows_in_order(store, ref) == serial
    assert counts == serial_counts


def test_a_worker_that_dies_fails_the_run_and_the_previous_facts_stay(
    synced: tuple[Settings, Store, AccountRef], in_two_processes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, ref = synced
    normalize_account(settings, store, now=NOW)
    before, run_before = _rows_in_order(store, ref), last_normalization(store, ref.account, ref.livemode)
    normalize_here = batch_normalize.normalize_range

    def kill_the_worker_then_normalize(*args: Any) -> Facts:
        for child in multiprocessing.active_children():
            os.kill(child.pid or 0, signal.SIGKILL)
        return normalize_here(*args)

    monkeypatch.setattr(batch_normalize, "normalize_range", kill_the_worker_then_normalize)
    with pytest.raises(batch_normalize.WorkerFailed) as failed:
        normalize_account(settings, store, now=NOW + 60, full=True)
    assert "\n" not in str(failed.value) and "run it again" in str(failed.value)
    assert failed.value.exit_code == 75  # RetryLater: the daemon tries again on its next tick
    assert _rows_in_order(store, ref) == before
    assert last_normalization(store, ref.account, ref.livemode) == run_before
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(("url", "worker_url"), [
    ("sqlite://", None),  # in memory: another process cannot see it
    ("sqlite:///:memory:", None),
    ("sqlite:////data/nrr.db", "sqlite:////data/nrr.db"),
    # The worker needs the password; it travels through the worker's pipe, not argv.
    ("postgresql+psycopg://nrr:s3cret@db:5432/nrr", "postgresql+psycopg://nrr:s3cret@db:5432/nrr"),
])
def test_a_worker_connects_only_to_a_database_it_can_see(url: str, worker_url: str | None) -> None:
    engine = create_engine(url)
    assert batch_normalize._worker_url(Store(engine)) == worker_url


def test_where_no_process_can_be_started_the_account_is_normalized_here_alone(
    synced: tuple[Settings, Store, AccountRef], in_two_processes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, ref = synced
    serial, _ = _normalized_serially(settings, store, ref, monkeypatch)

    class NoProcesses(ProcessPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            raise BlockingIOError(11, "Resource temporarily unavailable")  # fork/spawn at RLIMIT_NPROC

    monkeypatch.setattr(batch_normalize, "ProcessPoolExecutor", NoProcesses)
    with capture_logs() as logs:
        normalize_account(settings, store, now=NOW, full=True)
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["normalize.no_worker"]
    assert _rows_in_order(store, ref) == serial
