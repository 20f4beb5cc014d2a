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
from syncer.db.deliveries import insert_sending, list_deliveries
from syncer.db.forget import DERIVED_TABLES, forget_customer, mentions_anywhere
from syncer.db.objects import OBJECT_TABLES
from syncer.db.store import Store, table
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from syncer.stripe.resources import ANY_TABLE, OWNERS, Owner
from syncer.sync.projection import RowContext, merge_rows, project, project_discounts
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
    # A movement alert sent about them (named after them), and one about someone else.
    with store.transaction() as conn:
        for who in (customer, f"{customer}x"):
            insert_sending(conn, account="acct_1", month=f"alert/{who}/1790000000", channel="slack", target="#rev",
                           snapshot_json='{"name": "Ada"}', now=NOW, forced=False)
    before = _counts(store)
    assert mentions_anywhere(store, customer).keys() >= {"customers", "invoices", "mrr_spans", "events"}

    counts = forget_customer(store, customer)
    assert counts["deliveries"] == 1
    with store.reading() as conn:
        assert [d.month for d in list_deliveries(conn)] == [f"alert/{customer}x/1790000000"]

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


# ---- what the owner declarations say is a customer's ------------------------------------------


def _listed(*data: dict[str, Any]) -> dict[str, Any]:
    return {"object": "list", "has_more": False, "data": list(data)}


# Customer A's objects reach them every way the declarations allow; B's and the
# account-wide ones stay. ``gone``: the ids forgetting A must delete.
_OBJECTS: dict[str, list[dict[str, Any]]] = {
    "customers": [{"id": "cus_A", "object": "customer"}, {"id": "cus_B", "object": "customer"}],
    "products": [{"id": "prod_1", "object": "product"}],
    "promotion_codes": [{"id": "promo_A", "object": "promotion_code", "customer": "cus_A"},
                        {"id": "promo_all", "object": "promotion_code", "customer": None}],
    "subscriptions": [
        {"id": "sub_A", "object": "subscription", "customer": "cus_A",
         "items": _listed({"id": "si_A", "object": "subscription_item", "subscription": "sub_A"})},
        {"id": "sub_B", "object": "subscription", "customer": "cus_B",
         "items": _listed({"id": "si_B", "object": "subscription_item", "subscription": "sub_B"})},
    ],
    "invoices": [
        {"id": "in_A", "object": "invoice", "customer": "cus_A", "lines": _listed({"id": "il_A", "object": "line_item"})},
        {"id": "in_B", "object": "invoice", "customer": "cus_B", "lines": _listed({"id": "il_B", "object": "line_item"})},
    ],
    "invoice_items": [{"id": "ii_A", "object": "invoiceitem", "customer": None, "invoice": "in_A"},
                      {"id": "ii_B", "object": "invoiceitem", "customer": "cus_B", "invoice": "in_B"}],
    "invoice_payments": [
        {"id": "inpay_A", "object": "invoice_payment", "invoice": "in_A",
         "payment": {"type": "payment_intent", "payment_intent": "pi_A"}},
        {"id": "inpay_B", "object": "invoice_payment", "invoice": "in_B",
         "payment": {"type": "payment_intent", "payment_intent": "pi_B"}},
    ],
    "charges": [
        # An Accounts v2 customer's charge names no customer: the invoice its payment intent paid does.
        {"id": "ch_v2", "object": "charge", "customer": None, "payment_intent": "pi_A"},
        {"id": "ch_legacy", "object": "charge", "customer": None, "invoice": "in_A"},
        {"id": "ch_B", "object": "charge", "customer": "cus_B", "payment_intent": "pi_B"},
    ],
    "refunds": [{"id": "re_A", "object": "refund", "charge": None, "payment_intent": "pi_A"},
                {"id": "re_B", "object": "refund", "charge": "ch_B"}],
    "credit_notes": [
        {"id": "cn_A", "object": "credit_note", "customer": None, "invoice": "in_A",
         "lines": _listed({"id": "cnl_A", "object": "credit_note_line_item"})},
    ],
    "disputes": [{"id": "dp_A", "object": "dispute", "charge": "ch_v2"},
                 {"id": "dp_B", "object": "dispute", "charge": "ch_B"}],
    "events": [
        {"id": "evt_pi", "object": "event", "type": "payment_intent.succeeded",
         "data": {"object": {"id": "pi_A", "object": "payment_intent"}}},
        {"id": "evt_ch", "object": "event", "type": "charge.updated",
         "data": {"object": {"id": "ch_legacy", "object": "charge", "customer": None}}},
        {"id": "evt_mention", "object": "event", "type": "product.updated",
         "data": {"object": {"id": "prod_1", "object": "product", "metadata": {"owner": "cus_A"}}}},
        {"id": "evt_B", "object": "event", "type": "customer.subscription.updated",
         "data": {"object": {"id": "sub_B", "object": "subscription", "customer": "cus_B"}}},
    ],
}
_GONE = {
    "customers": {"cus_A"}, "promotion_codes": {"promo_A"}, "subscriptions": {"sub_A"},
    "subscription_items": {"si_A"}, "invoices": {"in_A"}, "invoice_lines": {"il_A"}, "invoice_items": {"ii_A"},
    "invoice_payments": {"inpay_A"}, "charges": {"ch_v2", "ch_legacy"}, "refunds": {"re_A"},
    "credit_notes": {"cn_A"}, "credit_note_lines": {"cnl_A"}, "disputes": {"dp_A"}, "discounts": {"di_A"},
    "events": {"evt_pi", "evt_ch", "evt_mention"},
}


