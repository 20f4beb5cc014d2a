"""Derived facts round-trip through the database on both backends."""

from __future__ import annotations

from dataclasses import replace

from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    Facts,
    MrrSpan,
    PaymentFailure,
    RevenueKind,
    RevenueLine,
)
from syncer.db.facts_store import (
    Labels,
    first_mrr_instant,
    iter_customer_facts,
    last_normalization,
    load_facts,
    replace_facts,
)
from syncer.db.store import Store
from syncer.sync.projection import RowContext, project

SPAN = MrrSpan("cus_1", "sub_1", "si_1", "price_1", "usd", 100, None, 5000, 6000, Cause.NEW_ITEM)
CHURN = ChurnEvent("cus_2", "sub_2", 200, 150, ChurnKind.VOLUNTARY, "cancellation_requested", False,
                   "cancellation_requested", "too_expensive", "a comment")
LINE = RevenueLine(300, "cus_1", "il_1", RevenueKind.RECURRING, 5000, "usd")
FAIL = PaymentFailure("in_1", "cus_1", "sub_1", "usd", 5000, 400, 2, 500, None)


def facts(*spans: MrrSpan) -> Facts:
    return Facts(customers=(), spans=spans, churns=(CHURN,), revenue=(LINE,), failures=(FAIL,), default_currency="usd")


def test_replace_then_load_gives_the_same_facts(store: Store) -> None:
    with store.transaction() as conn:
        store.upsert_rows(conn, project("customers", {"id": "cus_1", "object": "customer", "name": "Ada", "created": 1},
                                        RowContext("acct_1", False, "v", 1)))
    replace_facts(store, "acct_1", False, facts(SPAN), data_as_of=1000, now=1001)
    loaded = load_facts(store, "acct_1", False, default_currency="usd", account_name="Co")
    assert loaded.spans == (SPAN,) and loaded.churns == (CHURN,)
    assert loaded.revenue == (LINE,) and loaded.failures == (FAIL,)
    assert [c.name for c in loaded.customers] == ["Ada"]
    assert last_normalization(store, "acct_1", False)["data_as_of"] == 1000  # type: ignore[index]

    # A second normalization replaces, never adds.
    other = MrrSpan("cus_1", "sub_1", "si_1", "price_2", "usd", 100, 900, 7000, 7000, Cause.PRICE_CHANGE)
    replace_facts(store, "acct_1", False, facts(other), data_as_of=2000, now=2001)
    assert load_facts(store, "acct_1", False, default_currency="usd", account_name=None).spans == (other,)
    # Other accounts are untouched.
    assert load_facts(store, "acct_2", False, default_currency="usd", account_name=None).spans == ()


def test_plans_are_prices_labelled_with_their_product_name(store: Store) -> None:
    ctx = RowContext("acct_1", False, "v", 1)
    objects = [
        ("products", {"id": "prod_pro", "object": "product", "name": "Pro", "created": 1}),
        ("products", {"id": "prod_other_acct", "object": "product", "name": "Elsewhere", "created": 1}),
        ("prices", {"id": "price_pro_m", "object": "price", "product": "prod_pro", "created": 1,
                    "recurring": {"interval": "month", "interval_count": 1}}),
        ("prices", {"id": "price_pro_y", "object": "price", "product": {"id": "prod_pro", "object": "product"},
                    "created": 1, "recurring": {"interval": "month", "interval_count": 12}}),
        ("prices", {"id": "price_orphan", "object": "price", "product": "prod_missing", "created": 1}),
    ]
    with store.transaction() as conn:
        for resource, obj in objects:
            store.upsert_rows(conn, project(resource, obj, ctx))
        # The same price id in another account must not leak into this one's labels.
        store.upsert_rows(conn, project("prices", {"id": "price_x", "object": "price", "product": "prod_other_acct",
                                                   "created": 1}, RowContext("acct_2", False, "v", 1)))
    loaded = load_facts(store, "acct_1", False, default_currency="usd", account_name=None)
    # A price of a product not synced keeps its id as its name; one-time prices have no interval.
    assert sorted((p.price, p.name, p.interval) for p in loaded.plans) == [
        ("price_orphan", "price_orphan", None), ("price_pro_m", "Pro", "month"), ("price_pro_y", "Pro", "12 months")]


