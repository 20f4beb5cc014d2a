"""``nrr db forget-customer``: one customer's rows go, everyone else's stay, reports still add up."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from reports.month import month_range
from syncer.app.cli import app
from syncer.app.reporting import normalize_account, report_month
from syncer.db.forget import DERIVED_TABLES, forget_customer, mentions_anywhere
from syncer.db.objects import OBJECT_TABLES
from syncer.db.store import Store, table
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from syncer.sync.projection import RowContext, project
from tests.e2e.harness import KEY, NOW, settings_for, sync

LAST_MONTH = "2026-10"  # NOW is in November 2026


def _counts(store: Store) -> dict[str, int]:
    with store.reading() as conn:
        return {name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in (*OBJECT_TABLES, *DERIVED_TABLES)}


def _richest_customer(store: Store) -> str:
    """The customer with the most rows: subscriptions, invoices and charges all exercised."""
    t = table("invoices")
    with store.reading() as conn:
        per = Counter(c for (c,) in conn.execute(select(t.c.customer)) if c)
    return per.most_common(1)[0][0]


@pytest.fixture
def synced(store: Store, database_url: str) -> tuple[Store, Any]:
    account = generate_account(customers=20, seed=11, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        settings = settings_for(fake, database_url)
        assert sync(settings, store, clock=NOW).result.ok
    normalize_account(settings, store, now=NOW)
    return store, settings


def test_forget_removes_only_that_customer_and_reports_still_reconcile(synced: tuple[Store, Any]) -> None:
    store, settings = synced
    customer = _richest_customer(store)
    before = _counts(store)
    assert mentions_anywhere(store, customer).keys() >= {"customers", "invoices", "mrr_spans", "events"}

    counts = forget_customer(store, customer)

    assert mentions_anywhere(store, customer) == {}
    after = _counts(store)
    for name in before:
        assert before[name] - after[name] == counts.get(name, 0), name
    for name in ("customers", "subscriptions", "subscription_items", "invoices", "invoice_lines",
                 "charges", "events", "mrr_spans"):
        assert counts[name] > 0, name
    assert counts["customers"] == 1
    # Everyone else is still there, with their children.
    assert after["customers"] == before["customers"] - 1 > 0
    assert after["invoice_lines"] > 0 and after["mrr_spans"] > 0
    # Objects that belonged to the customer only through a parent went too.
    with store.reading() as conn:
        inv, lines = table("invoices"), table("invoice_lines")
        orphans = conn.execute(select(func.count()).select_from(lines)
                               .where(lines.c.invoice.not_in(select(inv.c.id)))).scalar_one()
    assert orphans == 0

    # Reports from the remaining facts, and after a fresh normalization, still reconcile.
    for rebuild in (False, True):
        if rebuild:
            normalize_account(settings, store, now=NOW)
            assert mentions_anywhere(store, customer) == {}
        for month in month_range(LAST_MONTH, 6):
            m = report_month(settings, store, month, now=NOW).mrr
            assert m.end == m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn + m.fx_impact
            assert customer not in json.dumps([str(x) for x in report_month(settings, store, month, now=NOW).movements])

    # Forgetting again finds nothing.
    assert sum(forget_customer(store, customer).values()) == 0


def test_cli_forget_customer_prints_counts(synced: tuple[Store, Any], database_url: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = synced
    monkeypatch.chdir(tmp_path)  # no stray .env
    customer = _richest_customer(store)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOG_FORMAT", "json")
    result = CliRunner().invoke(app, ["db", "forget-customer", customer])
    assert result.exit_code == 0, result.output
    assert "customers: 1 deleted" in result.output
    assert "Stripe still has the customer" in result.output
    assert mentions_anywhere(store, customer) == {}

    result = CliRunner().invoke(app, ["db", "forget-customer", "sub_123"])
    assert result.exit_code != 0
    assert "not a customer id" in result.output


def test_an_accounts_v2_customer_is_forgotten_by_its_account_id(
    store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = RowContext("acct_platform", False, "2026-10-28.endive", NOW)
    sub = {"id": "sub_v2", "object": "subscription", "customer": None, "customer_account": "acct_1Billed",
           "discounts": [{"id": "di_v2", "object": "discount", "customer": None, "customer_account": "acct_1Billed",
                          "subscription": "sub_v2", "source": {"coupon": "C", "type": "coupon"}}],
           "items": {"object": "list", "has_more": False,
                     "data": [{"id": "si_v2", "object": "subscription_item", "subscription": "sub_v2"}]}}
    invoice = {"id": "in_v2", "object": "invoice", "customer": None, "customer_account": "acct_1Billed",
               "lines": {"object": "list", "has_more": False, "data": [{"id": "il_v2", "object": "line_item"}]}}
    other = {"id": "sub_other", "object": "subscription", "customer": "cus_other",
             "items": {"object": "list", "has_more": False, "data": []}}
    with store.transaction() as conn:
        for resource, obj in (("subscriptions", sub), ("invoices", invoice), ("subscriptions", other)):
            store.upsert_rows(conn, project(resource, obj, ctx))

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["db", "forget-customer", "acct_1Billed"])

    assert result.exit_code == 0, result.output
    for line in ("subscriptions: 1 deleted", "invoices: 1 deleted", "subscription_items: 1 deleted",
                 "invoice_lines: 1 deleted", "discounts: 1 deleted"):
        assert line in result.output
    assert mentions_anywhere(store, "acct_1Billed") == {}
    assert _ids(store, "subscriptions") == ["sub_other"]


def _ids(store: Store, name: str) -> list[str]:
    t = table(name)
    with store.reading() as conn:
        return list(conn.execute(select(t.c.id)).scalars())
