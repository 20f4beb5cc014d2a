"""Reading and replacing normalized facts (the derived tables)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, case, delete, func, null, select
from sqlalchemy.engine import Connection

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
from syncer.db.raw_loader import stream_rows
from syncer.db.store import Store, table
from syncer.gc_tuning import collector_paused

SPANS: Table = MrrSpanRow.__table__  # type: ignore[attr-defined]
CHURNS: Table = ChurnEventRow.__table__  # type: ignore[attr-defined]
REVENUE: Table = RevenueLineRow.__table__  # type: ignore[attr-defined]
FAILURES: Table = PaymentFailureRow.__table__  # type: ignore[attr-defined]
RUNS: Table = NormalizationRun.__table__  # type: ignore[attr-defined]


def replace_facts(store: Store, account: str, livemode: bool, facts: Facts, *, data_as_of: int, now: int) -> None:
    """Swap an account's facts for ``facts`` in one transaction."""
    with store.transaction() as conn:
        clear_facts(conn, account, livemode)
        insert_facts(conn, account, livemode, facts)
        record_normalization(conn, account, livemode, FactCounts.of(facts), data_as_of=data_as_of, now=now)


@dataclass
class FactCounts:
    """How many facts a normalization wrote (its run row)."""

    customers: int = 0
    spans: int = 0
    churns: int = 0
    revenue_lines: int = 0
    failures: int = 0

    @classmethod
    def of(cls, facts: Facts) -> FactCounts:
        return cls(len(facts.customers), len(facts.spans), len(facts.churns), len(facts.revenue), len(facts.failures))

    def add(self, facts: Facts) -> None:
        more = FactCounts.of(facts)
        self.customers += more.customers
        self.spans += more.spans
        self.churns += more.churns
        self.revenue_lines += more.revenue_lines
        self.failures += more.failures


def clear_facts(conn: Connection, account: str, livemode: bool) -> None:
    """Delete an account's facts and run row (the first step of replacing them: call it,
    ``insert_facts`` and ``record_normalization`` inside one transaction)."""
    for t in (SPANS, CHURNS, REVENUE, FAILURES, RUNS):
        conn.execute(delete(t).where(t.c.account == account, t.c.livemode == livemode))


def insert_facts(conn: Connection, account: str, livemode: bool, facts: Facts) -> None:
    """Add facts (all of an account, or those of a batch of its customers)."""
    a, lm = account, livemode
    _insert(conn, SPANS, [(a, lm, s.customer, s.subscription, s.item, s.price, s.currency, s.start, s.end, s.mrr,
                           s.contract_mrr, str(s.cause)) for s in facts.spans])
    _insert(conn, CHURNS, [(a, lm, c.customer, c.subscription, c.at, c.requested_at, str(c.kind), c.rule, c.derived,
                            c.reason, c.feedback, c.comment) for c in facts.churns])
    _insert(conn, REVENUE, [(a, lm, r.at, r.customer, r.source, str(r.kind), r.amount, r.currency)
                            for r in facts.revenue])
    _insert(conn, FAILURES, [(a, lm, f.invoice, f.customer, f.subscription, f.currency, f.amount, f.first_failed_at,
                              f.attempts, f.recovered_at, f.closed_at) for f in facts.failures])


def record_normalization(
    conn: Connection, account: str, livemode: bool, counts: FactCounts, *, data_as_of: int, now: int
) -> None:
    conn.execute(RUNS.insert().values(
        account=account, livemode=livemode, data_as_of=data_as_of, finished_at=now, spans=counts.spans,
        churns=counts.churns, revenue_lines=counts.revenue_lines, failures=counts.failures,
        customers=counts.customers,
    ))


