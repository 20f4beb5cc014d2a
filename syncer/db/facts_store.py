"""Reading and replacing normalized facts (the derived tables)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, case, cast, delete, func, null, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from reports.consolidate import BY_EMAIL, BY_METADATA
from reports.facts import (
    Cause,
    ChurnEvent,
    ChurnKind,
    Customer,
    CustomerFacts,
    Facts,
    MrrSpan,
    PaymentFailure,
    Plan,
    RevenueKind,
    RevenueLine,
    SubscriptionLabels,
)
from syncer.app.gc_tuning import collector_paused
from syncer.db.derived import (
    ChurnEventRow,
    FactHorizon,
    MrrSpanRow,
    NormalizationRun,
    PaymentFailureRow,
    RevenueLineRow,
    UnownedObject,
)
from syncer.db.raw_loader import CustomerRange, ranges_covering, stream_rows
from syncer.db.store import Store, table

SPANS: Table = MrrSpanRow.__table__  # type: ignore[attr-defined]
CHURNS: Table = ChurnEventRow.__table__  # type: ignore[attr-defined]
REVENUE: Table = RevenueLineRow.__table__  # type: ignore[attr-defined]
FAILURES: Table = PaymentFailureRow.__table__  # type: ignore[attr-defined]
RUNS: Table = NormalizationRun.__table__  # type: ignore[attr-defined]
HORIZONS: Table = FactHorizon.__table__  # type: ignore[attr-defined]
UNOWNED: Table = UnownedObject.__table__  # type: ignore[attr-defined]
FACT_TABLES = (SPANS, CHURNS, REVENUE, FAILURES)
# The customer key of facts of no customer (churns and failures hold "", revenue None).
NO_CUSTOMER = ""


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

    @classmethod
    def of_run(cls, row: Mapping[str, Any]) -> FactCounts:
        """The counts a normalization's run row holds."""
        return cls(*(int(row[f]) for f in _COUNTED))

    def minus(self, other: FactCounts) -> FactCounts:
        return FactCounts(*(getattr(self, f) - getattr(other, f) for f in _COUNTED))


_COUNTED = ("customers", "spans", "churns", "revenue_lines", "failures")


def clear_facts(conn: Connection, account: str, livemode: bool) -> None:
    """Delete an account's facts, horizons and run row (the first step of replacing them:
    call it, ``insert_facts`` and ``record_normalization`` inside one transaction)."""
    for t in (*FACT_TABLES, HORIZONS, UNOWNED, RUNS):
        conn.execute(delete(t).where(t.c.account == account, t.c.livemode == livemode))


def delete_customer_facts(conn: Connection, account: str, livemode: bool, customers: Sequence[str]) -> FactCounts:
    """Delete the facts and horizons of ``customers`` (``NO_CUSTOMER``: the facts of no
    customer); how many facts were deleted (customers: not counted)."""
    deleted = FactCounts()
    named = sorted(set(customers))
    for t, counted in zip(FACT_TABLES, ("spans", "churns", "revenue_lines", "failures"), strict=True):
        n = 0
        for i in range(0, len(named), 500):
            n += conn.execute(delete(t).where(t.c.account == account, t.c.livemode == livemode,
                                              t.c.customer.in_(named[i : i + 500]))).rowcount or 0
        if NO_CUSTOMER in named:
            n += conn.execute(delete(t).where(t.c.account == account, t.c.livemode == livemode,
                                              t.c.customer.is_(None))).rowcount or 0
        setattr(deleted, counted, n)
    for i in range(0, len(named), 500):
        conn.execute(delete(HORIZONS).where(HORIZONS.c.account == account, HORIZONS.c.livemode == livemode,
                                            HORIZONS.c.customer.in_(named[i : i + 500])))
    return deleted


def insert_horizons(conn: Connection, account: str, livemode: bool, horizons: dict[str, int]) -> None:
    """Store each customer's horizon (``syncer.normalize.horizon``); replace them with
    ``delete_customer_facts`` first."""
    _insert_all(conn, HORIZONS, [(account, livemode, c, at) for c, at in sorted(horizons.items())])


def replace_unowned(conn: Connection, account: str, livemode: bool, unowned: dict[str, list[str]]) -> None:
    """Record the objects of the range of no customer that can belong to one through
    another row (``BatchFacts.unowned``), replacing those recorded."""
    conn.execute(delete(UNOWNED).where(UNOWNED.c.account == account, UNOWNED.c.livemode == livemode))
    _insert_all(conn, UNOWNED, [(account, livemode, name, i) for name, ids in sorted(unowned.items()) for i in ids])