def test_batches_hold_what_segments_read_when_asked(store: Store) -> None:
    # Countries (the billing address's, else the shipping address's) and metadata values
    # are read by the database from the stored objects, on both backends.
    ctx = RowContext("acct_1", False, "v", 1)
    customers = [
        {"id": "cus_1", "address": {"country": "FR"}, "metadata": {"tier": "gold", "team size": "12"}},
        {"id": "cus_2", "address": None, "shipping": {"address": {"country": "DE"}}, "metadata": {"tier": ""}},
        {"id": "cus_3", "metadata": {}},
    ]
    subscriptions = [
        {"id": "sub_1", "customer": "cus_1", "metadata": {"tier": "silver"}},
        {"id": "sub_3", "customer": "cus_3", "metadata": {"owner": "Zoë"}},
    ]
    with store.transaction() as conn:
        for c in customers:
            store.upsert_rows(conn, project("customers", {"object": "customer", "created": 1, **c}, ctx))
        for sub in subscriptions:
            store.upsert_rows(conn, project("subscriptions", {"object": "subscription", "created": 1,
                                                              "status": "active", **sub}, ctx))
    spans = tuple(replace(SPAN, customer=c["id"], subscription=f"sub_{c['id'][-1]}") for c in customers)
    replace_facts(store, "acct_1", False, Facts((), spans, (), (), (), "usd"), data_as_of=1, now=1)
    labels = Labels(country=True, customer_keys=("team size", "tier"), subscription_keys=("owner", "tier"))
    with store.reading() as conn:
        (batch,) = iter_customer_facts(conn, "acct_1", False, labels=labels)
        (plain,) = iter_customer_facts(conn, "acct_1", False)
    assert [(c.id, c.country, c.metadata) for c in batch.customers] == [
        ("cus_1", "FR", (("team size", "12"), ("tier", "gold"))), ("cus_2", "DE", ()), ("cus_3", None, ())]
    assert sorted((s.customer, s.subscription, s.metadata) for s in batch.subscriptions) == [
        ("cus_1", "sub_1", (("tier", "silver"),)), ("cus_3", "sub_3", (("owner", "Zoë"),))]
    # Without labels nothing more is read.
    assert [(c.country, c.metadata) for c in plain.customers] == [(None, ())] * 3 and plain.subscriptions == ()


def test_customer_batches_hold_each_customer_whole_and_cover_the_account(store: Store) -> None:
    # A report reads the facts a batch of customers at a time: every fact of a customer
    # in one batch, every fact in some batch (a customer with a failure and no span too),
    # no fact of another account.
    def span(cus: str, k: int) -> MrrSpan:
        return MrrSpan(cus, f"sub_{cus}", f"si_{cus}_{k}", None, "usd", 100 * k, None, 1000, 1000, Cause.NEW_ITEM)

    with_spans = [f"cus_{i}" for i in (1, 2, 3, 5, 7, 8, 9)]
    spans = tuple(span(c, k) for c in with_spans for k in (1, 2))
    churns = tuple(replace(CHURN, customer=c, subscription=f"sub_{c}") for c in ("cus_2", "cus_9"))
    failures = tuple(replace(FAIL, invoice=f"in_{c}", customer=c) for c in ("cus_0", "cus_1", "cus_4", "cus_99"))
    with store.transaction() as conn:
        for c in ("cus_1", "cus_4", "cus_8"):
            store.upsert_rows(conn, project("customers", {"id": c, "object": "customer", "name": c.upper(),
                                                          "created": 1}, RowContext("acct_1", False, "v", 1)))
    replace_facts(store, "acct_1", False, Facts((), spans, churns, (), failures, "usd"), data_as_of=1, now=1)
    replace_facts(store, "acct_2", False, Facts((), (span("cus_3", 9),), (), (), (FAIL,), "usd"), data_as_of=1, now=1)

    with store.reading() as conn:
        batches = list(iter_customer_facts(conn, "acct_1", False, size=3))
    assert len(batches) == 3  # 7 customers with spans, 3 at a time
    owners = [{f.customer for f in (*b.spans, *b.churns, *b.failures)} | {c.id for c in b.customers} for b in batches]
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1:])
    assert sorted((s for b in batches for s in b.spans), key=repr) == sorted(spans, key=repr)
    assert sorted(c.customer for b in batches for c in b.churns) == ["cus_2", "cus_9"]
    assert sorted(f.customer for b in batches for f in b.failures) == ["cus_0", "cus_1", "cus_4", "cus_99"]
    assert sorted(c.name or "" for b in batches for c in b.customers) == ["CUS_1", "CUS_4", "CUS_8"]
    with store.reading() as conn:
        assert first_mrr_instant(conn, "acct_1", False) == 100
        assert first_mrr_instant(conn, "acct_3", False) is None


def test_a_snapshot_reads_every_batch_from_one_normalization(store: Store) -> None:
    # A normalization committing while a report reads its batches must not show in the
    # later batches: the report would mix two sets of facts.
    def spans(mrr: int) -> tuple[MrrSpan, ...]:
        return tuple(MrrSpan(f"cus_{i}", f"sub_{i}", f"si_{i}", None, "usd", 100, None, mrr, mrr, Cause.NEW_ITEM)
                     for i in range(6))

    replace_facts(store, "acct_1", False, Facts((), spans(1000), (), (), (), "usd"), data_as_of=1, now=1)
    with store.snapshot() as conn:
        batches = iter_customer_facts(conn, "acct_1", False, size=2)
        first = next(batches)
        replace_facts(store, "acct_1", False, Facts((), spans(2000), (), (), (), "usd"), data_as_of=2, now=2)
        rest = list(batches)
    assert {s.mrr for b in (first, *rest) for s in b.spans} == {1000}
    assert sum(len(b.spans) for b in (first, *rest)) == 6
    with store.snapshot() as conn:
        assert {s.mrr for b in iter_customer_facts(conn, "acct_1", False) for s in b.spans} == {2000}
