"""Synced, normalized and reported: the numbers against the generator's own timeline.

The generator records every MRR change it makes (its truth); a report computed from what
the sync stored must give every customer the same MRR at every month boundary, and
every month's roll-forward must reconcile to the cent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reports.metrics import mrr_by_customer
from reports.month import month_bounds, month_range
from syncer.app.accounts import platform_account
from syncer.app.reporting import normalize_account
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account, truth_mrr_all
from tests.e2e.harness import KEY, NOW, settings_for, sync
from tests.syncer.normalize.generator_truth import expected_and_facts

LAST_MONTH = "2026-10"  # NOW is in November 2026


@pytest.fixture
def synced(store: Store, database_url: str) -> Iterator[tuple[Account, Store, object]]:
    account = generate_account(customers=50, seed=5, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        settings = settings_for(fake, database_url)
        assert sync(settings, store, clock=NOW).result.ok
        normalize_account(settings, store, now=NOW)
        yield account, store, settings


def test_customer_mrr_matches_the_truth_at_every_month_boundary(synced: tuple[Account, Store, object]) -> None:
    account, store, _ = synced
    from syncer.db.facts_store import load_facts

    ref = platform_account(store)
    facts = load_facts(store, ref.account, ref.livemode, default_currency="usd", account_name=None)
    mismatches = []
    for month in month_range(LAST_MONTH, 18):
        start, _ = month_bounds(month, "UTC")
        truth = {c: v for c, v in truth_mrr_all(account, start).items() if v}
        ours = {c: sum(v.values()) for c, v in mrr_by_customer(facts, start).items() if sum(v.values())}
        for customer in set(truth) | set(ours):
            expected, got = expected_and_facts(account, facts, customer, start)
            if expected != got:
                mismatches.append((month, customer, expected, got))
    assert mismatches == []


def test_every_month_reconciles(synced: tuple[Account, Store, object]) -> None:
    _, store, settings = synced
    from syncer.app.reporting import report_month

    for month in month_range(LAST_MONTH, 12):
        report = report_month(settings, store, month, now=NOW)  # type: ignore[arg-type]
        m = report.mrr
        assert m.end == m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn + m.fx_impact


def test_a_trend_sums_revenue_in_the_database_to_the_same_cents_as_line_by_line(
    synced: tuple[Account, Store, object]
) -> None:
    _, store, settings = synced
    from reports.facts import RevenueKind
    from syncer.app.reporting import fx_table, report_months
    from syncer.db.facts_store import load_facts

    ref = platform_account(store)
    lines = load_facts(store, ref.account, ref.livemode, default_currency="usd", account_name=None).revenue
    fx = fx_table(settings, store, [ref], "usd")  # type: ignore[arg-type]
    assert {line.currency for line in lines} - {"usd"}, "the account bills in more than one currency"
    reports = report_months(settings, store, LAST_MONTH, now=NOW, count=12)  # type: ignore[arg-type]
    assert [r.month for r in reports] == month_range(LAST_MONTH, 12)
    for report in reports:
        start, end = month_bounds(report.month, "UTC")
        by_kind = {kind: sum(fx.convert(x.amount, x.currency, x.at) for x in lines if start <= x.at < end and x.kind == kind)
                   for kind in RevenueKind}
        v = report.revenue
        assert (v.recurring, v.usage, v.one_time, v.refunds, v.credit_notes) == (
            by_kind[RevenueKind.RECURRING], by_kind[RevenueKind.USAGE], by_kind[RevenueKind.ONE_TIME],
            by_kind[RevenueKind.REFUND], by_kind[RevenueKind.CREDIT_NOTE])
    assert any(r.revenue.recurring for r in reports)


def test_a_report_read_a_few_customers_at_a_time_equals_one_from_every_fact_at_once(
    synced: tuple[Account, Store, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `nrr report` streams the facts in batches of customers (flat memory); the same
    # months computed from all the facts in memory must come out identical, field for field.
    _, store, settings = synced
    from reports.metrics import MetricSettings, compute_month, history
    from syncer.app.reporting import fx_table, report_months
    from syncer.db import facts_store

    monkeypatch.setattr(facts_store, "REPORT_BATCH_CUSTOMERS", 7)
    streamed = report_months(settings, store, LAST_MONTH, now=NOW, count=13)  # type: ignore[arg-type]
    ref = platform_account(store)
    with store.reading() as conn:
        batches = list(facts_store.iter_customer_facts(conn, ref.account, ref.livemode))
    assert len(batches) >= 7  # 50 customers, 7 at a time

    months = month_range(LAST_MONTH, 13)
    facts = facts_store.load_facts(store, ref.account, ref.livemode, default_currency="usd", account_name=ref.name,
                                   revenue_months=[month_bounds(m, "UTC") for m in months], revenue_summed_in="usd")
    fx = fx_table(settings, store, [ref], "usd")  # type: ignore[arg-type]
    ms = MetricSettings(timezone="UTC")
    last = streamed[-1]
    whole = [*history(facts, months[:-1], ms, fx, data_as_of=last.data_as_of),
             compute_month(facts, LAST_MONTH, ms, fx, status=last.status, data_as_of=last.data_as_of)]
    assert streamed == whole
    assert sum(len(r.movements) for r in streamed) > 13 and any(r.top_movers for r in streamed)
