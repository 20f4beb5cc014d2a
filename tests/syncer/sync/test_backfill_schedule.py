"""Which job's window the backfill fetches next (the in-flight limits, a page of each
resource out, then the most pages left), which of its windows, how many pages it keeps
in flight, and which customers it fetches by id while the lists are paged."""

from __future__ import annotations

import math
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any, cast

from syncer.db.meta import BackfillWindow
from syncer.stripe.resources import BY_NAME
from syncer.sync.backfill import Job, Pace, Unlisted, _next_job, _Read
from syncer.sync.context import SyncContext

PAGE = 100


def window(start: int = 0, end: int = 10_000) -> BackfillWindow:
    return BackfillWindow(account="acct_1", livemode=True, resource="x", generation=1, start=start, end=end)


def job(resource: str, in_flight: int = 0, windows: int = 1) -> Job:
    j = Job(target=cast(Any, None), resource=BY_NAME[resource], state=cast(Any, None), in_flight=in_flight)
    for _ in range(windows):
        w = window()
        j.open(w)
        j.queue.append(w)
    return j


def read(j: Job, objects: int, reached: int, w: BackfillWindow | None = None, newest: int | None = None) -> Job:
    """``objects`` of ``j`` read in ``w`` (its first queued window) from ``newest`` down to ``reached``."""
    w = w or j.queue[0]
    j.objects += objects
    j.read(w, reached, newest, objects)
    return j


def cap(n: int | None) -> Any:
    return lambda _job: n


def test_a_resource_at_its_limit_waits_and_the_others_keep_their_windows() -> None:
    customers, prices = job("customers", in_flight=3, windows=2), job("prices", in_flight=2)
    assert _next_job([customers, prices], cap(3), PAGE) is prices
    prices.queue.popleft()
    assert _next_job([customers, prices], cap(3), PAGE) is None  # customers still at 3
    assert len(customers.queue) == 2


def test_failed_jobs_lose_their_windows_and_without_a_limit_any_job_may_run() -> None:
    failed, prices = job("customers"), job("prices", in_flight=50)
    failed.failed = cast(Any, RuntimeError("gone"))
    assert _next_job([failed, prices], cap(None), PAGE) is prices
    assert not failed.queue


def test_pages_left_is_the_density_read_so_far_times_the_time_not_yet_read() -> None:
    charges = job("charges", windows=0)
    w = window(0, 10_000)
    charges.open(w)
    assert charges.pages_left(PAGE) == math.inf  # nothing read: nothing known
    # A page of 100 charges created between 9,000 and 10,000: 0.1 a second, and 9,000
    # seconds unread: about 900 charges, 9 pages.
    charges.objects += 100
    charges.read(w, 9_000)
    assert charges.pages_left(PAGE) == 9
    # The window splits: it keeps [6,000, 10,000) (read down to 9,000), a new one takes
    # [0, 6,000). The unread time is the same, so is the estimate.
    w.start = 6_000
    charges.open(window(0, 6_000))
    assert charges.pages_left(PAGE) == 9
    # The old window ends: only the new one is left.
    charges.close(w)
    assert charges.pages_left(PAGE) == 6


def test_a_windows_pages_left_follow_the_density_of_its_own_last_page() -> None:
    charges = job("charges", windows=2)
    dense, sparse = charges.queue
    sparse.end = 5_000
    read(charges, 100, 9_900, dense, newest=9_999)  # 100 in 100 s: one a second
    assert charges.window_pages_left(dense, PAGE) == 99
    # Never read: the resource's density so far (100 objects over the 100 s read).
    assert charges.window_pages_left(sparse, PAGE) == 50
    read(charges, 100, 0, sparse, newest=4_999)  # 100 in 5,000 s
    assert charges.window_pages_left(sparse, PAGE) == 0
    # The longest chain is paged first.
    assert charges.take_window(PAGE) is dense


def test_the_job_with_the_most_pages_left_goes_first_and_a_job_not_yet_probed_before_it() -> None:
    charges = read(job("charges"), 100, 9_900)  # dense: about 99 pages left
    refunds = read(job("refunds"), 100, 1_000)  # sparse: about 1 page left
    charges.in_flight = refunds.in_flight = 1
    assert _next_job([refunds, charges], cap(5), PAGE) is charges
    disputes = job("disputes", in_flight=1)  # its first page still to read
    assert _next_job([refunds, charges, disputes], cap(5), PAGE) is disputes
    # At its limit, the busiest waits: the slot goes to the next busiest.
    charges.in_flight = 5
    assert _next_job([refunds, charges], cap(5), PAGE) is refunds


