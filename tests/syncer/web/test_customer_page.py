"""The dashboard's customer page: exactly the invoices, payments and credit notes the
database holds for the customer, to the cent; failed payments with their reason; a
connected account's customers, and all accounts consolidated (``?account=``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from reports.month import month_range
from syncer.app.reporting import report_month
from syncer.app.settings import Settings
from syncer.db.documents import customer_documents
from syncer.db.store import Store, table
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.web import customer
from syncer.web.app import build_app
from syncer.web.security import hash_password
from tests.e2e.harness import KEY, NOW, settings_for, sync

PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)
CONNECTED = "acct_1ConnectedNrr0001"
MONTH = "2026-10"
HOSTILE = "<script>alert(1)</script> & Co"


@pytest.fixture(scope="module")
def accounts() -> tuple[Account, Account]:
    """The platform's account and a connected one whose first customers share an e-mail
    address (one customer when consolidated); a platform customer's name is markup."""
    platform = generate_account(customers=15, seed=3, now=NOW)
    other = generate_account(customers=10, seed=7, now=NOW)
    other.customers[0]["email"] = platform.customers[0]["email"].upper()
    platform.customers[1]["name"] = HOSTILE
    return platform, other


@pytest.fixture
def synced(accounts: tuple[Account, Account], store: Store, database_url: str) -> Iterator[tuple[Settings, Store]]:
    platform, other = accounts
    with FakeStripe(platform, api_key=KEY, connected={CONNECTED: other}) as fake:
        fake.start()
        settings = settings_for(fake, database_url, web_password_hash=HASH, stripe_accounts=CONNECTED)
        assert sync(settings, store, clock=NOW).result.ok
    report_month(settings, store, MONTH, now=NOW, account="all")  # normalizes every account
    yield settings, store


@pytest.fixture
def client(synced: tuple[Settings, Store]) -> Iterator[TestClient]:
    settings, store = synced
    with TestClient(build_app(settings, store, clock=lambda: NOW, session_secret="s"),
                    follow_redirects=False) as web:
        assert web.post("/login", data={"password": PASSWORD}).status_code == 303
        yield web


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table class="grid" id="{table_id}">(.*?)</table>', html, re.S)
    assert body, table_id
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]
    return [c for c in cells if c]


def _cents(text: str) -> int:
    """``$1,234.50`` -> 123450, exactly."""
    return int(Decimal(text.replace("$", "").replace(",", "").replace("−", "-")) * 100)


def _rows(store: Store, name: str, account: str, customer: str) -> list[Any]:
    t = table(name)
    with store.reading() as conn:
        return list(conn.execute(select(t).where(t.c.account == account, t.c.customer == customer,
                                                 t.c.deleted_at.is_(None))).mappings())


def _platform(store: Store) -> str:
    with store.reading() as conn:
        return str(conn.execute(select(table("customers").c.account)
                                .where(table("customers").c.account != CONNECTED)).scalars().first())


def _customer_with_failed_payment(store: Store, account: str) -> str:
    ch = table("charges")
    with store.reading() as conn:
        found = conn.execute(select(ch.c.customer, func.count()).where(ch.c.account == account, ch.c.status == "failed")
                             .group_by(ch.c.customer).order_by(func.count().desc(), ch.c.customer)).first()
    assert found, "the generated account has failed payments"
    return str(found[0])


def test_the_page_lists_exactly_the_customers_invoices_and_payments(client: TestClient,
                                                                     synced: tuple[Settings, Store]) -> None:
    _, store = synced
    platform = _platform(store)
    cid = _customer_with_failed_payment(store, platform)
    page = client.get(f"/customer/{cid}")
    assert page.status_code == 200
    invoices, charges = _rows(store, "invoices", platform, cid), _rows(store, "charges", platform, cid)
    assert 0 < len(invoices) <= 50 and 0 < len(charges) <= 50
    shown = _cells(page.text, "invoices")
    assert len(shown) == len(invoices)
    # number, date, status, total, paid, due, reason: every amount to the cent
    assert sum(_cents(r[3]) for r in shown) == sum(i["total"] for i in invoices)
    assert sum(_cents(r[4]) for r in shown) == sum(i["amount_paid"] for i in invoices)
    assert sum(_cents(r[5]) for r in shown) == sum(i["amount_due"] for i in invoices)
    for i in invoices:
        assert f'href="https://dashboard.stripe.com/test/invoices/{i["id"]}"' in page.text
    paid = _cells(page.text, "payments")
    assert len(paid) == len(charges)
    assert sum(_cents(r[1]) for r in paid) == sum(c["amount"] for c in charges)
    assert sum(_cents(r[3]) for r in paid if r[3]) == sum(c["amount_refunded"] or 0 for c in charges)
    failed = [r for r in paid if r[2] == "failed"]
    assert len(failed) == sum(c["status"] == "failed" for c in charges) > 0
    assert all(r[4] == "card_declined: Your card was declined." for r in failed)
    assert all(r[2] in ("paid", "pending", "failed") for r in paid)
    # Newest first.
    dates = [r[1] for r in shown]
    assert dates == sorted(dates, reverse=True)
    assert "dashboard.stripe.com/test/subscriptions/sub_" in page.text
    assert KEY not in page.text and HASH not in page.text


