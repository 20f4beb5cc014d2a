"""Helpers for end-to-end tests: a generated account behind the fake Stripe, synced."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from syncer.app import SyncOutcome, sync_stripe
from syncer.db.store import Store, table
from syncer.resources import RESOURCES
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account
from syncer.settings import Settings, load_settings

KEY = "sk_test_51SandboxE2eKey0000000000000000"
NOW = 1795000000  # 2026-11-18, a fixed "today" for generated accounts


def settings_for(fake: FakeStripe, database_url: str, **more: Any) -> Settings:
    return load_settings(
        _env_file=None,
        stripe_api_key=KEY,
        stripe_api_base=fake.base_url,
        database_url=database_url,
        stripe_max_rps=more.pop("stripe_max_rps", 1000),
        stripe_retry_budget_seconds=more.pop("stripe_retry_budget_seconds", 30),
        **more,
    )


def sync(settings: Settings, store: Store, clock: float | None = None, **kw: Any) -> SyncOutcome:
    if clock is not None:
        kw["clock"] = lambda: clock
    return sync_stripe(settings, store, **kw)


def stored(store: Store, name: str, *, include_deleted: bool = False) -> dict[str, dict[str, Any]]:
    """id -> raw object of every stored row of a table."""
    t = table(name)
    q = select(t.c.id, t.c.raw)
    if not include_deleted:
        q = q.where(t.c.deleted_at.is_(None))
    with store.reading() as conn:
        return {i: json.loads(raw) for i, raw in conn.execute(q)}


def child_ids(store: Store, name: str, parent_column: str) -> dict[str, set[str]]:
    t = table(name)
    out: dict[str, set[str]] = {}
    with store.reading() as conn:
        for parent, cid in conn.execute(select(t.c[parent_column], t.c.id).where(t.c.deleted_at.is_(None))):
            out.setdefault(parent, set()).add(cid)
    return out


def truth_ids(account: Account, name: str) -> set[str]:
    objs: Iterable[dict[str, Any]] = account.events if name == "events" else account.objects(name)
    return {o["id"] for o in objs}


def assert_matches_truth(store: Store, account: Account, fake: FakeStripe) -> None:
    """Every object of the account is stored, exactly as the server renders it in a list."""
    for resource in RESOURCES:
        rows = stored(store, resource.name)
        assert set(rows) == truth_ids(account, resource.name), resource.name
        expand = tuple(e.removeprefix("data.") for e in resource.expand)
        for obj in account.objects(resource.name):
            assert rows[obj["id"]] == fake._store.render(resource.name, obj, expand), (resource.name, obj["id"])
    lines = child_ids(store, "invoice_lines", "invoice")
    for inv in account.invoices:
        assert lines.get(inv["id"], set()) == {line["id"] for line in inv["lines"]["data"]}, inv["id"]
    items = child_ids(store, "subscription_items", "subscription")
    for sub in account.subscriptions:
        assert items.get(sub["id"], set()) == {i["id"] for i in sub["items"]["data"]}, sub["id"]
    cn_lines = child_ids(store, "credit_note_lines", "credit_note")
    for cn in account.credit_notes:
        assert cn_lines.get(cn["id"], set()) == {line["id"] for line in cn["lines"]["data"]}, cn["id"]