def recorded_unowned(conn: Connection, account: str, livemode: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    u = UNOWNED.c
    for name, object_id in conn.execute(select(u.table_name, u.id).where(u.account == account,
                                                                          u.livemode == livemode)):
        out.setdefault(name, []).append(object_id)
    return out


def expired_horizons(conn: Connection, account: str, livemode: bool, at: int) -> set[str]:
    """The customers whose facts may have changed by ``at`` without new data."""
    h = HORIZONS.c
    return set(conn.execute(select(h.customer).where(h.account == account, h.livemode == livemode,
                                                     h.valid_until <= at)).scalars())


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


@dataclass(frozen=True)
class RunRecord:
    """What a normalization run row says beyond its counts."""

    data_as_of: int
    finished_at: int
    through_change: int | None = None
    fingerprint: str | None = None
    kind: str = "full"
    customers_updated: int | None = None
    full_at: int | None = None


def record_normalization(
    conn: Connection, account: str, livemode: bool, counts: FactCounts, *, data_as_of: int, now: int,
    run: RunRecord | None = None,
) -> None:
    """Replace the account's run row (one per account: the last normalization)."""
    run = run or RunRecord(data_as_of, now, full_at=now)
    conn.execute(delete(RUNS).where(RUNS.c.account == account, RUNS.c.livemode == livemode))
    conn.execute(RUNS.insert().values(
        account=account, livemode=livemode, data_as_of=data_as_of, finished_at=now, spans=counts.spans,
        churns=counts.churns, revenue_lines=counts.revenue_lines, failures=counts.failures,
        customers=counts.customers, through_change=run.through_change, fingerprint=run.fingerprint,
        kind=run.kind, customers_updated=run.customers_updated, full_at=run.full_at,
    ))


def _insert(conn: Connection, t: Table, rows: list[tuple[Any, ...]]) -> None:
    """``rows``: values of every column but the id, in the table's order. Sent as plain
    DB-API ``executemany`` of tuples: with SQLAlchemy's ``insert()``, which builds and
    binds a dict per row, writing took about twice as long."""
    _insert_columns(conn, t, [c.name for c in t.columns if c.name != "id"], rows)


def _insert_all(conn: Connection, t: Table, rows: list[tuple[Any, ...]]) -> None:
    """``rows``: values of every column, in the table's order."""
    _insert_columns(conn, t, [c.name for c in t.columns], rows)


def _insert_columns(conn: Connection, t: Table, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
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
    """The stored facts of one account, as the pure metrics take them, all in memory (a
    report reads them a batch of customers at a time: ``iter_customer_facts``).

    ``revenue_months`` and ``revenue_summed_in`` as for ``iter_revenue_lines``."""
    with store.snapshot() as conn, collector_paused():
        every = _customer_facts(conn, account, livemode, None)
        revenue = tuple(iter_revenue_lines(conn, account, livemode, revenue_months, revenue_summed_in))
        plans = load_plans(conn, account, livemode)
    return Facts(customers=every.customers, spans=every.spans, churns=every.churns, revenue=revenue,
                 failures=every.failures, default_currency=default_currency, account_name=account_name,
                 plans=plans)


# Customers whose facts a report holds at once. Each brings a few spans: a batch is a few
# megabytes, and even a large account needs only tens of batches, four indexed queries each.
REPORT_BATCH_CUSTOMERS = 1000


@dataclass(frozen=True)
class Labels:
    """What segments read beside the facts (``reports.metrics.segments``): the customers'
    countries and the values of some customer and subscription metadata keys."""

    country: bool = False
    customer_keys: tuple[str, ...] = ()
    subscription_keys: tuple[str, ...] = ()


def iter_customer_facts(
    conn: Connection, account: str, livemode: bool, size: int | None = None, labels: Labels | None = None,
) -> Iterator[CustomerFacts]:
    """The account's facts a batch of ``size`` (default ``REPORT_BATCH_CUSTOMERS``)
    customers at a time, each customer whole in one batch: a report's memory then holds
    one batch, not the account. Give it a ``Store.snapshot`` connection, so that every
    batch is read from the same normalization. With ``labels``, the customers hold them."""
    for rng in _fact_ranges(conn, account, livemode, size or REPORT_BATCH_CUSTOMERS):
        with collector_paused():
            batch = _customer_facts(conn, account, livemode, rng, labels)
        yield batch


def customer_facts(conn: Connection, account: str, livemode: bool, customers: Sequence[str]) -> CustomerFacts:
    """The facts of exactly ``customers`` (movement alerts, the dashboard's customer page),
    read a few hundred ids per query."""
    parts = [_customer_facts(conn, account, livemode, CustomerRange(ids=tuple(customers[i : i + _IDS_PER_QUERY])))
             for i in range(0, len(customers), _IDS_PER_QUERY)]
    return CustomerFacts(*(tuple(x for part in parts for x in getattr(part, name))
                           for name in ("customers", "spans", "churns", "failures", "subscriptions")))


# Ids per IN (...): well under every backend's bound-parameter limit.
_IDS_PER_QUERY = 500


def _fact_ranges(conn: Connection, account: str, livemode: bool, size: int) -> list[CustomerRange]:
    """Ranges of ``size`` customers with spans that together cover every customer id (a
    customer with churns or failures and no span falls in one too); the ids come
    streamed from the spans' customer index."""
    sp = SPANS.c
    ids = stream_rows(conn, select(sp.customer).distinct()
                      .where(sp.account == account, sp.livemode == livemode).order_by(sp.customer))
    return ranges_covering((row[0] for row in ids), size)


def _customer_facts(conn: Connection, account: str, livemode: bool, rng: CustomerRange | None,
                    labels: Labels | None = None) -> CustomerFacts:
    """The customers, spans, churn events and payment failures of the customers in ``rng``
    (all of the account's when None), and with ``labels`` what segments read."""
    def where(t: Table, column: Any) -> Select[Any]:
        query = select(t).where(t.c.account == account, t.c.livemode == livemode)
        return query if rng is None else query.where(rng.holds(column))

    labels = labels or Labels()
    customers_t = table("customers")
    raw = customers_t.c.raw
    country = (func.coalesce(json_text(conn, raw, "address", "country"),
                             json_text(conn, raw, "shipping", "address", "country"))
               if labels.country else null())
    keys = labels.customer_keys
    customers = tuple(
        Customer(id=cid, name=name, currency=currency, deleted=deleted_at is not None, country=country or None,
                 metadata=_present(keys, values))
        for cid, name, currency, deleted_at, country, *values in stream_rows(
            conn, where(customers_t, customers_t.c.id)
            .with_only_columns(customers_t.c.id, customers_t.c.name, customers_t.c.currency, customers_t.c.deleted_at,
                               country, *(json_text(conn, raw, "metadata", k) for k in keys))
        )
    )
    subscriptions = _subscription_labels(conn, where, labels.subscription_keys)
    # Plain tuples, unpacked, and enum members looked up in a dict: at tens of thousands
    # of spans, Row attribute access and Enum() calls were most of a report.
    causes = {str(c): c for c in Cause}
    sp = SPANS.c
    spans = tuple(
        MrrSpan(customer, subscription, item, price, currency, start, end, mrr, contract_mrr, causes[cause])
        for customer, subscription, item, price, currency, start, end, mrr, contract_mrr, cause in stream_rows(
            conn, where(SPANS, sp.customer)
            .with_only_columns(sp.customer, sp.subscription, sp.item, sp.price, sp.currency, sp.start, sp.end, sp.mrr,
                               sp.contract_mrr, sp.cause)
            .order_by(sp.customer, sp.start)
        )
    )
    churns = tuple(
        ChurnEvent(customer=r.customer, subscription=r.subscription, at=r.at, requested_at=r.requested_at,
                   kind=ChurnKind(r.kind), rule=r.rule, derived=bool(r.derived), reason=r.reason,
                   feedback=r.feedback, comment=r.comment)
        for r in stream_rows(conn, where(CHURNS, CHURNS.c.customer))
    )
    failures = tuple(
        PaymentFailure(invoice=r.invoice, customer=r.customer, subscription=r.subscription, currency=r.currency,
                       amount=r.amount, first_failed_at=r.first_failed_at, attempts=r.attempts,
                       recovered_at=r.recovered_at, closed_at=r.closed_at)
        for r in stream_rows(conn, where(FAILURES, FAILURES.c.customer))
    )
    return CustomerFacts(customers, spans, churns, failures, subscriptions)


def customer_keys(conn: Connection, account: str, livemode: bool, match_key: str) -> dict[str, str]:
    """Each customer's key for matching it across accounts (``ACCOUNT_MATCH_KEY``): its
    e-mail address (trimmed, lower case), the value of a metadata key, or none."""
    customers = table("customers")
    value = _match_value(conn, customers, match_key)
    if value is None:
        return {}
    rows = stream_rows(conn, select(customers.c.id, value).where(
        customers.c.account == account, customers.c.livemode == livemode))
    return {cid: str(key) for cid, key in rows if key not in (None, "")}


def matched_customers(conn: Connection, accounts: Sequence[str], livemode: bool, customer: str,
                      match_key: str) -> list[tuple[str, str]]:
    """(account, customer id) of ``customer`` and of each customer of ``accounts`` sharing
    its key, in the accounts' order then by id: the customers a consolidated report counts
    as one (under the first one's id). Empty when no account lists ``customer``."""
    customers = table("customers")
    c = customers.c
    value = _match_value(conn, customers, match_key)
    listed = conn.execute(select(c.account, value if value is not None else null())
                          .where(c.id == customer, c.livemode == livemode, c.account.in_(accounts))).first()
    if listed is None:
        return []
    holder, key = listed
    if key in (None, ""):
        return [(str(holder), customer)]
    assert value is not None  # a key was read through it
    rows = conn.execute(select(c.account, c.id).where(c.livemode == livemode, c.account.in_(accounts), value == key))
    order = {a: n for n, a in enumerate(accounts)}
    return sorted(((str(a), str(i)) for a, i in rows), key=lambda row: (order[row[0]], row[1]))


def _match_value(conn: Connection, customers: Table, match_key: str) -> Any | None:
    """The SQL value of a customer's match key, None when customers are not matched."""
    if match_key == BY_EMAIL:
        return func.lower(func.trim(customers.c.email))
    if match_key.startswith(BY_METADATA):
        return json_text(conn, customers.c.raw, "metadata", match_key.removeprefix(BY_METADATA))
    return None


def _subscription_labels(conn: Connection, where: Callable[[Table, Any], Select[Any]],
                         keys: tuple[str, ...]) -> tuple[SubscriptionLabels, ...]:
    """The values of the metadata ``keys`` of the subscriptions ``where`` selects that have some."""
    if not keys:
        return ()
    subs = table("subscriptions")
    found = []
    for sid, customer, *values in stream_rows(conn, where(subs, subs.c.customer).with_only_columns(
            subs.c.id, subs.c.customer, *(json_text(conn, subs.c.raw, "metadata", k) for k in keys))):
        metadata = _present(keys, values)
        if metadata and customer:
            found.append(SubscriptionLabels(customer, sid, metadata))
    return tuple(found)


def _present(keys: tuple[str, ...], values: Sequence[Any]) -> tuple[tuple[str, str], ...]:
    """The (key, value) pairs with a value (Stripe metadata values are strings; "" is none)."""
    return tuple((k, str(v)) for k, v in zip(keys, values, strict=True) if v not in (None, ""))


def json_text(conn: Connection, column: Any, *path: str) -> Any:
    """The text at ``path`` in a JSON text column, NULL when absent: read by the database,
    so a report does not parse whole objects for one field."""
    if conn.dialect.name == "postgresql":
        return func.jsonb_extract_path_text(cast(column, JSONB), *path)
    # SQLite's JSON path, each key quoted (keys never hold a double quote: segments'
    # metadata_key refuses them).
    return func.json_extract(column, "$" + "".join(f'."{key}"' for key in path))


def first_mrr_instant(conn: Connection, account: str, livemode: bool) -> int | None:
    """When the account's first span starts; None without spans."""
    sp = SPANS.c
    first = conn.execute(select(func.min(sp.start)).where(sp.account == account, sp.livemode == livemode)).scalar()
    return None if first is None else int(first)


def iter_revenue_lines(
    conn: Any, account: str, livemode: bool, months: Sequence[tuple[int, int]] | None, summed_in: str | None
) -> Iterator[RevenueLine]:
    """The account's revenue lines, streamed.

    Revenue lines are by far the most numerous facts, and a report only adds them up by
    month and kind, so it can ask for fewer: ``months``, the (start, end) of the
    consecutive months reported, keeps the lines with an instant in them; with
    ``summed_in`` (the report currency) too, the lines in that currency of one month and
    kind come summed in the database, as one line at the month's start of no customer
    (named after the first source): their sum needs no conversion. Lines in other
    currencies stay apart, as each is converted at its own instant and rounded on its own."""
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
    for q in queries:
        for at, customer, source, kind, amount, currency in stream_rows(conn, q):
            yield RevenueLine(at=at, customer=names.setdefault(customer, customer), source=source, kind=kinds[kind],
                              amount=int(amount), currency=names.setdefault(currency, currency))


def load_plans(conn: Any, account: str, livemode: bool) -> tuple[Plan, ...]:
    """Each synced price labelled with its product's name (a price of an unnamed or unsynced
    product keeps its id) and its billing interval ("month", "3 months")."""
    prices, products = table("prices"), table("products")
    rows = conn.execute(
        select(prices.c.id, products.c.name, prices.c.recurring_interval, prices.c.recurring_interval_count)
        .join(products, (products.c.account == prices.c.account) & (products.c.livemode == prices.c.livemode)
              & (products.c.id == prices.c.product), isouter=True)
        .where(prices.c.account == account, prices.c.livemode == livemode)
    )
    return tuple(Plan(price=r.id, name=r.name or r.id, interval=interval_label(r.recurring_interval,
                                                                                r.recurring_interval_count))
                 for r in rows)


def interval_label(interval: str | None, count: int | None) -> str | None:
    """``month``, ``year``; ``3 months`` for a count above one; None for a one-time price."""
    if not interval:
        return None
    return interval if not count or count == 1 else f"{count} {interval}s"
