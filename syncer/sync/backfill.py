"""The backfill: list every resource completely, in parallel ``created`` windows.

A pool of workers shares one rate limiter (inside the Api). Each task fetches one page
of one window, pages any truncated child list, and commits the page's rows together
with the window's new checkpoint in one transaction. The coordinator (this thread)
only hands out windows: a window is re-queued after each page until a page says
``has_more: false``, and is split while it still has many pages (see windows.py).

Stripe-compatible servers that lack a feature are met half-way on the first page of a
resource: a rejected ``expand`` or ``created`` filter is dropped (listing gets slower,
not wrong), and a list endpoint that does not exist (404) is recorded as unsupported.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
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
from syncer.stripe.resources import EVENTS, Resource, expand_depth
from syncer.sync.collect import Collected, collect
from syncer.sync.context import SyncContext, Target
from syncer.sync.windows import split_points
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

    def read(self, window: BackfillWindow, oldest: int | None) -> None:
        """A page of ``window`` reached back to ``oldest``."""
        if oldest is None or not self.windowed:
            return
        top = self.reached.get(id(window), window.end)
        self.span_read += max(0, top - oldest)
        self.reached[id(window)] = oldest

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
                # Events up to the cursor's overlap are history; later ones are applied
                # by the incremental pass, which must not find them already stored.
                until = now - ctx.events_overlap if resource is EVENTS else now + 1
                state = ctx.store.start_generation(
                    conn, target.account, target.livemode, resource.listing,
                    listed_from=listed_from, listed_until=max(until, listed_from), now=now,
                )
            elif state.completed_at is not None:
                continue
            jobs.append(Job(target, resource, state))
    return jobs


def run_backfill(ctx: SyncContext, jobs: list[Job]) -> BackfillResult:
    """Page every window of ``jobs`` to its end.

    Two kinds of threads: ``ctx.concurrency`` fetchers (request, parse, project) and one
    writer that commits each page with its checkpoint, in the order the pages were
    fetched. A fetcher never waits for the database, so the requests in flight stay at
    the concurrency while SQLite takes one write at a time; a window's next page can be
    in flight while its previous page is still being written (its checkpoint is written
    after, in order, so a crash re-fetches at most the unwritten pages).
    """
    result = BackfillResult()
    writes: deque[tuple[Job, Future[Any]]] = deque()
    running: dict[Future[tuple[list[BackfillWindow], int, int | None]], tuple[Job, BackfillWindow]] = {}
    with collector_relaxed(), GroupWriter(ctx.store) as writer, \
            ThreadPoolExecutor(max_workers=ctx.concurrency, thread_name_prefix="backfill") as pool:
        for job in jobs:
            with ctx.store.reading() as conn:
                windows = ctx.store.open_windows(conn, job.state)
            for w in windows:
                job.open(w)
            if not windows:
                writes.append((job, _submit_complete(ctx, job, writer)))
            job.queue.extend(windows)
        while running or any(job.queue for job in jobs):
            _settle_writes(writes, result, block=len(writes) > MAX_PENDING_WRITES_PER_WORKER * ctx.concurrency)
            while len(running) < ctx.concurrency and not ctx.stop.is_set():
                picked = _next_job(jobs, ctx.per_resource_concurrency, ctx.page_size)
                if picked is None:
                    break
                job, window = picked, picked.queue.popleft()
                capacity = max(0, ctx.concurrency - job.open_windows)
                fut = pool.submit(_page_task, ctx, job, window, capacity, writer, writes)
                job.in_flight += 1
                running[fut] = (job, window)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                job, window = running.pop(fut)
                job.in_flight -= 1
                follow = _settle(ctx, job, window, fut, result)
                if job.open_windows == 0 and not job.failed and not follow:
                    writes.append((job, _submit_complete(ctx, job, writer)))
                for w in follow:
                    # A window being paged goes first: finishing windows frees their slot.
                    if w is window:
                        job.queue.appendleft(w)
                    else:
                        job.queue.append(w)
        pool.shutdown(wait=True)
    _settle_writes(writes, result, block=True)
    if ctx.stop.is_set() and any(j.open_windows and not j.failed for j in jobs):
        result.interrupted = True
    for job in jobs:
        result.counts[job.resource.name] = result.counts.get(job.resource.name, 0) + job.objects
    return result


def _next_job(jobs: list[Job], per_resource: int | None, page_size: int) -> Job | None:
    """The job whose next window to fetch: of those with a window queued and under their
    in-flight cap, the one with the most pages left. The busiest endpoint alone takes
    most of the backfill's lower bound (the charges list, at its endpoint's budget), so it
    must run at its full budget from the start; served in queue order it fell behind early
    and paged alone at the end. Failed jobs' windows are dropped.

    A resource whose pages also page truncated child lists (an invoice's lines: another
    endpoint, with a budget of its own) spends part of each task on those, so it gets a
    cap per endpoint it uses."""
    best: Job | None = None
    best_left = -1.0
    for job in jobs:
        if job.failed:
            job.queue.clear()
            continue
        if not job.queue:
            continue
        if per_resource is not None and job.in_flight >= per_resource * (1 + len(job.resource.children)):
            continue
        left = job.pages_left(page_size)
        if left > best_left:
            best, best_left = job, left
    return best


# Pages fetched but not yet committed, per fetcher, before fetching waits for the writer:
# bounds memory when the database is slower than the network.
MAX_PENDING_WRITES_PER_WORKER = 2


def _settle_writes(writes: deque[tuple[Job, Future[Any]]], result: BackfillResult, *, block: bool) -> None:
    """Book finished writes, oldest first; a failed write fails its resource."""
    while writes and (writes[0][1].done() or block):
        job, fut = writes.popleft()
        block = False  # waiting for the oldest is enough to make room
        try:
            fut.result()
        except NrrError as exc:
            _fail(job, exc, result)
        except Exception as exc:  # noqa: BLE001  (one resource's bug must not lose the others)
            _fail(job, GiveUp(f"{job.resource.name}: internal error {type(exc).__name__}: {exc}"), result)


def _settle(
    ctx: SyncContext,
    job: Job,
    window: BackfillWindow,
    fut: Future[tuple[list[BackfillWindow], int, int | None]],
    result: BackfillResult,
) -> list[BackfillWindow]:
    """Book a finished task; return the windows to queue next."""
    try:
        follow, objects, oldest = fut.result()
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
    job.objects += objects
    job.read(window, oldest)
    # This window was open; ``follow`` holds it again if it has more pages, plus any split.
    if not any(w is window for w in follow):
        job.close(window)
    for w in follow:
        job.open(w)
    return follow


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


def _page_task(
    ctx: SyncContext, job: Job, window: BackfillWindow, capacity: int, writer: GroupWriter,
    writes: deque[tuple[Job, Future[Any]]],
) -> tuple[list[BackfillWindow], int, int | None]:
    """Fetch and project one page and hand it to the writer; return the windows still to
    page, the objects read and the oldest ``created`` among them."""
    resource, target = job.resource, job.target
    fetched_at = ctx.now()
    page = _fetch_page(ctx, job, window)
    job.probed = True
    row_ctx = ctx.row_context(target, fetched_at)
    collected = collect(target, resource, page.data, row_ctx, Collected())

    window.pages += 1
    window.objects += len(page.data)
    new_windows: list[BackfillWindow] = []
    if page.has_more and page.data:
        window.cursor = str(page.data[-1]["id"])
        if job.windowed:
            new_windows = _split(window, resource, page.data, ctx.page_size, capacity)
    else:
        window.done = True
    # The window may move on (next page, another split) before the writer gets here: the
    # checkpoint is this page's state, frozen now.
    checkpoint = _Checkpoint(window, window.start, window.cursor, window.done, window.pages, window.objects)
    writes.append((job, writer.submit(
        lambda conn: _write_page(ctx, conn, job, collected, fetched_at, checkpoint, new_windows),
        on_error=job.mark_write_failed,
    )))

    reached = min((c for o in page.data if (c := resource.created_of(o)) is not None), default=None)
    ctx.progress.page(resource.name, len(page.data), reached)
    return ([] if window.done else [window]) + new_windows, len(page.data), reached


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
    new_windows: list[BackfillWindow],
) -> None:
    """One page's rows, its window's checkpoint and the windows split off it (one commit group)."""
    if job.write_failed:
        # An earlier page of this resource was never stored: a later checkpoint would claim
        # it was (the cursor moves past it), and a resume would never fetch it again.
        return
    target = job.target
    collected.write(ctx.store, conn, account=target.account, livemode=target.livemode, at=fetched_at)
    ctx.store.save_window(conn, checkpoint.frozen())
    if new_windows:
        ctx.store.insert_windows(conn, new_windows)


def _split(
    window: BackfillWindow, resource: Resource, data: list[dict[str, Any]], page_size: int, capacity: int
) -> list[BackfillWindow]:
    """Carve new windows off the unread part of ``window`` (which keeps the newest slice)."""
    created = [c for o in data if (c := resource.created_of(o)) is not None]
    points = split_points(window.start, created, page_size=page_size, capacity=capacity)
    if not points:
        return []
    bounds = [window.start, *points]
    window.start = points[-1]
    return [
        BackfillWindow(
            account=window.account, livemode=window.livemode, resource=window.resource,
            generation=window.generation, start=a, end=b, cursor=None, done=False,
        )
        for a, b in itertools.pairwise(bounds)
    ]
