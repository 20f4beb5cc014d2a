"""Normalizing an account one batch of customers at a time, in this process and one more.

Normalization is CPU-bound Python (reading rows, parsing their JSON, the MRR rules), and
one interpreter runs it on one CPU however many the machine has. On a large account a
worker process normalizes batches from its own read connection while this process
normalizes others and writes every batch's facts in its one transaction. Facts come back
in range order, so what is stored is row for row what a serial run stores.

Why one worker and not one per CPU: each process holds its own interpreter, libraries
and batch, so memory grows with every process; two halve the time on the two CPUs of a
small server and stay within the memory target of every step (docs/BENCHMARK.md). The
worker only reads raw tables, which the transaction here does not write (it replaces
facts); on SQLite (WAL) it reads beside the writer without waiting.

Fewer batches (an incremental run's, a small account's) are normalized here, their rows
read ahead by a few threads on connections of their own, the same way: on a large
database a few customers' rows lie on pages all over the file, and reading them one
query at a time left the disk waiting most of the run.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from reports.facts import Facts
from syncer.app.gc_tuning import collector_paused
from syncer.app.logging import get_logger
from syncer.db.engine import create_db_engine, page_cache_of
from syncer.db.raw_loader import THROUGH_ANOTHER_ROW, CustomerRange, fetch_batch, load_shared
from syncer.db.store import Store
from syncer.errors import RetryLater
from syncer.normalize import normalize
from syncer.normalize.horizon import horizons
from syncer.normalize.model import NormalizeSettings, RawAccount

log = get_logger(__name__)

WORKERS = 1
# Starting a worker costs about a second of CPU (a fresh interpreter imports the
# libraries): below this many batches (2,000 customers) they are all normalized here.
PARALLEL_FROM_BATCHES = 80
# Batches queued at the worker, so it never waits for this process to hand it the next.
QUEUED_PER_WORKER = 4
# Finished batches held for their turn to be written (the worker's next one is late).
HELD_AT_MOST = 8
# Batches read at once ahead of the one being derived, below PARALLEL_FROM_BATCHES:
# about 25 MB of parsed objects each at most (BATCH_CUSTOMERS).
READERS = 3
# Normalization reads each raw page once: SQLite's default 2 MB page cache suffices
# (a sync's larger cache would fill in each process with pages never read again).
READ_SQLITE_CACHE_KIB = 2_048


@dataclass(frozen=True)
class BatchJob:
    """What every batch of one normalization shares (sent to the worker once)."""

    account: str
    livemode: bool
    default_currency: str
    account_name: str | None
    settings: NormalizeSettings
    as_of: int


class WorkerFailed(RetryLater):
    """The worker process died (killed, or out of memory); nothing was written."""


@dataclass(frozen=True)
class BatchFacts:
    """A range's facts, and until when each of its customers' facts hold without new data
    (``syncer.normalize.horizon``)."""

    facts: Facts
    horizons: dict[str, int]
    # The range of no customer: its objects that belong to a customer only through
    # another row (a refund through its charge), by table; they join that customer's
    # range when the other row arrives.
    unowned: dict[str, list[str]] = field(default_factory=dict)


def normalize_range(conn: Connection, job: BatchJob, shared: dict[str, Any], rng: CustomerRange) -> BatchFacts:
    """The facts of one range of customers, read through ``conn``."""
    with collector_paused():
        return _derive_range(job, shared, rng, fetch_batch(conn, job.account, job.livemode, rng))


def _derive_range(job: BatchJob, shared: dict[str, Any], rng: CustomerRange, batch: dict[str, Any]) -> BatchFacts:
    """The facts of one range of customers from its objects (``fetch_batch``)."""
    with collector_paused():
        raw = RawAccount(**batch, **shared, default_currency=job.default_currency, account_name=job.account_name)
        facts = normalize(raw, job.settings, now=job.as_of)
        until = horizons(raw, facts, job.settings, job.as_of)
        unowned = {name: [str(o["id"]) for o in objects if o.get("id")] for name, objects in batch.items()
                   if rng.none and name in THROUGH_ANOTHER_ROW and objects}
        # Freed before the collector resumes: alive then, the batch's hundreds of
        # thousands of parsed objects would all be scanned by its first collection.
        del batch, raw
    return BatchFacts(facts, until, unowned)


def iter_batch_facts(
    store: Store, conn: Connection, job: BatchJob, ranges: Sequence[CustomerRange]
) -> Generator[BatchFacts, None, None]:
    """Each range's facts, in range order: normalized here through ``conn``, and from
    ``PARALLEL_FROM_BATCHES`` ranges on, also by ``WORKERS`` processes. Close it when
    stopping early: the threads reading ahead end then."""
    with page_cache_of(conn, READ_SQLITE_CACHE_KIB):
        shared = load_shared(conn, job.account, job.livemode, _only_customers(ranges))
        here = partial(normalize_range, conn, job, shared)
        url = _worker_url(store)
        if url is None or len(ranges) < 2:
            yield from map(here, ranges)
        elif WORKERS < 1 or len(ranges) < PARALLEL_FROM_BATCHES:
            yield from _reading_ahead(store, job, shared, ranges)
        else:
            yield from _with_workers(url, job, here, ranges)


def _reading_ahead(store: Store, job: BatchJob, shared: dict[str, Any],
                   ranges: Sequence[CustomerRange]) -> Iterator[BatchFacts]:
    """Each range's facts, in order, its rows read on other connections while this thread
    derives the facts of the ranges before it. A few customers' rows lie on pages all
    over a large database: read one at a time, the disk's wait is most of an incremental
    run; several reads at once keep it busy, and deriving overlaps them (the threads
    wait on the disk without holding the interpreter)."""
    ahead: deque[Future[dict[str, Any]]] = deque()
    todo = deque(ranges)
    # No collection while batches read ahead wait: it would scan their objects, every one.
    with collector_paused(), ThreadPoolExecutor(READERS, thread_name_prefix="normalize-read") as pool:
        try:
            for rng in ranges:
                while todo and len(ahead) < READERS:
                    ahead.append(pool.submit(_read_range, store, job, todo.popleft()))
                yield _derive_range(job, shared, rng, ahead.popleft().result())
        finally:
            for future in ahead:  # stopped early (an error, a generator closed): read no more
                future.cancel()


def _read_range(store: Store, job: BatchJob, rng: CustomerRange) -> dict[str, Any]:
    with store.reading() as conn, page_cache_of(conn, READ_SQLITE_CACHE_KIB):
        return fetch_batch(conn, job.account, job.livemode, rng)


def _only_customers(ranges: Sequence[CustomerRange]) -> list[str] | None:
    """The customers of ``ranges`` when they are lists of customers (an incremental run's),
    else None: the shared lookups need then hold only what those customers use."""
    if any(r.ids is None and not r.none for r in ranges):
        return None
    return [c for r in ranges for c in r.ids or ()]


def _with_workers(
    url: str, job: BatchJob, here: Callable[[CustomerRange], BatchFacts], ranges: Sequence[CustomerRange]
) -> Iterator[BatchFacts]:
    # spawn, not fork: the daemon normalizes in a thread beside the scheduler's, and a
    # forked child would inherit their locks and this process's open connections.
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(url, job))
    try:
        pool.submit(int)  # starts the workers now, before any batch is handed out
    except OSError as exc:  # no process to be had (a process limit, no memory): alone then
        pool.shutdown(wait=False, cancel_futures=True)
        log.warning("normalize.no_worker", reason=str(exc), why="normalizing in this process alone")
        yield from map(here, ranges)
        return
    done: Counter[str] = Counter()
    try:
        yield from _interleaved(pool.submit, here, ranges, queued=WORKERS * QUEUED_PER_WORKER, done=done)
    except BrokenProcessPool:
        raise WorkerFailed("the normalization worker process died (out of memory?); "
                           "nothing was written, run it again") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    log.info("normalize.batches", batches=len(ranges), here=done["here"], workers=done["workers"])


def _interleaved(
    submit: Callable[..., Future[BatchFacts]], here: Callable[[CustomerRange], BatchFacts],
    ranges: Sequence[CustomerRange], *, queued: int, done: Counter[str],
) -> Iterator[BatchFacts]:
    """Ranges go to the workers in order, ``queued`` at a time; while the oldest queued
    one is not back, this process takes the next range itself. Yields in range order."""
    todo = deque(ranges)
    results: deque[Future[BatchFacts] | BatchFacts] = deque()
    while todo or results:
        while todo and sum(isinstance(r, Future) for r in results) < queued:
            results.append(submit(_work_in_worker, todo.popleft()))
        head = results[0]
        if isinstance(head, Future) and not head.done() and todo and len(results) < HELD_AT_MOST:
            results.append(here(todo.popleft()))
            done["here"] += 1
            continue
        results.popleft()
        if isinstance(head, Future):
            done["workers"] += 1
            yield head.result()
        else:
            yield head


def _worker_url(store: Store) -> str | None:
    """The URL a worker connects with, or None when another process cannot see the
    database (SQLite in memory)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"
                                               or url.database.startswith("file:")):
        return None
    # Passed through the worker's pipe, never on a command line: it may hold a password.
    return url.render_as_string(hide_password=False)


# ---- in the worker process ----------------------------------------------------------------


_worker: dict[str, Any] = {}


def _start_worker(url: str, job: BatchJob) -> None:
    # Ctrl-C reaches the whole process group: this process leaves it to the one that
    # started it, which stops the work and ends this one (no traceback from here).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store = Store(create_db_engine(url, pool_size=1, sqlite_cache_kib=READ_SQLITE_CACHE_KIB))
    with store.reading() as conn:
        shared = load_shared(conn, job.account, job.livemode)
    _worker.update(store=store, job=job, shared=shared)


def _work_in_worker(rng: CustomerRange) -> BatchFacts:
    store: Store = _worker["store"]
    with store.reading() as conn:
        return normalize_range(conn, _worker["job"], _worker["shared"], rng)
