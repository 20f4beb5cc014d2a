"""Signup cohorts (METRICS.md §6), computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reports.fx import FxTable
from reports.metrics import MetricSettings, compute_month, signup_cohorts
from tests.reports.builders import make_facts, span, ts

USD = FxTable("usd")
MONTHS = ["2026-01", "2026-02", "2026-03"]
FACTS = make_facts([
    span("a", 1000, ts(2026, 1, 5), ts(2026, 2, 10)), span("a", 1500, ts(2026, 2, 10)),  # January, expands
    span("b", 1000, ts(2026, 1, 20), ts(2026, 3, 2)),  # January, churns in March
    span("e", 300, ts(2026, 1, 10), ts(2026, 1, 25)), span("e", 500, ts(2026, 3, 15)),  # January, back in March
    span("c", 400, ts(2026, 2, 3)),  # February
    span("d", 700, ts(2025, 11, 1)),  # before the table: the row "earlier"
    span("f", 900, ts(2026, 4, 2)),  # after it: in no row
])


def test_a_cohort_triangle_by_hand() -> None:
    table = signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC")
    january, february, march = table.cohorts
    # January: a, b and e; e left in its first month, so it is not in the new MRR
    # (2,000), and its return in March counts as a gain.
    assert (january.month, january.customers, january.mrr, january.paying) == ("2026-01", 3, (2000, 2500, 2000), (2, 2, 2))
    assert january.net_retention == (Decimal("100.00"), Decimal("125.00"), Decimal("100.00"))
    assert january.logo_retention == (Decimal("66.67"),) * 3
    assert (february.customers, february.mrr, february.net_retention) == (1, (400, 400), (Decimal("100.00"),) * 2)
    assert (march.customers, march.mrr, march.net_retention, march.logo_retention) == (0, (0,), (None,), (None,))
    assert (table.earlier.month, table.earlier.customers, table.earlier.mrr) == (None, 1, (700, 700, 700))
    assert table.total_mrr == (2700, 3600, 3100) and table.total_paying == (3, 4, 4)


def test_the_last_column_is_the_months_closing_mrr() -> None:
    table = signup_cohorts([FACTS.of_customers()], MONTHS, USD, "UTC")
    march = compute_month(FACTS, "2026-03", MetricSettings(), USD)
    assert table.total_mrr[-1] == march.mrr.end
    assert table.total_paying[-1] == march.customers.end


def test_amounts_are_at_the_last_months_rate() -> None:
    # One EUR customer, the rate moving: constant currency keeps its cohort at 100%.
    fx = FxTable("usd", observed=[("eur", ts(2026, 1, 15), Decimal("1.10")), ("eur", ts(2026, 3, 15), Decimal("1.20"))])
    facts = make_facts([span("g", 1000, ts(2026, 1, 5), currency="eur")])
    (january, *_) = signup_cohorts([facts.of_customers()], MONTHS, fx, "UTC").cohorts
    assert january.mrr == (1200, 1200, 1200) and january.net_retention == (Decimal("100.00"),) * 3


def test_months_must_follow_each_other() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        signup_cohorts([], ["2026-01", "2026-03"], USD, "UTC")
