"""Bringing an account's facts up to date: all of them, or only what changed.

A full rebuild re-derives every customer. An incremental run re-derives the customers
whose objects changed since the last run (``syncer.db.changes``), those whose facts
would differ at the newer instant the data now describes (their horizon,
``syncer.normalize.horizon``), and the objects of no customer when one of them changed,
reached its horizon, or came to belong to a customer (a refund whose charge arrived:
``unowned_objects``). Everything else keeps its facts, which equal what a rebuild
would derive.

A run is full when asked (``nrr normalize --full``, the daemon's reconciliation), when
the account was never normalized, when the metric settings or the normalization code
changed (their fingerprint), or when so many customers changed that a rebuild is as
cheap. Either kind is one transaction: a crash leaves the previous facts whole, and the
next run finds the same changes still unprocessed. Two runs at once (a report's beside the
daemon's) take turns: the second waits for the first's commit, then finds what it left.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from syncer.app.batch_normalize import BatchFacts, BatchJob, iter_batch_facts
from syncer.app.gc_tuning import collector_paused
from syncer.app.logging import get_logger
from syncer.db.changes import changed_since, last_change, links_changed, owners
from syncer.db.facts_store import (
    NO_CUSTOMER,
    RUNS,
    FactCounts,
    RunRecord,
    clear_facts,
    delete_customer_facts,
    expired_horizons,
    insert_facts,
    insert_horizons,
    record_normalization,
    recorded_unowned,
    replace_unowned,
)
from syncer.db.locks import NORMALIZE, hold_for_transaction
from syncer.db.raw_loader import BATCH_CUSTOMERS, CustomerRange, customer_ranges
from syncer.db.store import Store, table
from syncer.normalize.horizon import EVERYONE
from syncer.normalize.model import NormalizeSettings

log = get_logger(__name__)

# Above this share of the account's customers, re-deriving them costs about what a
# rebuild costs (which also normalizes in a second process): rebuild instead.
FULL_FROM_SHARE = 0.3
# The code whose change changes the facts derived from the same objects.
_NORMALIZATION_CODE = ("syncer.normalize", "syncer.db.raw_loader", "syncer.stripe.shapes", "reports.facts",
                       "reports.churn", "reports.month", "reports.options")


@dataclass(frozen=True)
class Target:
    """The account normalized and what every batch of it shares."""

    account: str
    livemode: bool
    default_currency: str
    name: str | None


@dataclass(frozen=True)
class NormalizeOutcome:
    """What a normalization did: ``kind`` full or incremental (``none``: nothing changed)."""

    kind: str
    customers_updated: int
    counts: FactCounts

    def log_fields(self) -> dict[str, object]:
        return {"kind": self.kind, "customers_updated": self.customers_updated, **asdict(self.counts)}


def fingerprint(norm: NormalizeSettings, default_currency: str) -> str:
    """Changes when the facts the same objects give could change: the settings the rules
    read, the account's currency, the normalization code."""
    digest = hashlib.sha256(repr((norm, default_currency)).encode())
    digest.update(_code_digest().encode())
    return digest.hexdigest()[:32]


@cache
def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in _NORMALIZATION_CODE:
        module = import_module(name)
        paths = sorted(Path(module.__file__ or "").parent.glob("*.py")) if hasattr(module, "__path__") \
            else [Path(module.__file__ or "")]
        for path in paths:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def normalize_target(store: Store, target: Target, norm: NormalizeSettings, *, as_of: int, now: int,
                     full: bool = False) -> NormalizeOutcome:
    """Bring the target's facts up to date with its objects as of ``as_of``."""
    # Normally a no-op; after a first backfill that was stopped or crashed, the indexes it
    # deferred: without them the reads below would each scan a whole table.
    store.build_deferred_indexes()
    job = BatchJob(target.account, target.livemode, target.default_currency, target.name, norm, as_of)
    printed = fingerprint(norm, target.default_currency)
    with store.transaction() as conn:
        # First the normalization lock, then a write: on SQLite the write takes the
        # database's write lock, so no sync commits between the change number read next
        # and the rows read after it.
        previous = _claim(conn, target)
        through = last_change(conn)
        if full or previous is None or previous["fingerprint"] != printed or previous["through_change"] is None:
            return _rebuild(store, conn, job, RunRecord(as_of, now, through, printed, "full", None, now))
        since = int(previous["through_change"])
        changed = changed_since(conn, target.account, target.livemode, since)
        due = expired_horizons(conn, target.account, target.livemode, as_of)
        customers = (changed.customers | due) - {NO_CUSTOMER}
        everyone = _count_customers(conn, target)
        if len(customers) > FULL_FROM_SHARE * max(everyone, 1):
            return _rebuild(store, conn, job, RunRecord(as_of, now, through, printed, "full", None, now))
        counts = FactCounts.of_run(previous)
        run = RunRecord(as_of, now, through, printed, "incremental", len(customers), previous["full_at"])
        unowned = changed.unowned or NO_CUSTOMER in due or _unowned_found_owner(conn, target, since)
        if not customers and not unowned:
            record_normalization(conn, target.account, target.livemode, counts, data_as_of=as_of, now=now, run=run)
            return NormalizeOutcome("none", 0, counts)
        try:
            counts = _update(store, conn, job, sorted(customers), counts, unowned=unowned)
        except _NotAlone as exc:
            log.warning("normalize.rebuilding", why=str(exc))
            return _rebuild(store, conn, job, RunRecord(as_of, now, through, printed, "full", None, now))
        counts.customers = everyone
        record_normalization(conn, target.account, target.livemode, counts, data_as_of=as_of, now=now, run=run)
        return NormalizeOutcome("incremental", len(customers), counts)