def test_a_customers_credit_notes_are_listed(client: TestClient, synced: tuple[Settings, Store]) -> None:
    _, store = synced
    platform = _platform(store)
    cn = table("credit_notes")
    with store.reading() as conn:
        cid = conn.execute(select(cn.c.customer).where(cn.c.account == platform, cn.c.deleted_at.is_(None))
                           .order_by(cn.c.customer)).scalars().first()
    if cid is None:
        pytest.skip("the generated account issued no credit note")
    notes = _rows(store, "credit_notes", platform, cid)
    rows = _cells(client.get(f"/customer/{cid}").text, "credit-notes")
    assert len(rows) == len(notes)
    assert sum(_cents(r[3]) for r in rows) == sum(n["total"] for n in notes)


def test_names_are_escaped(client: TestClient, synced: tuple[Settings, Store], accounts: tuple[Account, Account]) -> None:
    page = client.get(f"/customer/{accounts[0].customers[1]['id']}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page.text and "<script" not in page.text


def test_a_connected_accounts_customer(client: TestClient, accounts: tuple[Account, Account],
                                       synced: tuple[Settings, Store]) -> None:
    _, store = synced
    cid = str(accounts[1].customers[3]["id"])
    asked = client.get(f"/customer/{cid}?account={CONNECTED}")
    assert asked.status_code == 200
    assert f'href="https://dashboard.stripe.com/{CONNECTED}/test/customers/{cid}"' in asked.text
    invoices = _rows(store, "invoices", CONNECTED, cid)
    assert len(_cells(asked.text, "invoices")) == min(len(invoices), 50) > 0
    for i in invoices[:3]:
        assert f"https://dashboard.stripe.com/{CONNECTED}/test/invoices/{i['id']}" in asked.text
    # Without ?account=, the account holding the id; the platform does not hold it.
    assert _main(client.get(f"/customer/{cid}").text) == _main(asked.text)
    assert client.get(f"/customer/{cid}?account=platform").status_code == 404
    assert KEY not in asked.text


def test_an_unknown_account_is_a_404_saying_so(client: TestClient, accounts: tuple[Account, Account]) -> None:
    page = client.get(f"/customer/{accounts[0].customers[2]['id']}?account=acct_1Unknown")
    assert page.status_code == 404
    assert "account &#39;acct_1Unknown&#39; is not synced" in page.text


def test_all_accounts_show_a_matched_customer_as_one(client: TestClient, accounts: tuple[Account, Account],
                                                     synced: tuple[Settings, Store]) -> None:
    _, store = synced
    platform, other = (str(a.customers[0]["id"]) for a in accounts)
    page = client.get(f"/customer/{platform}?account=all")
    assert page.status_code == 200
    assert f"{other} in {CONNECTED}" in page.text
    assert f"https://dashboard.stripe.com/{CONNECTED}/test/customers/{other}" in page.text
    total = len(_rows(store, "invoices", _platform(store), platform)) + len(_rows(store, "invoices", CONNECTED, other))
    assert len(_cells(page.text, "invoices")) == min(total, 50)
    if total > 50:
        assert f"The 50 most recent of {total} invoices" in page.text
    # Both accounts' MRR history is the customer's.
    one = _cells(client.get(f"/customer/{platform}").text, "spans")
    assert len(_cells(page.text, "spans")) > len(one)


def test_a_connected_accounts_movements_open_their_customers_there(synced: tuple[Settings, Store]) -> None:
    settings, store = synced
    connected = settings.model_copy(update={"report_account": CONNECTED})
    # The latest month in which some of the connected account's customers moved.
    report = next(r for m in reversed(month_range(MONTH, 12)) if (r := report_month(connected, store, m, now=NOW)).movements)
    mv = report.movements[0]
    with TestClient(build_app(connected, store, clock=lambda: NOW, session_secret="s"),
                    follow_redirects=False) as web:
        web.post("/login", data={"password": PASSWORD})
        page = web.get(f"/month/{report.month}/{mv.movement}")
        link = f'href="/customer/{mv.customer}?account={CONNECTED}"'
        assert link in page.text
        assert web.get(f"/customer/{mv.customer}?account={CONNECTED}").status_code == 200


def test_a_page_shows_the_newest_documents_and_says_how_many_more_there_are(
        client: TestClient, synced: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch) -> None:
    _, store = synced
    platform = _platform(store)
    cid = _customer_with_failed_payment(store, platform)
    invoices = _rows(store, "invoices", platform, cid)
    assert len(invoices) > 2
    monkeypatch.setattr(customer, "DOCUMENTS_SHOWN", 2)
    page = client.get(f"/customer/{cid}").text
    assert len(_cells(page, "invoices")) == 2
    assert f"The 2 most recent of {len(invoices)} invoices; the others are in Stripe." in page
    newest = max(invoices, key=lambda i: (i["created"], i["id"]))
    assert f"/test/invoices/{newest['id']}" in page


def test_documents_are_the_newest_with_a_count_of_all(synced: tuple[Settings, Store]) -> None:
    _, store = synced
    platform = _platform(store)
    cid = _customer_with_failed_payment(store, platform)
    invoices = sorted(_rows(store, "invoices", platform, cid), key=lambda i: (i["created"], i["id"]), reverse=True)
    with store.reading() as conn:
        docs = customer_documents(conn, platform, False, cid, limit=3)
    assert docs.invoices.total == len(invoices) and docs.invoices.more == len(invoices) - 3
    assert [i.id for i in docs.invoices.rows] == [i["id"] for i in invoices[:3]]
    assert all(isinstance(i.total, int) for i in docs.invoices.rows)


def _main(html: str) -> str:
    """The page without its header (whose links carry the ``?account=`` asked)."""
    return html[html.index("<main>"):]