def test_a_resource_with_nothing_in_flight_goes_before_the_busiest() -> None:
    # Its estimate may be far off (customers who mostly joined at the start): a page of
    # it out keeps it improving, and the busiest resource loses one slot for it.
    charges = read(job("charges", in_flight=3), 100, 9_900)
    customers = read(job("customers"), 100, 1_000)
    assert _next_job([charges, customers], cap(5), PAGE) is customers
    customers.in_flight = 1
    assert _next_job([charges, customers], cap(5), PAGE) is charges


def test_pages_in_flight_follow_the_time_pages_take() -> None:
    ctx = SyncContext(store=cast(Any, None), clock=lambda: 0, max_in_flight=64, budget_rps=80, endpoint_budget_rps=20)
    pace = Pace(ctx)
    invoices, charges = job("invoices"), job("charges")
    for _ in range(3):
        pace.service.add(0.6)
        charges.service.add(0.6)
    assert pace.limit() == 60  # 80/s x 0.6 s, with headroom
    assert pace.job_limit(charges) == 15  # 20/s x 0.6 s
    # A resource nothing came back of yet is sized by every page's time.
    assert pace.job_limit(invoices) == 15
    # An invoice page also pages its long invoices' lines: it takes longer, so more of
    # them are out at once for the invoices list to keep its endpoint's pace.
    for _ in range(3):
        invoices.service.add(1.2)
    assert pace.job_limit(invoices) == 30
    for _ in range(60):
        pace.service.add(0.15)
    assert pace.limit() < 20  # a faster network needs fewer


def test_without_budgets_the_ceiling_is_the_limit_and_no_resource_has_its_own() -> None:
    pace = Pace(SyncContext(store=cast(Any, None), clock=lambda: 0, max_in_flight=7))
    assert pace.limit() == 7
    assert pace.job_limit(job("charges")) is None
    assert pace.seconds_left([job("charges")], PAGE) == math.inf


def test_the_time_left_is_the_pages_left_at_the_budget() -> None:
    pace = Pace(SyncContext(store=cast(Any, None), clock=lambda: 0, budget_rps=80, endpoint_budget_rps=20))
    charges = read(job("charges"), 100, 9_900)  # about 99 pages
    refunds = read(job("refunds"), 100, 1_000)  # about 1
    assert pace.seconds_left([charges, refunds], PAGE) == 99 / 20
    assert pace.seconds_left([charges, refunds, job("disputes")], PAGE) == math.inf  # disputes: not probed


def _page(listed: Iterable[str] = (), named: Iterable[str] = ()) -> _Read:
    return _Read(False, 1, None, None, 0.1, frozenset(listed), frozenset(named))


def test_customers_named_but_not_listed_are_due_once_every_customer_listing_is_complete() -> None:
    customers, invoices = job("customers"), job("invoices")
    unlisted = Unlisted([customers, invoices])
    unlisted.saw(_page(named={"cus_1", "cus_gone"}))
    unlisted.saw(_page(listed={"cus_1", "cus_2"}))
    assert unlisted.due() == []  # the customer listing may still list cus_gone
    customers.close(customers.queue.popleft())
    assert unlisted.due() == ["cus_gone"]
    done: Future[dict[str, Any] | None] = Future()
    done.set_result({"id": "cus_gone", "deleted": True})
    unlisted.asked["cus_gone"] = done
    unlisted.saw(_page(named={"cus_2", "cus_later"}))
    assert unlisted.due() == ["cus_later"]
    failed: Future[dict[str, Any] | None] = Future()
    failed.set_exception(RuntimeError("timeout"))
    unlisted.asked["cus_later"] = failed
    assert unlisted.fetched() == {"cus_gone": {"id": "cus_gone", "deleted": True}}  # the sweep asks again


def test_no_customer_is_guessed_without_a_complete_customer_listing_in_this_run() -> None:
    invoices = job("invoices")
    unlisted = Unlisted([invoices])  # customers were listed by an earlier run
    unlisted.saw(_page(named={"cus_1"}))
    assert unlisted.due() == []
    customers = job("customers")
    customers.failed = cast(Any, RuntimeError("gone"))
    unlisted = Unlisted([customers, invoices])
    customers.close(customers.queue.popleft())
    unlisted.saw(_page(named={"cus_1"}))
    assert unlisted.due() == []