class _NotAlone(Exception):
    """A batch derived facts of a customer outside it: only a rebuild is sure to be right."""


def _claim(conn: Connection, target: Target) -> dict[str, Any] | None:
    """The target's last run row, read after writing to it (see the caller), once no other
    normalization is under way: it may be about to write that row."""
    hold_for_transaction(conn, NORMALIZE)
    where = (RUNS.c.account == target.account, RUNS.c.livemode == target.livemode)
    conn.execute(update(RUNS).where(*where).values(kind=RUNS.c.kind))
    row = conn.execute(select(RUNS).where(*where)).mappings().first()
    return None if row is None else dict(row)


def _rebuild(store: Store, conn: Connection, job: BatchJob, run: RunRecord) -> NormalizeOutcome:
    counts = FactCounts()
    clear_facts(conn, job.account, job.livemode)
    ranges = customer_ranges(conn, job.account, job.livemode)
    apart = True
    # Closed at once on an error: its threads and its pause of the collector end with it.
    with closing(iter_batch_facts(store, conn, job, ranges)) as facts:
        for rng, batch in zip(ranges, facts, strict=True):
            apart = _write(conn, job, batch, rng, alone=False) and apart
            counts.add(batch.facts)
    if not apart:
        # Facts of no customer came from a customer's objects, or the reverse: replacing
        # one side's facts alone would leave them behind, so the next run rebuilds too.
        log.warning("normalize.not_incremental", why="facts of one customer came from the objects of another")
        run = replace(run, through_change=None)
    record_normalization(conn, job.account, job.livemode, counts, data_as_of=run.data_as_of, now=run.finished_at,
                         run=run)
    return NormalizeOutcome("full", counts.customers, counts)


def _unowned_found_owner(conn: Connection, target: Target, since: int) -> bool:
    """Whether an object the range of no customer held now belongs to a customer (the row
    linking it arrived after change ``since``): its facts move from that range to the
    customer's. Each object is looked up only when such a row changed: on a large account
    they are hundreds of rows read from all over the database, on every run."""
    held = recorded_unowned(conn, target.account, target.livemode)
    if not held or not links_changed(conn, held, target.account, target.livemode, since):
        return False
    return any(owners(conn, name, "id", ids, target.account, target.livemode).customers
               for name, ids in held.items())


def _update(store: Store, conn: Connection, job: BatchJob, customers: Sequence[str],
            counts: FactCounts, *, unowned: bool) -> FactCounts:
    """Replace the facts of ``customers`` (and with ``unowned``, of no customer); the
    account's new counts."""
    ranges = [CustomerRange(ids=tuple(customers[i : i + BATCH_CUSTOMERS]))
              for i in range(0, len(customers), BATCH_CUSTOMERS)]
    if unowned:
        ranges.append(CustomerRange(none=True))
    deleted = delete_customer_facts(conn, job.account, job.livemode,
                                    [*customers, NO_CUSTOMER] if unowned else customers)
    counts = counts.minus(deleted)
    with closing(iter_batch_facts(store, conn, job, ranges)) as facts:
        for rng, batch in zip(ranges, facts, strict=True):
            _write(conn, job, batch, rng, alone=True)  # raises _NotAlone: the caller rebuilds
            counts.add(batch.facts)
    return counts


def _write(conn: Connection, job: BatchJob, batch: BatchFacts, rng: CustomerRange, *, alone: bool) -> bool:
    """Store a batch's facts and the horizons of the range's customers; whether the facts
    keep apart (a customer's range gave no facts of no customer, the range of no customer
    none of a customer). ``alone``: they must also all be of the range's customers, as
    replacing only theirs requires."""
    customers = set(_fact_customers(batch))
    apart = customers <= {NO_CUSTOMER} if rng.none else NO_CUSTOMER not in customers
    if alone:
        own = set(rng.ids or ()) if not rng.none else {NO_CUSTOMER}
        stray = sorted(customers - own)
        if stray:
            raise _NotAlone(f"facts of {len(stray)} customer(s) came from the objects of others")
    if rng.none:
        until = {c: at for c, at in batch.horizons.items() if c == EVERYONE}
    elif rng.ids is not None:
        until = {c: at for c, at in batch.horizons.items() if c in rng.ids}
    else:
        until = {c: at for c, at in batch.horizons.items() if c != EVERYONE}
    with collector_paused():
        insert_facts(conn, job.account, job.livemode, batch.facts)
        insert_horizons(conn, job.account, job.livemode, until)
    if rng.none:
        replace_unowned(conn, job.account, job.livemode, batch.unowned)
    return apart


def _fact_customers(batch: BatchFacts) -> Iterable[str]:
    f = batch.facts
    for group in (f.spans, f.churns, f.revenue, f.failures):
        for fact in group:
            yield fact.customer or NO_CUSTOMER


def _count_customers(conn: Connection, target: Target) -> int:
    cus = table("customers")
    return int(conn.execute(select(func.count()).select_from(cus).where(
        cus.c.account == target.account, cus.c.livemode == target.livemode)).scalar_one())
