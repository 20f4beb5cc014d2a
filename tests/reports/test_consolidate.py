"""Several accounts as one (reports.consolidate): a customer moving between two accounts is
a continuing customer, computed by hand."""

from __future__ import annotations

from decimal import Decimal

from reports.consolidate import AccountFacts, consolidate
from reports.facts import Customer, CustomerFacts, MrrSpan
from reports.fx import FxTable
from reports.metrics import MetricSettings, MonthReport, compute_months
from tests.reports.builders import churn, span, ts

USD = FxTable("usd")
MARCH = ts(2026, 3, 15)


def _facts(spans: list[MrrSpan], customers: list[Customer], churned: list[str]) -> CustomerFacts:
    return CustomerFacts(tuple(customers), tuple(spans), tuple(churn(c, MARCH) for c in churned), ())


# Account A: Ada leaves it on 15 March (her subscription there is cancelled) …
A = _facts([span("cus_a1", 1000, ts(2026, 1, 5), MARCH), span("cus_a2", 500, ts(2026, 1, 5))],
           [Customer("cus_a1", "Ada", "usd"), Customer("cus_a2", "Bob", "usd")], ["cus_a1"])
# … and starts paying 12.00 in account B the same day; Cy churns there.
B = _facts([span("cus_b1", 1200, MARCH), span("cus_b2", 300, ts(2026, 2, 1), MARCH)],
           [Customer("cus_b1", None, "usd"), Customer("cus_b2", "Cy", "usd")], ["cus_b2"])
KEYS_A = {"cus_a1": "ada@example.com", "cus_a2": "bob@example.com"}
KEYS_B = {"cus_b1": "ada@example.com", "cus_b2": "cy@example.com"}


def _march(batches: list[CustomerFacts]) -> MonthReport:
    (report,) = compute_months(batches, [("2026-03", "final")], MetricSettings(), USD, revenue=(), plans=(),
                               account_name=None, data_as_of=None)
    return report


def _flows(r: MonthReport) -> tuple[int, ...]:
    m = r.mrr
    return m.start, m.new, m.expansion, m.contraction, m.churn, m.end


def test_a_customer_moving_between_accounts_is_not_a_churn_and_a_new_customer() -> None:
    # Each account alone: A loses Ada (churn 10.00); B gains her (new 12.00) and loses Cy.
    assert _flows(_march([A])) == (1500, 0, 0, 0, 1000, 500)
    assert _flows(_march([B])) == (300, 1200, 0, 0, 300, 1200)
    # Together: Ada went from 10.00 to 12.00, an expansion; only Cy churned.
    together = _march(consolidate([AccountFacts("acct_a", [A], KEYS_A), AccountFacts("acct_b", [B], KEYS_B)], 10))
    assert _flows(together) == (1800, 0, 200, 0, 300, 1700)
    assert (together.customers.start, together.customers.churned, together.customers.end) == (3, 1, 2)
    assert together.retention.nrr == Decimal("94.44")  # 1,700 / 1,800
    ada = next(m for m in together.movements if m.movement == "expansion")
    # She keeps the id and name of the first account holding her.
    assert (ada.customer, ada.name, ada.from_mrr, ada.to_mrr) == ("cus_a1", "Ada", 1000, 1200)


def test_without_keys_the_accounts_simply_add_up() -> None:
    apart = _march(consolidate([AccountFacts("acct_a", [A], {}), AccountFacts("acct_b", [B], {})], 10))
    assert _flows(apart) == (1800, 1200, 0, 0, 1300, 1700)  # Ada: a churn in A and a new customer in B


def test_batches_hold_each_merged_customer_whole_whatever_their_size() -> None:
    accounts = [AccountFacts("acct_a", [A], KEYS_A), AccountFacts("acct_b", [B], KEYS_B)]
    for size in (1, 2, 3):
        batches = consolidate(accounts, size)
        assert all(len({c.id for c in b.customers}) <= size for b in batches)
        assert _march(batches) == _march(consolidate(accounts, 10))
