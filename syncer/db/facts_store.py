"""Reading and replacing normalized facts (the derived tables)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, select

from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    Customer,
    Facts,
    MrrSpan,
    PaymentFailure,
    Plan,
    RevenueKind,
    RevenueLine,
)
from syncer.db.derived import (
    ChurnEventRow,
    MrrSpanRow,
    NormalizationRun,
    PaymentFailureRow,
    RevenueLineRow,
)
from syncer.db.store import Store, table

SPANS: Table = MrrSpanRow.__table__  # type: ignore[attr-defined]
CHURNS: Table = ChurnEventRow.__table__  # type: ignore[attr-defined]
REVENUE: Table = RevenueLineRow.__table__  # type: ignore[attr-defined]
FAILURES: Table = PaymentFailureRow.__table__  # type: ignore[attr-defined]
RUNS: Table = NormalizationRun.__table__  # type: ignore[attr-defined]


def replace_facts(store: Store, account: str, livemode: bool, facts: Facts, *, data_as_of: int, now: int) -> None:
    """Swap an account's facts for ``facts`` in one transaction."""
    key = {"account": account, "livemode": livemode}
    with store.transaction() as conn:
        for t in (SPANS, CHURNS, REVENUE, FAILURES, RUNS):
            conn.execute(delete(t).where(t.c.account == account, t.c.livemode == livemode))
        _insert(conn, SPANS, [{**key, **_span_row(s)} for s in facts.spans])
        _insert(conn, CHURNS, [{**key, **_churn_row(c)} for c in facts.churns])
        _insert(conn, REVENUE, [{**key, **_revenue_row(r)} for r in facts.revenue])
        _insert(conn, FAILURES, [{**key, **_failure_row(f)} for f in facts.failures])
        conn.execute(RUNS.insert().values(
            **key, data_as_of=data_as_of, finished_at=now, spans=len(facts.spans), churns=len(facts.churns),
            revenue_lines=len(facts.revenue), failures=len(facts.failures), customers=len(facts.customers),
        ))


def _insert(conn: Any, t: Table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 5000):
        conn.execute(t.insert(), rows[i : i + 5000])


def _span_row(s: MrrSpan) -> dict[str, Any]:
    return {"customer": s.customer, "subscription": s.subscription, "item": s.item, "price": s.price, "currency": s.currency,
                "start": s.start, "end": s.end, "mrr": s.mrr, "contract_mrr": s.contract_mrr, "cause": str(s.cause)}


def _churn_row(c: ChurnEvent) -> dict[str, Any]:
    return {"customer": c.customer, "subscription": c.subscription, "at": c.at, "requested_at": c.requested_at,
                "kind": str(c.kind), "rule": c.rule, "derived": c.derived, "reason": c.reason, "feedback": c.feedback,
                "comment": c.comment}


def _revenue_row(r: RevenueLine) -> dict[str, Any]:
    return {"at": r.at, "customer": r.customer, "source": r.source, "kind": str(r.kind), "amount": r.amount, "currency": r.currency}


def _failure_row(f: PaymentFailure) -> dict[str, Any]:
    return {"invoice": f.invoice, "customer": f.customer, "subscription": f.subscription, "currency": f.currency,
                "amount": f.amount, "first_failed_at": f.first_failed_at, "attempts": f.attempts,
                "recovered_at": f.recovered_at, "closed_at": f.closed_at}


def last_normalization(store: Store, account: str, livemode: bool) -> dict[str, Any] | None:
    with store.reading() as conn:
        row = conn.execute(
            select(RUNS).where(RUNS.c.account == account, RUNS.c.livemode == livemode)
        ).mappings().first()
    return dict(row) if row else None


def load_facts(store: Store, account: str, livemode: bool, *, default_currency: str, account_name: str | None) -> Facts:
    """The stored facts of one account, as the pure metrics take them."""
    def where(t: Table) -> Any:
        return select(t).where(t.c.account == account, t.c.livemode == livemode)

    customers_t = table("customers")
    with store.reading() as conn:
        customers = tuple(
            Customer(id=r.id, name=r.name, currency=r.currency, deleted=r.deleted_at is not None)
            for r in conn.execute(
                select(customers_t.c.id, customers_t.c.name, customers_t.c.currency, customers_t.c.deleted_at)
                .where(customers_t.c.account == account, customers_t.c.livemode == livemode)
            )
        )
        spans = tuple(
            MrrSpan(customer=r.customer, subscription=r.subscription, item=r.item, price=r.price, currency=r.currency,
                    start=r.start, end=r.end, mrr=r.mrr, contract_mrr=r.contract_mrr, cause=Cause(r.cause))
            for r in conn.execute(where(SPANS).order_by(SPANS.c.customer, SPANS.c.start))
        )
        churns = tuple(
            ChurnEvent(customer=r.customer, subscription=r.subscription, at=r.at, requested_at=r.requested_at,
                       kind=ChurnKind(r.kind), rule=r.rule, derived=bool(r.derived), reason=r.reason,
                       feedback=r.feedback, comment=r.comment)
            for r in conn.execute(where(CHURNS))
        )
        revenue = tuple(
            RevenueLine(at=r.at, customer=r.customer, source=r.source, kind=RevenueKind(r.kind), amount=r.amount,
                        currency=r.currency)
            for r in conn.execute(where(REVENUE))
        )
        failures = tuple(
            PaymentFailure(invoice=r.invoice, customer=r.customer, subscription=r.subscription, currency=r.currency,
                           amount=r.amount, first_failed_at=r.first_failed_at, attempts=r.attempts,
                           recovered_at=r.recovered_at, closed_at=r.closed_at)
            for r in conn.execute(where(FAILURES))
        )
        plans = _load_plans(conn, account, livemode)
    return Facts(customers=customers, spans=spans, churns=churns, revenue=revenue, failures=failures,
                 default_currency=default_currency, account_name=account_name, plans=plans)


def _load_plans(conn: Any, account: str, livemode: bool) -> tuple[Plan, ...]:
    """Each synced price labelled with its product's name (prices of unnamed products are left
    out: the movers then show the price id)."""
    prices, products = table("prices"), table("products")
    rows = conn.execute(
        select(prices.c.id, products.c.name)
        .join(products, (products.c.account == prices.c.account) & (products.c.livemode == prices.c.livemode)
              & (products.c.id == prices.c.product))
        .where(prices.c.account == account, prices.c.livemode == livemode, products.c.name.is_not(None))
    )
    return tuple(Plan(price=r.id, name=r.name) for r in rows)
