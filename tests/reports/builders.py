"""Facts built by hand for the report tests, and the roll-forward identity every month keeps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    Customer,
    Facts,
    MrrSpan,
    PaymentFailure,
    RevenueLine,
)
from reports.metrics import MonthReport


def ts(y: int, m: int, d: int = 1, h: int = 0) -> int:
    return int(datetime(y, m, d, h, tzinfo=UTC).timestamp())


def span(
    customer: str,
    mrr: int,
    start: int,
    end: int | None = None,
    *,
    sub: str | None = None,
    item: str | None = None,
    currency: str = "usd",
    cause: Cause = Cause.NEW_ITEM,
    price: str | None = None,
) -> MrrSpan:
    sub = sub or f"sub_{customer}"
    return MrrSpan(customer, sub, item or f"si_{sub}", price, currency, start, end, mrr, mrr, cause)


def churn(
    customer: str,
    at: int,
    kind: ChurnKind = ChurnKind.VOLUNTARY,
    rule: str = "cancellation_requested",
    *,
    sub: str | None = None,
    requested_at: int | None = None,
) -> ChurnEvent:
    return ChurnEvent(customer, sub or f"sub_{customer}", at, requested_at, kind, rule, False, rule, None, None)


def make_facts(
    spans: Sequence[MrrSpan],
    churns: Sequence[ChurnEvent] = (),
    revenue: Sequence[RevenueLine] = (),
    failures: Sequence[PaymentFailure] = (),
    names: dict[str, str] | None = None,
) -> Facts:
    customers = tuple(Customer(c, n, None) for c, n in (names or {}).items())
    return Facts(customers, tuple(spans), tuple(churns), tuple(revenue), tuple(failures), "usd", "Acme")


def assert_identity(r: MonthReport) -> None:
    m = r.mrr
    assert m.end == m.start + m.new + m.reactivation + m.expansion - m.contraction - m.churn + m.fx_impact
    assert m.churn == m.churn_voluntary + m.churn_involuntary


MAR, APR, MAY = ts(2026, 3), ts(2026, 4), ts(2026, 5)
