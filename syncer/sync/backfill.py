"""The backfill: list every resource completely, in parallel ``created`` windows.

A pool of workers shares one rate limiter (inside the Api). Each task fetches one page
of one window, pages any truncated child list, and commits the page's rows together
with the window's new checkpoint in one transaction. The coordinator (this thread)
hands out windows and splits them: a window is re-queued after each page until a page
says ``has_more: false``, and is split when its resource could use more windows or its
pages would outlast the rest of the backfill (windows.py). How many pages are in flight,
overall and per resource, follows the time pages take (pacing.py).

Stripe-compatible servers that lack a feature are met half-way on the first page of a
resource: a rejected ``expand`` or ``created`` filter is dropped (listing gets slower,
not wrong), and a list endpoint that does not exist (404) is recorded as unsupported.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from syncer.app.gc_tuning import collector_relaxed
from syncer.app.logging import get_logger
from syncer.db.meta import BackfillWindow, SyncState
from syncer.errors import (
    GiveUp,
    NrrError,
    StripeAccountInaccessible,
    StripeAuthError,
    StripeNotFound,
    StripeRequestError,
    StripeUnavailable,
)
from syncer.stripe.ratelimit import waited_seconds
from syncer.stripe.resources import (
    BY_NAME,
    EVENTS,
    STRIPE_KEEPS_EVENTS_SECONDS,
    Resource,
    expand_depth,
)
from syncer.sync.collect import ChildRows, Collected, RunAll, collect
from syncer.sync.context import SyncContext, Target
from syncer.sync.pacing import ServiceTime, in_flight, seconds_left
from syncer.sync.referenced import fetch_or_none
from syncer.sync.windows import pieces, split_points
from syncer.sync.writer import GroupWriter

log = get_logger(__name__)

# Stripe was launched in 2011: nothing of any account is older.
STRIPE_EPOCH = 1293840000
# Without these a "Stripe" that answers 404 is no Stripe at all (a wrong STRIPE_API_BASE).
CORE_RESOURCES = frozenset({"customers", "subscriptions", "invoices"})
# A resource's first page may fail for want of a feature rather than an outage: retry it
# only this long before trying a plainer request.
PROBE_RETRY_SECONDS = 8.0
# Single attempts of the full first page that must all fail, after a plainer one worked,
# before a feature is dropped: random faults rarely fail four in a row, a missing feature always.
FEATURE_CONFIRMATIONS = 3


@dataclass
class Job:
    target: Target
    resource: Resource
    state: SyncState
    queue: deque[BackfillWindow] = field(default_factory=deque)  # open windows waiting for a fetcher
    objects: int = 0
    failed: NrrError | None = None
    use_expand: bool = True
    use_nested_expand: bool = True  # expansions through an expanded object (``data.discounts.source.coupon``)
    use_windows: bool = True
    write_failed: bool = False  # set by the writer thread
    in_flight: int = 0  # pages being fetched now
    # A page of it was fetched in this run: the server's features are known (a run that
    # resumes a listing mid-way knows them no more than one that starts it).
    probed: bool = False
    # Open windows (queued or being fetched) and, for each, the oldest ``created`` its pages
    # reached: with the density of what was read, they estimate the pages left.
    windows: dict[int, BackfillWindow] = field(default_factory=dict)
    reached: dict[int, int] = field(default_factory=dict)
    span_read: int = 0  # seconds of ``created`` time the pages read so far covered
    # Per open window, the objects per second of ``created`` time of its last page (a
    # window split off another starts with its parent's).
    density: dict[int, float] = field(default_factory=dict)
    service: ServiceTime = field(default_factory=ServiceTime)  # seconds a page of it takes

    def mark_write_failed(self) -> None:
        self.write_failed = True

    @property
    def windowed(self) -> bool:
        return self.resource.windowed and self.use_windows

    @property
    def open_windows(self) -> int:
        return len(self.windows)

    def open(self, window: BackfillWindow) -> None:
        self.windows[id(window)] = window

    def close(self, window: BackfillWindow) -> None:
        self.windows.pop(id(window), None)
        self.reached.pop(id(window), None)
        self.density.pop(id(window), None)

    def read(self, window: BackfillWindow, oldest: int | None, newest: int | None = None, objects: int = 0) -> None:
        """A page of ``window`` of ``objects`` created from ``newest`` back to ``oldest``."""
        if oldest is None or not self.windowed:
            return
        top = self.reached.get(id(window), window.end)
        self.span_read += max(0, top - oldest)
        self.reached[id(window)] = oldest
        if newest is not None and objects:
            self.density[id(window)] = objects / (newest - oldest + 1)

    def window_pages_left(self, window: BackfillWindow, page_size: int) -> float:
        """Estimated pages ``window`` still holds: the density of its last page (else of
        the resource's pages so far) times its time not yet read; infinite while nothing says."""
        density = self.density.get(id(window))
        if density is None:
            if not self.windowed or self.span_read == 0:
                return math.inf
            density = self.objects / self.span_read
        return density * max(0, self.reached.get(id(window), window.end) - window.start) / page_size

    def take_window(self, page_size: int) -> BackfillWindow:
        """The queued window with the most pages left: the longest chain of pages starts first."""
        best = max(range(len(self.queue)), key=lambda i: self.window_pages_left(self.queue[i], page_size))
        window = self.queue[best]
        del self.queue[best]
        return window

    def pages_left(self, page_size: int) -> float:
        """Estimated pages still to fetch; infinite while nothing says (no page read yet,
        or a listing without windows: one page after another, never worth delaying)."""
        if not self.windowed or self.span_read == 0:
            return math.inf
        unread = sum(max(0, self.reached.get(k, w.end) - w.start) for k, w in self.windows.items())
        return self.objects / self.span_read * unread / page_size


class _Degrade(Exception):
    """The server rejected optional features (``created``, ``expand``) on a first page."""

    def __init__(self, *features: str) -> None:
        super().__init__(*features)
        self.features = features


class _Unsupported(Exception):
    """The server has no such list endpoint."""


@dataclass
class BackfillResult:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[NrrError] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    interrupted: bool = False
    # Customers fetched by id while the listing went on (None: Stripe has no such
    # customer), for ``referenced.fetch_unlisted_customers`` to store.
    customers: dict[str, dict[str, Any] | None] = field(default_factory=dict)


class Unlisted:
    """The customers that subscriptions and invoices name but the customer listing did
    not give (deleted before it), fetched by id while the other lists are still paged:
    one by one they wait for their endpoint's budget, a second or more after the listing
    otherwise. Only a guess: ``referenced.fetch_unlisted_customers`` decides what is
    missing once the listing is stored, and fetches whatever this did not."""

    def __init__(self, jobs: list[Job]) -> None:
        self.customer_jobs = [j for j in jobs if j.resource.name == "customers"]
        self.listed: set[str] = set()
        self.named: set[str] = set()  # since the start, or since the last ``due``
        self.asked: dict[str, Future[dict[str, Any] | None]] = {}

    def saw(self, read: _Read) -> None:
        self.listed.update(read.customers_listed)
        self.named.update(read.customers_named)

    def due(self) -> list[str]:
        """Customers named (since the last call) but not listed and not asked for yet,
        once every customer listing of this run is complete (none at all: they were
        listed before, nothing to guess)."""
        jobs = self.customer_jobs
        if not jobs or any(j.open_windows or j.failed or j.write_failed for j in jobs):
            return []
        named, self.named = self.named, set()
        return sorted(c for c in named if c not in self.listed and c not in self.asked)

    def fetched(self) -> dict[str, dict[str, Any] | None]:
        out: dict[str, dict[str, Any] | None] = {}
        for cid, fut in self.asked.items():
            try:
                out[cid] = fut.result()
            except Exception:  # noqa: BLE001, S112  (the sweep after the listing asks again)
                continue
        return out


def prepare_jobs(
    ctx: SyncContext, target: Target, resources: list[Resource], *, relist: bool, listed_from: int
) -> list[Job]:
    """The resources of ``target`` that need listing: new, unfinished, or re-listed."""
    jobs = []
    now = ctx.now()
    with ctx.store.transaction() as conn:
        for resource in resources:
            state = ctx.store.get_state(conn, target.account, target.livemode, resource.listing)
            if state is None or relist:
                since, until = listed_from, now + 1
                if resource is EVENTS:
                    # Events up to the cursor's overlap are history; later ones are applied
                    # by the incremental pass, which must not find them already stored.
                    until = now - ctx.events_overlap
                    # Older ones are gone: windows there would be empty pages (a day's margin).
                    since = max(since, now - STRIPE_KEEPS_EVENTS_SECONDS - 86400)
                state = ctx.store.start_generation(
                    conn, target.account, target.livemode, resource.listing,
                    listed_from=since, listed_until=max(until, since), now=now,
                )
            elif state.completed_at is not None:
                continue
            jobs.append(Job(target, resource, state))
    return jobs


def run_backfill(ctx: SyncContext, jobs: list[Job]) -> BackfillResult:
    """Page every window of ``jobs`` to its end.

    Two kinds of threads: fetchers (request, parse, project; as many at once as
    ``Pace.limit`` says, at most ``ctx.max_in_flight``) and one writer that commits each
    page with its checkpoint, in the order the pages were fetched. A fetcher never waits
    for the database, so the requests in flight stay at the limit while SQLite takes one
    write at a time; a window's next page can be in flight while its previous page is
    still being written (its checkpoint is written after, in order, so a crash
    re-fetches at most the unwritten pages).
    """
    result = BackfillResult()
    writes: deque[tuple[Job, Future[Any]]] = deque()
    running: dict[Future[_Read], tuple[Job, BackfillWindow]] = {}
    pace = Pace(ctx)
    with collector_relaxed(), GroupWriter(ctx.store) as writer, \
            ThreadPoolExecutor(max_workers=ctx.max_in_flight, thread_name_prefix="backfill") as pool, \
            ThreadPoolExecutor(max_workers=ctx.max_in_flight, thread_name_prefix="children") as children:
        run_all = _side_by_side(children)
        unlisted = Unlisted(jobs)
        for job in jobs:
            with ctx.store.reading() as conn:
                windows = ctx.store.open_windows(conn, job.state)
            for w in windows:
                job.open(w)
            if not windows:
                writes.append((job, _submit_complete(ctx, job, writer)))
            job.queue.extend(windows)
        while running or any(job.queue for job in jobs):
            _settle_writes(writes, result, keep=MAX_PENDING_WRITES)
            while len(running) < pace.limit() and not ctx.stop.is_set():
                picked = _next_job(jobs, pace.job_limit, ctx.page_size)
                if picked is None:
                    break
                job, window = picked, picked.take_window(ctx.page_size)
                fut = pool.submit(_page_task, ctx, job, window, writer, writes, run_all)
                job.in_flight += 1
                running[fut] = (job, window)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                job, window = running.pop(fut)
                job.in_flight -= 1
                follow = _settle(ctx, job, window, fut, result, pace, unlisted)
                if follow == [window] and job.windowed and not ctx.stop.is_set():
                    spare = pace.limit() - len(running) - _runnable(jobs, pace)
                    follow += _split(ctx, job, window, pace, jobs, spare, writer, writes)
                if job.open_windows == 0 and not job.failed and not follow:
                    writes.append((job, _submit_complete(ctx, job, writer)))
                job.queue.extend(follow)
            if not ctx.stop.is_set():
                _ask_unlisted(ctx, unlisted, children)
        pool.shutdown(wait=True)
        children.shutdown(wait=True)
        result.customers = unlisted.fetched()
    _settle_writes(writes, result, keep=0)
    if ctx.stop.is_set() and any(j.open_windows and not j.failed for j in jobs):
        result.interrupted = True
    for job in jobs:
        result.counts[job.resource.name] = result.counts.get(job.resource.name, 0) + job.objects
    return result


class Pace:
    """Pages in flight, overall and per resource, from the time pages take (pacing.py).

    Without budgets (a context built by hand) every limit is ``ctx.max_in_flight`` and no
    resource has one of its own."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ceiling = ctx.max_in_flight
        self.rate = ctx.budget_rps
        self.endpoint_rate = ctx.endpoint_budget_rps
        self.service = ServiceTime()  # of every resource's pages

    def limit(self) -> int:
        if self.rate is None:
            return self.ceiling
        return in_flight(self.rate, self.service.seconds, ceiling=self.ceiling)

    def job_limit(self, job: Job) -> int | None:
        """A page of a resource that pages child lists takes longer (they are another
        endpoint's requests, in the same task): its pages take their own time, not the
        mean, so it gets more of them in flight."""
        if self.endpoint_rate is None:
            return None
        service = job.service if job.service.samples else self.service
        return in_flight(self.endpoint_rate, service.seconds, ceiling=self.ceiling)

    def seconds_left(self, jobs: list[Job], page_size: int) -> float:
        """The least time the backfill still needs (infinite until every windowed
        resource's first page said how dense it is)."""
        if self.rate is None or self.endpoint_rate is None:
            return math.inf
        left = {j.resource.listing: j.pages_left(page_size) for j in jobs
                if j.windowed and j.open_windows and not j.failed}
        return seconds_left(left, rate=self.rate, endpoint_rate=self.endpoint_rate)


def _next_job(jobs: list[Job], limit: Callable[[Job], int | None], page_size: int) -> Job | None:
    """The job whose next window to fetch: of those with a window queued and under their
    in-flight limit, one with nothing in flight, then the one with the most pages left.

    The busiest endpoint alone takes most of the backfill's lower bound (the charges
    list, at its endpoint's budget), so it must run at its full budget from the start;
    served in queue order it fell behind early and paged alone at the end. But "pages
    left" is an estimate from the pages read so far, and a resource whose first pages
    were sparse (customers who mostly joined at the start) would wait for every other and
    then page alone at the end: a page of each in flight keeps every estimate improving
    and costs the busiest one slot each. Failed jobs' windows are dropped."""
    best: Job | None = None
    best_key = (False, -1.0)
    for job in jobs:
        if job.failed:
            job.queue.clear()
            continue
        if not job.queue:
            continue
        cap = limit(job)
        if cap is not None and job.in_flight >= cap:
            continue
        key = (job.in_flight == 0, job.pages_left(page_size))
        if key > best_key:
            best, best_key = job, key
    return best


def _runnable(jobs: list[Job], pace: Pace) -> int:
    """Queued windows that could be in flight now (their resource under its limit)."""
    total = 0
    for job in jobs:
        if job.failed or not job.queue:
            continue
        cap = pace.job_limit(job)
        total += len(job.queue) if cap is None else min(len(job.queue), max(0, cap - job.in_flight))
    return total


# Pages fetched but not yet committed before fetching waits for the writer: bounds memory
# when the database is slower than the network (however many pages are in flight).
MAX_PENDING_WRITES = 32
# No window's pages, one after the other, should take longer than this share of the
# time the backfill still needs at its budget. Not less than all of it: that time is a
# lower bound already, and estimates of pages left run high on a growing account (its
# newest pages are its densest), so half of it split windows that would have ended in
# time anyway, a partial page more each.
CHAIN_SHARE = 1.0


def _settle_writes(writes: deque[tuple[Job, Future[Any]]], result: BackfillResult, *, keep: int) -> None:
    """Book finished writes, oldest first, waiting for the oldest while more than ``keep``
    are not booked yet; a failed write fails its resource.

    Waiting until ``keep`` are left, not for one: several fetches end between two calls,
    each handing over a write, and freeing one slot a call would let the backlog grow by
    the rest, without bound while the database is the slower side."""
    while writes and (writes[0][1].done() or len(writes) > keep):
        job, fut = writes.popleft()
        try:
            fut.result()
        except NrrError as exc:
            _fail(job, exc, result)
        except Exception as exc:  # noqa: BLE001  (one resource's bug must not lose the others)
            _fail(job, GiveUp(f"{job.resource.name}: internal error {type(exc).__name__}: {exc}"), result)


def _ask_unlisted(ctx: SyncContext, unlisted: Unlisted, pool: ThreadPoolExecutor) -> None:
    due = unlisted.due()
    if not due:
        return
    target = unlisted.customer_jobs[0].target
    with ctx.store.reading() as conn:  # stored by an earlier run (a resumed listing)
        stored = ctx.store.existing_ids(conn, "customers", due, account=target.account, livemode=target.livemode)
    customers = BY_NAME["customers"]
    for cid in due:
        if cid not in stored:
            unlisted.asked[cid] = pool.submit(fetch_or_none, target, customers.retrieve(cid), customers.name)
        else:
            unlisted.listed.add(cid)


def _settle(
    ctx: SyncContext,
    job: Job,
    window: BackfillWindow,
    fut: Future[_Read],
    result: BackfillResult,
    pace: Pace,
    unlisted: Unlisted,
) -> list[BackfillWindow]:
    """Book a finished task; return the windows to queue next."""
    try:
        read = fut.result()
    except _Degrade as exc:
        job.use_expand = job.use_expand and "expand" not in exc.features
        job.use_nested_expand = job.use_nested_expand and "nested_expand" not in exc.features
        job.use_windows = job.use_windows and "created" not in exc.features
        log.warning("sync.degraded", resource=job.resource.name, dropped=",".join(exc.features),
                    why="the server rejected it; listing continues without it")
        return [window]
    except _Unsupported:
        result.unsupported.append(job.resource.name)
        log.warning("sync.unsupported", resource=job.resource.name,
                    why="the server has no such list endpoint (404); nothing to sync")
        job.windows.clear()
        return []
    except NrrError as exc:
        _fail(job, exc, result)
        if isinstance(exc, (StripeAuthError, StripeAccountInaccessible)):
            ctx.stop.set()  # the key (or the account) is bad for everything: stop at once
        return []
    except Exception as exc:  # noqa: BLE001  (a bug in one resource must not lose the others' progress)
        _fail(job, GiveUp(f"{job.resource.name}: internal error {type(exc).__name__}: {exc}"), result)
        return []
    job.objects += read.objects
    unlisted.saw(read)
    job.service.add(read.seconds)
    pace.service.add(read.seconds)
    if read.more:
        job.read(window, read.oldest, read.newest, read.objects)
        return [window]
    job.read(window, read.oldest)
    job.close(window)
    return []


def _split(
    ctx: SyncContext, job: Job, window: BackfillWindow, pace: Pace, jobs: list[Job], spare: int,
    writer: GroupWriter, writes: deque[tuple[Job, Future[Any]]],
) -> list[BackfillWindow]:
    """Carve new windows off the unread part of ``window`` (which keeps the newest
    slice and its cursor) when its resource has idle slots, its pages would outlast the
    rest of the backfill, or the budget has ``spare`` slots no window can use
    (windows.py); the new windows and the window's new start are written in one commit,
    after the page that was just read."""
    oldest = job.reached.get(id(window))
    if oldest is None:
        return []
    est = job.window_pages_left(window, ctx.page_size)
    cap = pace.job_limit(job)
    idle = (cap if cap is not None else pace.limit()) - job.in_flight - len(job.queue) - 1
    chain = CHAIN_SHARE * pace.seconds_left(jobs, ctx.page_size) / max(job.service.seconds, 1e-3)
    first = window.pages == 1 and job.open_windows == 1
    k = pieces(est, idle_slots=idle, chain_pages=chain, spare_slots=spare, first_page=first)
    points = split_points(window.start, oldest, k)
    if not points:
        return []
    bounds = [window.start, *points]
    window.start = points[-1]
    new_windows = [
        BackfillWindow(
            account=window.account, livemode=window.livemode, resource=window.resource,
            generation=window.generation, start=a, end=b, cursor=None, done=False,
        )
        for a, b in itertools.pairwise(bounds)
    ]
    density = job.density.get(id(window))
    for w in new_windows:
        job.open(w)
        if density is not None:
            job.density[id(w)] = density
    checkpoint = _Checkpoint(window, window.start, window.cursor, window.done, window.pages, window.objects)

    def write(conn: Connection) -> None:
        if job.write_failed:  # as _write_page: nothing may claim what an unstored page held
            return
        ctx.store.save_window(conn, checkpoint.frozen())
        ctx.store.insert_windows(conn, new_windows)

    writes.append((job, writer.submit(write, on_error=job.mark_write_failed)))
    return new_windows


def _fail(job: Job, exc: NrrError, result: BackfillResult) -> None:
    if job.failed is None:
        job.failed = exc
        result.errors.append(exc)


def _submit_complete(ctx: SyncContext, job: Job, writer: GroupWriter) -> Future[None]:
    """Mark the listing complete after every page of it is stored (the writer keeps order)."""

    def complete(conn: Connection) -> None:
        if job.write_failed:  # a page of it was never stored: the listing is not complete
            return
        ctx.store.complete_generation(conn, job.state, ctx.now())
        ctx.progress.resource_done(job.resource.name)

    return writer.submit(complete)


def _list_params(ctx: SyncContext, job: Job, window: BackfillWindow) -> dict[str, Any]:
    resource = job.resource
    params: dict[str, Any] = {"limit": ctx.page_size, **resource.params, **resource.scope}
    if job.windowed:
        params["created"] = {"gte": window.start, "lt": window.end}
    if window.cursor:
        params["starting_after"] = window.cursor
    expand = [e for e in resource.expand if job.use_nested_expand or not _nested(e)]
    if expand and job.use_expand:
        params["expand"] = expand
    return params


def _nested(expansion: str) -> bool:
    """``data.x.y…``: through an expanded object, which a Stripe-compatible server may
    not do even when it expands ``data.x``."""
    return expand_depth(expansion) > 2


# What a first page may do without, in the order tried: windows first (listing gets
# slower, not poorer), then nested expansions before all of them (a coupon lost, not a
# discount).
_DROPS = (("created",), ("nested_expand",), ("created", "nested_expand"), ("created", "expand"), ("expand",))


def _optional_features(params: dict[str, Any]) -> set[str]:
    features: set[str] = {k for k in ("created", "expand") if k in params}
    if any(_nested(e) for e in params.get("expand", ())):
        features.add("nested_expand")
    return features


def _without(params: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    plain = {k: v for k, v in params.items() if k not in drop}
    if "nested_expand" in drop and "expand" in plain:
        shallow = [e for e in plain["expand"] if not _nested(e)]
        if shallow:
            plain["expand"] = shallow
        else:
            del plain["expand"]
    return plain


def _fetch_page(ctx: SyncContext, job: Job, window: BackfillWindow) -> Any:
    api, resource = job.target.api, job.resource
    params = _list_params(ctx, job, window)
    first = not job.probed or (window.pages == 0 and window.cursor is None)
    optional = _optional_features(params)
    if not first or not optional:
        # Only a first page (of a window, or of the resource in this run) probes the
        # server's features: a later page that fails is an outage, never a reason to
        # list without them.
        try:
            return _checked(job, window, api.fetch_list_page(resource.path, params, resource=resource.name))
        except StripeNotFound:
            if first and resource.name not in CORE_RESOURCES:
                raise _Unsupported() from None
            raise
    try:
        page = api.fetch_list_page(
            resource.path, params, resource=resource.name, retry_budget=PROBE_RETRY_SECONDS
        )
    except (StripeRequestError, StripeUnavailable) as exc:
        # A real Stripe accepts both; a compatible server may choke on either (400, or
        # even 500). Find the plainest request it answers, else report the first error.
        for drop in _DROPS:
            if not set(drop) <= optional:
                continue
            plain = _without(params, drop)
            try:
                # A probe too: a server that fails it for want of another feature must not
                # hold the listing for the whole retry budget.
                api.fetch_list_page(resource.path, plain, resource=resource.name, retry_budget=PROBE_RETRY_SECONDS)
            except (StripeRequestError, StripeUnavailable):
                continue
            # The plainer request works; the full one may only have met passing faults.
            # A server without the feature fails it every time, so ask a few more times
            # (one attempt each) before giving the feature up for the whole listing.
            for _ in range(FEATURE_CONFIRMATIONS):
                try:
                    return _checked(job, window, api.fetch_list_page(
                        resource.path, params, resource=resource.name, retry_budget=0))
                except (StripeRequestError, StripeUnavailable):
                    continue
            raise _Degrade(*drop) from exc
        raise
    except StripeNotFound:
        if first and resource.name not in CORE_RESOURCES:
            raise _Unsupported() from None
        raise
    return _checked(job, window, page)


def _checked(job: Job, window: BackfillWindow, page: Any) -> Any:
    created = [job.resource.created_of(o) for o in page.data]
    if job.windowed and any(c is not None and not window.start <= c < window.end for c in created):
        # The server ignored the filter: windows would each list everything.
        raise _Degrade("created")
    return page


@dataclass(frozen=True)
class _Read:
    """What a page said of its window."""

    more: bool  # the window has more pages
    objects: int
    oldest: int | None  # ``created`` of its objects, oldest and newest
    newest: int | None
    seconds: float  # what the page took, without its waits for the rate budget
    customers_listed: frozenset[str] = frozenset()  # a page of customers: their ids
    customers_named: frozenset[str] = frozenset()  # of subscriptions or invoices: their customers


def _side_by_side(pool: ThreadPoolExecutor) -> RunAll[ChildRows]:
    """Run calls in ``pool`` and the calling thread at once; their results in order."""

    def run_all(calls: Sequence[Callable[[], ChildRows]]) -> list[ChildRows]:
        if len(calls) < 2:
            return [call() for call in calls]
        others = [pool.submit(call) for call in calls[1:]]
        first = calls[0]()
        return [first, *(f.result() for f in others)]

    return run_all


def _page_task(
    ctx: SyncContext, job: Job, window: BackfillWindow, writer: GroupWriter, writes: deque[tuple[Job, Future[Any]]],
    run_all: RunAll[ChildRows],
) -> _Read:
    """Fetch and project one page and hand it to the writer; say what it read."""
    started, waited = time.monotonic(), waited_seconds()
    resource, target = job.resource, job.target
    fetched_at = ctx.now()
    page = _fetch_page(ctx, job, window)
    job.probed = True
    row_ctx = ctx.row_context(target, fetched_at)
    collected = collect(target, resource, page.data, row_ctx, Collected(), run_all=run_all)

    window.pages += 1
    window.objects += len(page.data)
    if page.has_more and page.data:
        window.cursor = str(page.data[-1]["id"])
    else:
        window.done = True
    # The window may move on (next page, a split) before the writer gets here: the
    # checkpoint is this page's state, frozen now.
    checkpoint = _Checkpoint(window, window.start, window.cursor, window.done, window.pages, window.objects)
    writes.append((job, writer.submit(
        lambda conn: _write_page(ctx, conn, job, collected, fetched_at, checkpoint),
        on_error=job.mark_write_failed,
    )))

    created = [c for o in page.data if (c := resource.created_of(o)) is not None]
    oldest, newest = (min(created), max(created)) if created else (None, None)
    ctx.progress.page(resource.name, len(page.data), oldest)
    seconds = time.monotonic() - started - (waited_seconds() - waited)
    listed = frozenset(str(r["id"]) for r in collected.rows.get("customers", ())) if resource.name == "customers" \
        else frozenset()
    named = frozenset(c for name in _NAMING_CUSTOMERS for r in collected.rows.get(name, ())
                      if isinstance(c := r.get("customer"), str) and c.startswith("cus_"))
    return _Read(not window.done, len(page.data), oldest, newest, seconds, listed, named)


# The rows whose customer ``referenced.fetch_unlisted_customers`` looks for.
_NAMING_CUSTOMERS = ("subscriptions", "invoices")


@dataclass(frozen=True)
class _Checkpoint:
    """A window's state right after one page."""

    window: BackfillWindow  # for its id, which an earlier write (the split) may assign
    start: int
    cursor: str | None
    done: bool
    pages: int
    objects: int

    def frozen(self) -> BackfillWindow:
        w = self.window
        return BackfillWindow(
            id=w.id, account=w.account, livemode=w.livemode, resource=w.resource, generation=w.generation,
            start=self.start, end=w.end, cursor=self.cursor, done=self.done, pages=self.pages, objects=self.objects,
        )


def _write_page(
    ctx: SyncContext, conn: Connection, job: Job, collected: Collected, fetched_at: int, checkpoint: _Checkpoint,
) -> None:
    """One page's rows and its window's checkpoint (one commit group)."""
    if job.write_failed:
        # An earlier page of this resource was never stored: a later checkpoint would claim
        # it was (the cursor moves past it), and a resume would never fetch it again.
        return
    target = job.target
    collected.write(ctx.store, conn, account=target.account, livemode=target.livemode, at=fetched_at)
    ctx.store.save_window(conn, checkpoint.frozen())