def _insert(conn: Connection, t: Table, rows: list[tuple[Any, ...]]) -> None:
    """``rows``: values of every column but the id, in the table's order. Sent as plain
    DB-API ``executemany`` of tuples: with SQLAlchemy's ``insert()``, which builds and
    binds a dict per row, writing took twice as long (6.3 s of the writing process's
    36 s at size M)."""
    if not rows:
        return
    columns = [c.name for c in t.columns if c.name != "id"]
    if len(rows[0]) != len(columns):
        raise ValueError(f"{t.name}: {len(rows[0])} values for {len(columns)} columns")
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"  # sqlite3 | psycopg
    sql = (f"INSERT INTO {quote(t.name)} ({', '.join(map(quote, columns))}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    for i in range(0, len(rows), 5000):
        conn.exec_driver_sql(sql, rows[i : i + 5000])


def last_normalization(store: Store, account: str, livemode: bool) -> dict[str, Any] | None:
    with store.reading() as conn:
        row = conn.execute(
            select(RUNS).where(RUNS.c.account == account, RUNS.c.livemode == livemode)
        ).mappings().first()
    return dict(row) if row else None


def load_facts(
    store: Store, account: str, livemode: bool, *, default_currency: str, account_name: str | None,
    revenue_months: Sequence[tuple[int, int]] | None = None, revenue_summed_in: str | None = None,
) -> Facts:
    """The stored facts of one account, as the pure metrics take them.

    Revenue lines are by far the most numerous facts, and a report only adds them up by
    month and kind, so it can ask for fewer: ``revenue_months``, the (start, end) of the
    consecutive months reported, keeps the lines with an instant in them; with
    ``revenue_summed_in`` (the report currency) too, the lines in that currency of one
    month and kind come summed in the database, as one line at the month's start of no
    customer (named after the first source): their sum needs no conversion. Lines in other
    currencies stay apart, as each is converted at its own instant and rounded on its own."""
    def where(t: Table) -> Any:
        return select(t).where(t.c.account == account, t.c.livemode == livemode)

    customers_t = table("customers")
    with store.reading() as conn, collector_paused():
        customers = tuple(
            Customer(id=r.id, name=r.name, currency=r.currency, deleted=r.deleted_at is not None)
            for r in stream_rows(
                conn, select(customers_t.c.id, customers_t.c.name, customers_t.c.currency, customers_t.c.deleted_at)
                .where(customers_t.c.account == account, customers_t.c.livemode == livemode)
            )
        )
        # Plain tuples, unpacked, and enum members looked up in a dict: at tens of
        # thousands of spans, Row attribute access and Enum() calls were most of a report.
        causes = {str(c): c for c in Cause}
        sp = SPANS.c
        spans = tuple(
            MrrSpan(customer, subscription, item, price, currency, start, end, mrr, contract_mrr, causes[cause])
            for customer, subscription, item, price, currency, start, end, mrr, contract_mrr, cause in stream_rows(
                conn, select(sp.customer, sp.subscription, sp.item, sp.price, sp.currency, sp.start, sp.end, sp.mrr,
                             sp.contract_mrr, sp.cause)
                .where(sp.account == account, sp.livemode == livemode).order_by(sp.customer, sp.start)
            )
        )
        churns = tuple(
            ChurnEvent(customer=r.customer, subscription=r.subscription, at=r.at, requested_at=r.requested_at,
                       kind=ChurnKind(r.kind), rule=r.rule, derived=bool(r.derived), reason=r.reason,
                       feedback=r.feedback, comment=r.comment)
            for r in stream_rows(conn, where(CHURNS))
        )
        revenue = _load_revenue(conn, account, livemode, revenue_months, revenue_summed_in)
        failures = tuple(
            PaymentFailure(invoice=r.invoice, customer=r.customer, subscription=r.subscription, currency=r.currency,
                           amount=r.amount, first_failed_at=r.first_failed_at, attempts=r.attempts,
                           recovered_at=r.recovered_at, closed_at=r.closed_at)
            for r in stream_rows(conn, where(FAILURES))
        )
        plans = _load_plans(conn, account, livemode)
    return Facts(customers=customers, spans=spans, churns=churns, revenue=revenue, failures=failures,
                 default_currency=default_currency, account_name=account_name, plans=plans)


def _load_revenue(
    conn: Any, account: str, livemode: bool, months: Sequence[tuple[int, int]] | None, summed_in: str | None
) -> tuple[RevenueLine, ...]:
    r = REVENUE.c
    where = [r.account == account, r.livemode == livemode]
    if months:
        where += [r.at >= months[0][0], r.at < months[-1][1]]
    queries = [select(r.at, r.customer, r.source, r.kind, r.amount, r.currency).where(*where)]
    if summed_in is not None and months:
        month_start = case(*((r.at < end, start) for start, end in months)).label("month_start")
        queries = [
            queries[0].where(r.currency != summed_in),
            select(month_start, null(), func.min(r.source), r.kind, func.sum(r.amount), r.currency)
            .where(*where, r.currency == summed_in).group_by(month_start, r.kind, r.currency),
        ]
    kinds = {str(k): k for k in RevenueKind}
    names: dict[Any, Any] = {}  # one string object per customer and currency, not per line
    return tuple(
        RevenueLine(at=at, customer=names.setdefault(customer, customer), source=source, kind=kinds[kind],
                    amount=int(amount), currency=names.setdefault(currency, currency))
        for q in queries
        for at, customer, source, kind, amount, currency in stream_rows(conn, q)
    )


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
