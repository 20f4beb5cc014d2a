"""What the normalizer reads back equals what Stripe holds: complete child lists."""

from __future__ import annotations

from syncer.db.raw_loader import load_raw
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import KEY, NOW, settings_for, sync


def test_load_raw_gives_whole_objects(store: Store, database_url: str) -> None:
    account = generate_account(customers=30, seed=21, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        assert sync(settings_for(fake, database_url), store, clock=NOW).result.ok
    raw = load_raw(store, account.account["id"], False)
    invoices = {i["id"]: i for i in raw["invoices"]}
    assert set(invoices) == {i["id"] for i in account.invoices}
    for inv in account.invoices:
        assert [line["id"] for line in invoices[inv["id"]]["lines"]["data"]] == [line["id"] for line in inv["lines"]["data"]]
        assert invoices[inv["id"]]["lines"]["has_more"] is False
    subs = {s["id"]: s for s in raw["subscriptions"]}
    for sub in account.subscriptions:
        assert [i["id"] for i in subs[sub["id"]]["items"]["data"]] == [i["id"] for i in sub["items"]["data"]]
    assert set(raw["discounts"]) >= {d for s in account.subscriptions for d in s.get("discounts", []) if isinstance(d, str)}
    assert all(e["type"].startswith("customer.subscription.") for e in raw["events"])
    # Customers deleted before the first sync are not listed by Stripe at all.
    deleted = set(account.deleted.get("customers", {}))
    assert not deleted & {c["id"] for c in raw["customers"] if not c.get("deleted")}
