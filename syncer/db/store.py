"""Every write the sync makes: batched upserts, checkpoints, runs, cursors.

Rows of a page and the checkpoint that says the page is done are written in one
transaction (``commit_page``), so a crash at any moment leaves either both or neither.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from syncer.db import deferred_indexes
from syncer.db.engine import database_error, is_sqlite
from syncer.db.meta import (
    BackfillWindow,
    ChangeCounter,
    EventCursor,
    StripeAccount,
    SyncRun,
    SyncState,
)
from syncer.db.objects import CHANGE_COLUMNS

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def table(name: str) -> Table:
    import syncer.db.deliveries
    import syncer.db.derived
    import syncer.db.objects  # noqa: F401  (registers the object tables)

    return SQLModel.metadata.tables[name]


class Store:
    """The database as the sync sees it. Thread-safe: one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time; serialising in-process avoids busy waits.
        self._write_lock = threading.Lock() if is_sqlite(engine) else None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        lock = self._write_lock
        try:
            if lock:
                lock.acquire()
            try:
                with self.engine.begin() as conn:
                    yield conn
            finally:
                if lock:
                    lock.release()
        except SQLAlchemyError as exc:
            raise database_error(self.engine, exc) from None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise database_error(self.engine, exc) from None

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A connection whose every query sees the same committed state: a report read a
        batch of customers at a time never mixes the facts of two normalizations.

        SQLite's Python driver opens no transaction for a SELECT (each query would read
        the latest commit), so one is begun by hand; PostgreSQL's default, READ
        COMMITTED, takes a new snapshot per statement, so this one is REPEATABLE READ."""
        with self.reading() as conn:
            try:
                if is_sqlite(self.engine):
                    conn.exec_driver_sql("BEGIN")
                else:
                    conn.execution_options(isolation_level="REPEATABLE READ")
            except SQLAlchemyError as exc:
                raise database_error(self.engine, exc) from None
            yield conn

    # ---- indexes a first backfill builds at its end (deferred_indexes.py) -----------

    def defer_indexes(self) -> list[str]:
        """Drop the deferrable indexes if no object is stored yet; the names dropped."""
        with self.transaction() as conn:
            return deferred_indexes.drop_if_first_backfill(conn)

    def build_deferred_indexes(self) -> list[str]:
        """Build whichever deferrable indexes are missing; the names built (usually none)."""
        with self.reading() as conn:
            if not deferred_indexes.missing_indexes(conn):
                return []
        with self.transaction() as conn:
            return deferred_indexes.build_missing(conn)

    # ---- objects -------------------------------------------------------------------

    def change_number(self, conn: Connection) -> int:
        """The number this transaction stamps on the object rows it alters (``changed``),
        taken from the counter at its first call and the same for the rest of it. Taking it
        locks the counter's row until the transaction ends: changes commit in number order."""
        tx = conn.get_transaction()
        cached = conn.info.get(_CHANGE_KEY)
        if cached is not None and cached[0] is tx:
            return int(cached[1])
        cc = ChangeCounter.__table__  # type: ignore[attr-defined]
        if not conn.execute(update(cc).where(cc.c.id == 1).values(last=cc.c.last + 1)).rowcount:
            conn.execute(cc.insert().values(id=1, last=1))
        number = int(conn.execute(select(cc.c.last).where(cc.c.id == 1)).scalar_one())
        conn.info[_CHANGE_KEY] = (tx, number)
        return number

    def upsert_rows(self, conn: Connection, rows: Rows) -> int:
        """Insert or update rows per table; older data never overwrites newer data. A row
        whose content or deletion differs from the stored one gets this transaction's
        change number; one written again unchanged keeps its own."""
        written = 0
        change: int | None = None
        for name, batch in rows.items():
            if batch:
                change = self.change_number(conn) if change is None else change
                sql, columns = _upsert_sql(self.engine, table(name))
                # Straight to the driver's executemany: the ORM-free path is several times
                # faster, and a sync writes hundreds of rows a page.
                conn.exec_driver_sql(sql, [(*(row[c] for c in columns), change, row["synced_at"]) for row in batch])
                written += len(batch)
        return written

    def mark_missing_children_deleted(
        self, conn: Connection, child_table: str, parent_column: str, parent_ids: dict[str, list[str]],
        *, account: str, livemode: bool, at: int,
    ) -> int:
        """Children of a parent whose complete list no longer names them are marked deleted.

        One read of the parents' stored children, then an update of only the stale ones
        (usually none): a page of 100 invoices costs two statements, not a hundred.
        """
        t = table(child_table)
        parents = list(parent_ids)
        stale: list[str] = []
        for i in range(0, len(parents), 500):
            # Filter by parent only, in SQL: with account and livemode in the WHERE clause
            # SQLite walks the primary key (account, livemode, id) over the whole table.
            rows = conn.execute(
                select(t.c.account, t.c.livemode, t.c[parent_column], t.c.id, t.c.deleted_at, t.c.synced_at)
                .where(t.c[parent_column].in_(parents[i : i + 500]))
            )
            keep = {(p, c) for p in parents[i : i + 500] for c in parent_ids[p]}
            stale.extend(
                cid
                for acct, live, parent, cid, deleted_at, synced_at in rows
                if acct == account and bool(live) == livemode and deleted_at is None
                and synced_at <= at and (parent, cid) not in keep
            )
        for i in range(0, len(stale), 500):
            conn.execute(
                update(t)
                .where(t.c.account == account, t.c.livemode == livemode, t.c.id.in_(stale[i : i + 500]))
                .values(deleted_at=at, changed=self.change_number(conn), changed_at=at)
            )
        return len(stale)

    def mark_deleted(
        self, conn: Connection, name: str, object_id: str, *, account: str, livemode: bool, at: int
    ) -> int:
        t = table(name)
        result = conn.execute(
            update(t)
            .where(t.c.account == account, t.c.livemode == livemode, t.c.id == object_id)
            .values(deleted_at=at, changed=self.change_number(conn), changed_at=at,
                    synced_at=func.max(t.c.synced_at, at) if is_sqlite(self.engine) else func.greatest(t.c.synced_at, at))
        )
        return result.rowcount or 0

    def existing_ids(self, conn: Connection, name: str, ids: Iterable[str], *, account: str, livemode: bool) -> set[str]:
        t = table(name)
        wanted = list(ids)
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            found.update(
                conn.execute(
                    select(t.c.id).where(t.c.account == account, t.c.livemode == livemode, t.c.id.in_(chunk))
                ).scalars()
            )
        return found

    def end_replaced_customer_discounts(
        self, conn: Connection, current: Mapping[str, str | None], *, account: str, livemode: bool, at: int
    ) -> int:
        """A customer's own discount (``customer.discount``) that the customer no longer
        carries is marked deleted at ``at``: removing it sends no object of its own, only
        the customer without it. Discounts of its subscriptions, items, invoices and
        invoice items (any of those columns set) are not the customer's own."""
        t = table("discounts")
        stale: list[str] = []
        customers = list(current)
        for i in range(0, len(customers), 500):
            rows = conn.execute(
                select(t.c.id, t.c.customer).where(
                    t.c.account == account, t.c.livemode == livemode, t.c.customer.in_(customers[i : i + 500]),
                    t.c.deleted_at.is_(None), t.c.synced_at <= at,
                    t.c.subscription.is_(None), t.c.subscription_item.is_(None),
                    t.c.invoice.is_(None), t.c.invoice_item.is_(None),
                )
            )
            stale.extend(did for did, customer in rows if did != current[customer])
        for i in range(0, len(stale), 500):
            conn.execute(
                update(t)
                .where(t.c.account == account, t.c.livemode == livemode, t.c.id.in_(stale[i : i + 500]))
                .values(deleted_at=at, synced_at=at, changed=self.change_number(conn), changed_at=at)
            )
        return len(stale)

    def unlisted_customers(self, conn: Connection, *, account: str, livemode: bool) -> list[str]:
        """``cus_…`` ids that subscriptions or invoices name but no customer row holds: a
        customer deleted before the first backfill is no longer listed. (An Accounts v2
        customer, ``acct_…``, is no ``/v1/customers`` object.)"""
        cus = table("customers")
        found: set[str] = set()
        for name in ("subscriptions", "invoices"):
            t = table(name)
            listed = select(cus.c.id).where(cus.c.account == account, cus.c.livemode == livemode,
                                            cus.c.id == t.c.customer)
            q = select(t.c.customer).distinct().where(
                t.c.account == account, t.c.livemode == livemode, t.c.customer.like("cus\\_%", escape="\\"),
                ~listed.exists(),
            )
            found.update(conn.execute(q).scalars())
        return sorted(found)

    def discounts_without_coupon(self, conn: Connection, *, account: str, livemode: bool) -> list[tuple[str, str | None, str | None]]:
        """(discount, subscription item, invoice item) of the item discounts whose coupon is
        neither stored nor expanded in them: a coupon deleted before the first backfill,
        which a listing could not expand that deep (resources._DISCOUNTS)."""
        d, c = table("discounts"), table("coupons")
        known = select(c.c.id).where(c.c.account == account, c.c.livemode == livemode, c.c.id == d.c.coupon)
        q = select(d.c.id, d.c.subscription_item, d.c.invoice_item).where(
            d.c.account == account, d.c.livemode == livemode, d.c.deleted_at.is_(None),
            d.c.coupon.is_not(None), d.c.percent_off.is_(None), d.c.amount_off.is_(None),
            d.c.subscription_item.is_not(None) | d.c.invoice_item.is_not(None),
            ~known.exists(),
        ).order_by(d.c.id)
        return [(did, si, ii) for did, si, ii in conn.execute(q)]

    def latest_invoice_billing(self, conn: Connection, subscription_item: str, *, account: str, livemode: bool) -> str | None:
        """The newest stored invoice with a line of ``subscription_item``."""
        lines, invoices = table("invoice_lines"), table("invoices")
        q = (
            select(invoices.c.id)
            .join(lines, (lines.c.account == invoices.c.account) & (lines.c.livemode == invoices.c.livemode)
                  & (lines.c.invoice == invoices.c.id))
            .where(invoices.c.account == account, invoices.c.livemode == livemode,
                   lines.c.subscription_item == subscription_item)
            .order_by(invoices.c.created.desc(), invoices.c.id.desc())
            .limit(1)
        )
        found: str | None = conn.execute(q).scalar_one_or_none()
        return found

    def count_live_and_deleted(self, conn: Connection, name: str) -> tuple[int, int]:
        """Rows of every account not deleted, and deleted, in one pass over the table."""
        t = table(name)
        every, deleted = conn.execute(select(func.count(), func.count(t.c.deleted_at))).one()
        return int(every) - int(deleted), int(deleted)

    # ---- backfill state ------------------------------------------------------------

    def get_state(self, conn: Connection, account: str, livemode: bool, resource: str) -> SyncState | None:
        row = conn.execute(
            select(SyncState.__table__).where(  # type: ignore[attr-defined]
                SyncState.account == account,  # type: ignore[arg-type]
                SyncState.livemode == livemode,  # type: ignore[arg-type]
                SyncState.resource == resource,  # type: ignore[arg-type]
            )
        ).mappings().first()
        return SyncState(**row) if row else None

    def start_generation(
        self, conn: Connection, account: str, livemode: bool, resource: str, *,
        listed_from: int, listed_until: int, now: int,
    ) -> SyncState:
        """A new list of the whole resource: one open window over [from, until)."""
        old = self.get_state(conn, account, livemode, resource)
        generation = (old.generation + 1) if old else 1
        values = {
            "generation": generation, "listed_from": listed_from, "listed_until": listed_until,
            "started_at": now, "completed_at": None,
        }
        st = SyncState.__table__  # type: ignore[attr-defined]
        if old:
            conn.execute(
                update(st).where(st.c.account == account, st.c.livemode == livemode, st.c.resource == resource).values(**values)
            )
        else:
            conn.execute(st.insert().values(account=account, livemode=livemode, resource=resource, **values))
        # Windows of older generations are history; drop them so the table stays small.
        bw = BackfillWindow.__table__  # type: ignore[attr-defined]
        conn.execute(bw.delete().where(bw.c.account == account, bw.c.livemode == livemode, bw.c.resource == resource))
        conn.execute(
            bw.insert().values(
                account=account, livemode=livemode, resource=resource, generation=generation,
                start=listed_from, end=listed_until, cursor=None, done=False, pages=0, objects=0,
            )
        )
        state = self.get_state(conn, account, livemode, resource)
        assert state is not None
        return state

    def complete_generation(self, conn: Connection, state: SyncState, now: int) -> None:
        st = SyncState.__table__  # type: ignore[attr-defined]
        conn.execute(
            update(st)
            .where(st.c.account == state.account, st.c.livemode == state.livemode,
                   st.c.resource == state.resource, st.c.generation == state.generation)
            .values(completed_at=now)
        )

    def drop_listings(self, conn: Connection, account: str, livemode: bool, *, containing: str, keep: set[str]) -> list[str]:
        """Forget the checkpoints (state and windows) of listings whose name has
        ``containing`` and is not in ``keep``: scoped listings that no longer exist (a
        test clock deleted or moved on). Left, they would never complete or refresh,
        and the oldest completed listing decides when the daemon reconciles."""
        st = SyncState.__table__  # type: ignore[attr-defined]
        bw = BackfillWindow.__table__  # type: ignore[attr-defined]
        names = conn.execute(select(st.c.resource).where(
            st.c.account == account, st.c.livemode == livemode, st.c.resource.contains(containing, autoescape=True),
        )).scalars().all()
        gone = sorted(n for n in names if n not in keep)
        if gone:
            for t in (st, bw):
                conn.execute(t.delete().where(t.c.account == account, t.c.livemode == livemode, t.c.resource.in_(gone)))
        return gone

    def open_windows(self, conn: Connection, state: SyncState) -> list[BackfillWindow]:
        bw = BackfillWindow.__table__  # type: ignore[attr-defined]
        rows = conn.execute(
            select(bw).where(
                bw.c.account == state.account, bw.c.livemode == state.livemode,
                bw.c.resource == state.resource, bw.c.generation == state.generation,
                bw.c.done.is_(False),
            ).order_by(bw.c.end.desc())
        ).mappings()
        return [BackfillWindow(**r) for r in rows]

    def save_window(self, conn: Connection, window: BackfillWindow) -> None:
        bw = BackfillWindow.__table__  # type: ignore[attr-defined]
        conn.execute(
            update(bw).where(bw.c.id == window.id).values(
                start=window.start, end=window.end, cursor=window.cursor, done=window.done,
                pages=window.pages, objects=window.objects,
            )
        )

    def insert_windows(self, conn: Connection, windows: Sequence[BackfillWindow]) -> list[BackfillWindow]:
        bw = BackfillWindow.__table__  # type: ignore[attr-defined]
        out = []
        for w in windows:
            result = conn.execute(
                bw.insert().values(
                    account=w.account, livemode=w.livemode, resource=w.resource, generation=w.generation,
                    start=w.start, end=w.end, cursor=w.cursor, done=w.done, pages=w.pages, objects=w.objects,
                )
            )
            w.id = result.inserted_primary_key[0] if result.inserted_primary_key else None
            out.append(w)
        return out

    # ---- events cursor -------------------------------------------------------------

    def get_event_cursor(self, conn: Connection, account: str, livemode: bool) -> int | None:
        ec = EventCursor.__table__  # type: ignore[attr-defined]
        return conn.execute(
            select(ec.c.cursor).where(ec.c.account == account, ec.c.livemode == livemode)
        ).scalar_one_or_none()

    def set_event_cursor(self, conn: Connection, account: str, livemode: bool, cursor: int, now: int) -> None:
        ec = EventCursor.__table__  # type: ignore[attr-defined]
        stmt = _insert(self.engine, ec).values(account=account, livemode=livemode, cursor=cursor, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["account", "livemode"], set_={"cursor": cursor, "updated_at": now}
        )
        conn.execute(stmt)

    # ---- accounts ------------------------------------------------------------------

    def upsert_account(self, conn: Connection, row: Mapping[str, Any]) -> None:
        sql, columns = _upsert_sql(self.engine, StripeAccount.__table__)  # type: ignore[attr-defined]
        conn.exec_driver_sql(sql, tuple(row[c] for c in columns))

    def get_account(self, conn: Connection, account: str, livemode: bool) -> StripeAccount | None:
        t = StripeAccount.__table__  # type: ignore[attr-defined]
        row = conn.execute(select(t).where(t.c.account == account, t.c.livemode == livemode)).mappings().first()
        return StripeAccount(**row) if row else None

    def set_platform(self, conn: Connection, account: str, livemode: bool) -> None:
        t = StripeAccount.__table__  # type: ignore[attr-defined]
        conn.execute(update(t).where(t.c.livemode == livemode).values(is_platform=(t.c.account == account)))

    def get_platform(self, conn: Connection, livemode: bool) -> str | None:
        t = StripeAccount.__table__  # type: ignore[attr-defined]
        return conn.execute(
            select(t.c.account).where(t.c.livemode == livemode, t.c.is_platform.is_(True))
        ).scalars().first()

    # ---- runs ----------------------------------------------------------------------

    def begin_run(self, kind: str, resources: Sequence[str], now: int, pid: int) -> int:
        t = SyncRun.__table__  # type: ignore[attr-defined]
        with self.transaction() as conn:
            # A run still "running" whose process is gone was killed (kill -9, power loss).
            for run_id, old_pid in conn.execute(select(t.c.id, t.c.pid).where(t.c.status == "running")).all():
                if old_pid == pid or not _alive(old_pid):
                    conn.execute(update(t).where(t.c.id == run_id).values(status="interrupted"))
            result = conn.execute(
                t.insert().values(kind=kind, status="running", started_at=now, pid=pid, resources=json.dumps(list(resources)))
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(self, run_id: int, *, status: str, now: int, stats: RunStats) -> None:
        t = SyncRun.__table__  # type: ignore[attr-defined]
        with self.transaction() as conn:
            conn.execute(
                update(t).where(t.c.id == run_id).values(
                    status=status, finished_at=now, counts=json.dumps(stats.counts, sort_keys=True),
                    requests=stats.requests, retries=stats.retries, rate_limited=stats.rate_limited,
                    errors=json.dumps(stats.errors),
                )
            )

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        t = SyncRun.__table__  # type: ignore[attr-defined]
        with self.reading() as conn:
            rows = conn.execute(select(t).order_by(t.c.id.desc()).limit(limit)).mappings().all()
        out = []
        for r in rows:
            d = dict(r)
            for key in ("resources", "counts", "errors"):
                d[key] = json.loads(d[key] or "null")
            out.append(d)
        return out

    def last_successful_run(self) -> dict[str, Any] | None:
        t = SyncRun.__table__  # type: ignore[attr-defined]
        with self.reading() as conn:
            row = conn.execute(
                select(t).where(t.c.status == "success").order_by(t.c.id.desc()).limit(1)
            ).mappings().first()
        return dict(row) if row else None

    def oldest_listing(self) -> int | None:
        """When the least recently completed full listing of any resource finished; None
        before the first backfill has completed (the daemon's reconciliation clock)."""
        st = SyncState.__table__  # type: ignore[attr-defined]
        with self.reading() as conn:
            rows = conn.execute(select(st.c.completed_at)).scalars().all()
        if not rows or any(r is None for r in rows):
            return None
        return int(min(rows))

    def states(self) -> list[SyncState]:
        st = SyncState.__table__  # type: ignore[attr-defined]
        with self.reading() as conn:
            return [SyncState(**r) for r in conn.execute(select(st)).mappings()]

    def cursors(self) -> list[EventCursor]:
        ec = EventCursor.__table__  # type: ignore[attr-defined]
        with self.reading() as conn:
            return [EventCursor(**r) for r in conn.execute(select(ec)).mappings()]


@dataclass
class RunStats:
    counts: dict[str, int]
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: list[str] = field(default_factory=list)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _insert(engine: Engine, t: Table) -> Any:
    return sqlite.insert(t) if is_sqlite(engine) else postgresql.insert(t)


_UPSERT_SQL: dict[tuple[str, str], tuple[str, list[str]]] = {}
# Where a connection keeps its transaction's change number (``Store.change_number``).
_CHANGE_KEY = "nrr_change_number"


# A discount comes with its coupon expanded from some places (a subscription's or an
# invoice's ``discounts``) and with only its id from others (an invoice line's, an
# item's: deeper than Stripe expands). The coupon never changes, and for a deleted one
# the expanded copy is the only one: a copy without it never replaces one with it.
_KEPT_WHEN_RICHER = {"discounts": ("raw", "percent_off", "amount_off", "currency", "duration", "duration_in_months")}


def _richer_condition(stored: str) -> str:
    return (f"(excluded.percent_off IS NULL AND excluded.amount_off IS NULL"
            f" AND ({stored}.percent_off IS NOT NULL OR {stored}.amount_off IS NOT NULL))")


def _upsert_sql(engine: Engine, t: Table) -> tuple[str, list[str]]:
    """``INSERT … ON CONFLICT (pk) DO UPDATE … WHERE`` the stored row is not newer, as the
    driver's own SQL (SQLite ≥ 3.24 and PostgreSQL share the syntax), and the columns a
    row gives, in order (the change number, ``changed``, and its time, ``changed_at``, are
    bound after them)."""
    key = (engine.dialect.name, t.name)
    cached = _UPSERT_SQL.get(key)
    if cached is None:
        q = engine.dialect.identifier_preparer.quote
        columns = [c.name for c in t.columns if c.name not in CHANGE_COLUMNS]
        pk = [c.name for c in t.primary_key.columns]
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        kept = _KEPT_WHEN_RICHER.get(t.name, ())
        keep = _richer_condition(q(t.name)) if kept else ""
        stored = q(t.name)

        def new(c: str) -> str:
            return f"CASE WHEN {keep} THEN {stored}.{q(c)} ELSE excluded.{q(c)} END" if c in kept else f"excluded.{q(c)}"

        updates = ", ".join(f"{q(c)} = {new(c)}" for c in columns if c not in pk)
        inserted = list(columns)
        if "changed" in t.c:
            # Compared with the stored row before the update: only new content or a new
            # deletion state takes the new number (a page listed again changes nothing).
            same = (f"{new('raw')} = {stored}.raw"
                    f" AND (excluded.deleted_at IS NULL) = ({stored}.deleted_at IS NULL)")
            updates += (f", changed = CASE WHEN {same} THEN {stored}.changed ELSE excluded.changed END"
                        f", changed_at = CASE WHEN {same} THEN {stored}.changed_at ELSE excluded.changed_at END")
            inserted += ["changed", "changed_at"]
        sql = (
            f"INSERT INTO {stored} ({', '.join(q(c) for c in inserted)}) "
            f"VALUES ({', '.join(mark for _ in inserted)}) "
            f"ON CONFLICT ({', '.join(q(c) for c in pk)}) DO UPDATE SET {updates}"
        )
        if "synced_at" in t.c:
            sql += f" WHERE {q(t.name)}.synced_at <= excluded.synced_at"
        cached = _UPSERT_SQL[key] = (sql, columns)
    return cached
