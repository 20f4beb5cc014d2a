"""The billing setups of real accounts, end to end: a hand-built account in Stripe's
current shapes → the fake Stripe → ``nrr sync`` → ``nrr report --format json``.

One customer per setup of METRICS.md §1.6, §1.12 and §3 rule 0, all in one test-mode
account, every subscription starting on 2026-01-01. Each customer's MRR, month by month,
is worked out by hand below (``EXPECTED``, dollars); the reports must add up to it and
the movements CSV must name the right movement for the right customer.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from syncer.app.cli import app
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import KEY
from tests.syncer.normalize.builders import (
    JSON,
    coupon,
    customer,
    cycle_invoice,
    discount,
    invoice,
    item,
    line,
    price,
    subscription,
)

runner = CliRunner()
MONTHS = [f"2026-{m:02d}" for m in range(1, 12)]


def at(month: int, day: int = 1, year: int = 2026) -> int:
    if month > 12:
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


PRO = price("price_pro", 9900)
SEATS = price("price_seats", 10000)
PLATFORM = price("price_platform", 120000, interval="year")
ADDON = price("price_addon", 2000)
HOURS = price("price_hours", 1000, recurring=False)

# Each customer's MRR at the end of January … November 2026, in dollars, by hand.
EXPECTED: dict[str, list[float]] = {
    # §1.12 flexible billing mode: $100 monthly seats + $1,200 yearly platform fee.
    "cus_Amixed": [200.0] * 11,
    # §1.6 item discount: $99 item, 50% off forever on the item itself.
    "cus_Bitem": [49.5] * 11,
    # §1.6 customer discount: $99 subscription with none of its own, 20% off the customer.
    "cus_Ccustomer": [79.2] * 11,
    # §1.6 a coupon deleted before the first backfill: its 50% discount still applies.
    "cus_Dgone": [49.5] * 11,
    # Test clocks: a $99 subscription of a customer on a test clock.
    "cus_Eclock": [99.0] * 11,
    # §1.12 item trial: a $20 add-on in its own trial from March 1 to 15.
    "cus_Ftrial": [99.0, 99.0] + [119.0] * 9,
    # §1.1 status paused: a trial that ended without a payment method never pays.
    "cus_Gpaused": [0.0] * 11,
    # §1.11 paused collection (keep_as_draft) from June 1: voluntary churn in June.
    "cus_Gpause": [99.0] * 5 + [0.0] * 6,
    # §1.1 unpaid after August's invoice failed every retry: involuntary churn in August.
    "cus_Gunpaid": [99.0] * 7 + [0.0] * 4,
    # Accounts v2: billed to an account (customer_account), no customer.
    "acct_1HaccountV2": [99.0] * 11,
    # Deleted before the first backfill, after cancelling at the end of April.
    "cus_Hdeleted": [99.0] * 4 + [0.0] * 7,
}

# (customer, month) → (movement, churn kind, reason) in the movements CSV.
MOVEMENTS = {
    ("cus_Ftrial", "2026-03"): ("expansion", "", "new_item+trial_end"),
    ("cus_Gpause", "2026-06"): ("churn", "voluntary", "paused"),
    ("cus_Gunpaid", "2026-08"): ("churn", "involuntary", "unpaid"),
    ("cus_Hdeleted", "2026-05"): ("churn", "voluntary", "cancellation_requested"),
}


# ---- the account ---------------------------------------------------------------------------


def _monthly(prefix: str, sub: str, cus: str, billed: list[tuple[str, JSON, int]],
             months: range, **kw: Any) -> list[JSON]:
    return [dict(cycle_invoice(f"in_{prefix}{m}", at(m), billed, sub=sub, customer=cus,
                               reason="subscription_create" if m == 1 else "subscription_cycle",
                               **kw), period_start=at(m), period_end=at(m))
            for m in months]


def _sub(sid: str, cus: str, items: list[JSON], **kw: Any) -> JSON:
    items = [dict(i, subscription=sid) for i in items]
    return subscription(items, sid=sid, customer=cus, start=at(1), **kw)


def _mixed() -> tuple[JSON, list[JSON]]:
    sub = _sub("sub_A", "cus_Amixed", [item("si_Am", SEATS, created=at(1), period=(at(12), at(13))),
                                       item("si_Ay", PLATFORM, created=at(1), period=(at(1), at(13)))])
    sub["billing_mode"] = {"flexible": {"proration_discounts": "included"}, "type": "flexible",
                           "updated_at": at(1)}
    first = invoice("in_A1", [
        line("il_A1m", 10000, SEATS, item_id="si_Am", sub="sub_A", period=(at(1), at(2))),
        line("il_A1y", 120000, PLATFORM, item_id="si_Ay", sub="sub_A", period=(at(1), at(13))),
    ], created=at(1), sub="sub_A", customer="cus_Amixed", reason="subscription_create")
    # The periods diverge: the monthly renewals bill the seats alone.
    return sub, [first, *_monthly("A", "sub_A", "cus_Amixed", [("si_Am", SEATS, 1)], range(2, 13))]


def _discounted(prefix: str, did: str, cus: str, invoices: list[JSON]) -> list[JSON]:
    for inv in invoices:
        inv["discounts"] = [did]
        for ln in inv["lines"]["data"]:
            ln["discounts"] = [did]
    return invoices


def build_account() -> Account:
    acct = generate_account(customers=0, seed=17, now=at(12, 7))
    names = ["cus_Amixed", "cus_Bitem", "cus_Ccustomer", "cus_Dgone", "cus_Eclock", "cus_Ftrial",
             "cus_Gpaused", "cus_Gpause", "cus_Gunpaid"]
    customers = {c: dict(customer(c, c.removeprefix("cus_").title()), created=at(1) - 3600,
                         test_clock=None, discount=None) for c in names}
    prices = [PRO, SEATS, PLATFORM, ADDON, HOURS]
    acct.prices.extend(prices)
    acct.products.extend({"id": p["product"], "object": "product", "active": True,
                          "created": p["created"], "livemode": False, "metadata": {},
                          "name": p["id"].removeprefix("price_").title()} for p in prices)
    subs: list[JSON] = []
    invoices: list[JSON] = []

    sub, invs = _mixed()
    subs.append(sub)
    invoices += invs

    # B: a discount on the item only.
    acct.coupons.append(dict(coupon("HALF", percent=50), created=at(1) - 7200))
    sub = _sub("sub_B", "cus_Bitem", [dict(item("si_B", PRO, created=at(1), period=(at(12), at(13))),
                                           discounts=["di_B"])])
    acct.discounts["di_B"] = dict(discount("di_B", "HALF", start=at(1), sub="sub_B",
                                           customer="cus_Bitem"), subscription_item="si_B")
    subs.append(sub)
    invoices += _discounted("B", "di_B", "cus_Bitem",
                            _monthly("B", "sub_B", "cus_Bitem", [("si_B", PRO, 1)], range(1, 13)))
    # B also bought 2.5 hours of consulting in February: one-time revenue, priced exactly.
    hours = dict(line("il_Bhours", 2500, HOURS, item_id=None, sub=None, period=(at(2, 10), at(2, 10))),
                 quantity=2, quantity_decimal="2.5")
    invoices.append(invoice("in_Bhours", [hours], created=at(2, 10), sub=None, customer="cus_Bitem",
                            reason="manual"))

    # C: the customer's discount, none on the subscription.
    acct.coupons.append(dict(coupon("FIFTH", percent=20), created=at(1) - 7200))
    cus_discount = discount("di_C", "FIFTH", start=at(1) - 60, sub=None, customer="cus_Ccustomer")
    customers["cus_Ccustomer"]["discount"] = cus_discount
    acct.discounts["di_C"] = cus_discount
    subs.append(_sub("sub_C", "cus_Ccustomer", [item("si_C", PRO, created=at(1), period=(at(12), at(13)))]))
    invoices += _discounted("C", "di_C", "cus_Ccustomer",
                            _monthly("C", "sub_C", "cus_Ccustomer", [("si_C", PRO, 1)], range(1, 13)))

    # D: the coupon was deleted after the discount was made; the discount stays.
    gone = dict(coupon("GONE", percent=50), created=at(1) - 7200)
    acct.deleted.setdefault("coupons", {})["GONE"] = gone
    acct.discounts["di_D"] = discount("di_D", "GONE", start=at(1), sub="sub_D", customer="cus_Dgone")
    subs.append(_sub("sub_D", "cus_Dgone", [item("si_D", PRO, created=at(1), period=(at(12), at(13)))],
                     discounts=["di_D"]))
    invoices += _discounted("D", "di_D", "cus_Dgone",
                            _monthly("D", "sub_D", "cus_Dgone", [("si_D", PRO, 1)], range(1, 13)))

    # E: on a test clock.
    acct.test_clocks.append({"id": "clock_1E", "object": "test_helpers.test_clock",
                             "created": at(1) - 3600, "deletes_after": at(13) + 30 * 86400,
                             "frozen_time": at(12, 7), "livemode": False, "name": "renewals",
                             "status": "ready", "status_details": {}})
    customers["cus_Eclock"]["test_clock"] = "clock_1E"
    subs.append(dict(_sub("sub_E", "cus_Eclock", [item("si_E", PRO, created=at(1), period=(at(12), at(13)))]),
                     test_clock="clock_1E"))
    invoices += _monthly("E", "sub_E", "cus_Eclock", [("si_E", PRO, 1)], range(1, 13))

    # F: an add-on in its own trial from March 1 to 15.
    addon = dict(item("si_Fa", ADDON, created=at(3), period=(at(12), at(13))),
                 current_trial={"end_date": at(3, 15), "start_date": at(3), "trial_offer": "to_1F"})
    subs.append(_sub("sub_F", "cus_Ftrial", [item("si_Fp", PRO, created=at(1), period=(at(12), at(13))),
                                             addon]))
    invoices += _monthly("F", "sub_F", "cus_Ftrial", [("si_Fp", PRO, 1)], range(1, 3))
    invoices += _monthly("F", "sub_F", "cus_Ftrial", [("si_Fp", PRO, 1), ("si_Fa", ADDON, 1)], range(3, 13))

    # G: a trial that ended without a payment method (status paused) …
    subs.append(_sub("sub_Gp", "cus_Gpaused", [item("si_Gp", PRO, created=at(1), period=(at(1, 15), at(2, 15)))],
                     status="paused", trial_end=at(1, 15)))
    # … collection paused from June (drafts kept, never attempted) …
    subs.append(_sub("sub_Gc", "cus_Gpause", [item("si_Gc", PRO, created=at(1), period=(at(12), at(13)))],
                     pause={"behavior": "keep_as_draft", "resumes_at": None}))
    invoices += _monthly("Gc", "sub_Gc", "cus_Gpause", [("si_Gc", PRO, 1)], range(1, 6))
    invoices += [dict(inv, auto_advance=False) for inv in _monthly(
        "Gc", "sub_Gc", "cus_Gpause", [("si_Gc", PRO, 1)], range(6, 13), status="draft",
        attempted=False, attempt_count=0, finalized_at=None)]
    # … and unpaid since August's invoice failed every retry.
    subs.append(_sub("sub_Gu", "cus_Gunpaid", [item("si_Gu", PRO, created=at(1), period=(at(8), at(9)))],
                     status="unpaid", latest_invoice="in_Gu8"))
    invoices += _monthly("Gu", "sub_Gu", "cus_Gunpaid", [("si_Gu", PRO, 1)], range(1, 8))
    invoices += _monthly("Gu", "sub_Gu", "cus_Gunpaid", [("si_Gu", PRO, 1)], range(8, 9), status="open",
                         attempt_count=4)

    # H: billed to an Accounts v2 account, and a customer deleted before the backfill.
    v2 = dict(_sub("sub_Hv2", "x", [item("si_Hv2", PRO, created=at(1), period=(at(12), at(13)))]),
              customer=None, customer_account="acct_1HaccountV2")
    subs.append(v2)
    invoices += [dict(inv, customer=None, customer_account="acct_1HaccountV2")
                 for inv in _monthly("Hv", "sub_Hv2", "x", [("si_Hv2", PRO, 1)], range(1, 13))]
    deleted = dict(customer("cus_Hdeleted", "Gone Ltd"), created=at(1) - 3600, test_clock=None, discount=None)
    acct.deleted.setdefault("customers", {})["cus_Hdeleted"] = deleted
    subs.append(_sub("sub_Hd", "cus_Hdeleted", [item("si_Hd", PRO, created=at(1), period=(at(4), at(5)))],
                     status="canceled", canceled_at=at(4, 10), ended_at=at(5),
                     cancel_at_period_end=True, reason="cancellation_requested"))
    invoices += _monthly("Hd", "sub_Hd", "cus_Hdeleted", [("si_Hd", PRO, 1)], range(1, 5))

    acct.customers.extend(customers.values())
    acct.subscriptions.extend(subs)
    acct.invoices.extend(sorted(invoices, key=lambda i: i["created"]))
    return acct


# ---- sync and report -----------------------------------------------------------------------


@pytest.fixture
def synced(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    with FakeStripe(build_account(), api_key=KEY) as fake:
        fake.start()
        monkeypatch.setenv("STRIPE_API_KEY", KEY)  # a test-mode key: test clocks are listed
        monkeypatch.setenv("STRIPE_API_BASE", fake.base_url)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("LOG_FORMAT", "json")
        result = runner.invoke(app, ["sync"])
        assert result.exit_code == 0, result.output
        yield


def _report(month: str, fmt: str) -> str:
    result = runner.invoke(app, ["report", "--month", month, "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_setup_gives_the_mrr_worked_out_by_hand(synced: None) -> None:
    ends = [json.loads(_report(m, "json"))["mrr"]["end"] for m in MONTHS]
    expected = [round(sum(v[k] for v in EXPECTED.values()), 2) for k in range(len(MONTHS))]
    assert ends == expected


def test_every_setup_moves_only_when_and_how_it_should(synced: None) -> None:
    seen: dict[tuple[str, str], tuple[str, str, str]] = {}
    for month in MONTHS:
        for row in csv.DictReader(io.StringIO(_report(month, "csv"))):
            if month == "2026-01" and row["movement"] == "new":
                continue  # everyone paying in January started then
            seen[(row["customer"], month)] = (row["movement"], row["churn_kind"], row["reason"])
    assert seen == MOVEMENTS


def test_january_new_mrr_names_every_paying_setup(synced: None) -> None:
    rows = list(csv.DictReader(io.StringIO(_report("2026-01", "csv"))))
    new = {r["customer"]: float(r["to"]) for r in rows if r["movement"] == "new"}
    assert new == {c: v[0] for c, v in EXPECTED.items() if v[0]}
    deleted = [r["name"] for r in rows if r["customer"] == "cus_Hdeleted"]
    assert deleted and "deleted" in deleted[0].lower()


def test_the_one_time_revenue_of_a_decimal_quantity(synced: None) -> None:
    revenue = json.loads(_report("2026-02", "json"))["revenue"]
    assert revenue["one_time"] == 25.0