def _store_objects(store: Store) -> None:
    ctx = RowContext("acct_platform", False, "2026-10-28.endive", NOW)
    parts = [project(name, obj, ctx) for name, objs in _OBJECTS.items() for obj in objs]
    # A discount that names no customer, only the subscription it applies to (legacy).
    orphan = {"id": "di_A", "object": "discount", "customer": None, "source": {"coupon": "C", "type": "coupon"}}
    theirs = {"id": "di_B", "object": "discount", "customer": "cus_B", "subscription": "sub_B",
              "source": {"coupon": "C", "type": "coupon"}}
    parts += [project_discounts([orphan], {"subscription": "sub_A"}, ctx, owned=()),
              project_discounts([theirs], {}, ctx)]
    with store.transaction() as conn:
        store.upsert_rows(conn, merge_rows(parts))


def _rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    with store.reading() as conn:
        return {name: [dict(r) for r in conn.execute(select(table(name))).mappings()] for name in OBJECT_TABLES}


def _owned_by_declarations(rows: dict[str, list[dict[str, Any]]], customer: str) -> dict[str, set[str]]:
    """What the declarations give ``customer``, found over the rows in memory until nothing
    more is found (an evaluation of ``OWNERS`` independent of ``forget``'s queries)."""
    owned: dict[str, set[str]] = {name: set() for name, owner in OWNERS.items() if owner is not None}
    while True:
        found = {name: {r["id"] for r in rows[name] if _belongs(r, owner, owned, rows, customer)}
                 for name, owner in OWNERS.items() if owner is not None}
        if found == owned:
            return owned
        owned = found


def _belongs(row: dict[str, Any], owner: Owner, owned: dict[str, set[str]],
             rows: dict[str, list[dict[str, Any]]], customer: str) -> bool:
    if owner.column is not None and row[owner.column] == customer:
        return True
    for link in owner.links:
        linked = owned if link.table == ANY_TABLE else {link.table: owned[link.table]}
        keys = {"id", *(lk.key for o in OWNERS.values() if o for lk in o.links)} if link.table == ANY_TABLE else {link.key}
        values = {r[k] for t, ids in linked.items() for r in rows[t] if r["id"] in ids for k in keys if k in r}
        if row[link.column] is not None and row[link.column] in values:
            return True
    return False


def test_forget_deletes_exactly_the_rows_the_owner_declarations_give_the_customer(store: Store) -> None:
    _store_objects(store)
    before = _rows(store)
    declared = _owned_by_declarations(before, "cus_A")

    counts = forget_customer(store, "cus_A")

    after = {name: {r["id"] for r in rs} for name, rs in _rows(store).items()}
    gone = {name: ids for name, rs in before.items() if (ids := {r["id"] for r in rs} - after[name])}
    assert gone == _GONE
    # Every row the declarations give them; events also when their body names the customer.
    assert {name: ids for name, ids in declared.items() if ids} == _GONE | {"events": {"evt_pi", "evt_ch"}}
    assert {name: n for name, n in counts.items() if n} == {name: len(ids) for name, ids in _GONE.items()}
    assert mentions_anywhere(store, "cus_A") == {}
    assert {"cus_B", "sub_B", "in_B", "ch_B", "re_B", "dp_B", "di_B", "promo_all", "prod_1"} <= set().union(*after.values())
