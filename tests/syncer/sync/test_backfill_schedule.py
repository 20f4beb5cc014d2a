"""Which job's window the backfill fetches next: the per-endpoint in-flight caps, and the
most pages left first."""

from __future__ import annotations

import math
from typing import Any, cast

from syncer.db.meta import BackfillWindow
from syncer.stripe.resources import BY_NAME
from syncer.sync.backfill import Job, _next_job

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


def test_a_resource_at_its_cap_waits_and_the_others_keep_their_windows() -> None:
    customers, prices = job("customers", in_flight=3, windows=2), job("prices", in_flight=2)
    assert _next_job([customers, prices], per_resource=3, page_size=PAGE) is prices
    prices.queue.popleft()
    assert _next_job([customers, prices], per_resource=3, page_size=PAGE) is None  # customers still at 3
    assert len(customers.queue) == 2


def test_a_resource_that_pages_child_lists_gets_a_cap_per_endpoint_it_uses() -> None:
    # An invoice task fetches an invoice page, then the lines of its long invoices from
    # /v1/invoices/{id}/lines: an endpoint with a budget of its own.
    invoices, customers = job("invoices", in_flight=3), job("customers", in_flight=3)
    assert _next_job([customers, invoices], per_resource=3, page_size=PAGE) is invoices
    invoices.in_flight = 6
    assert _next_job([customers, invoices], per_resource=3, page_size=PAGE) is None


def test_failed_jobs_lose_their_windows_and_without_a_cap_any_job_may_run() -> None:
    failed, prices = job("customers"), job("prices", in_flight=50)
    failed.failed = cast(Any, RuntimeError("gone"))
    assert _next_job([failed, prices], per_resource=None, page_size=PAGE) is prices
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


def test_the_job_with_the_most_pages_left_goes_first_and_a_job_not_yet_probed_before_it() -> None:
    def read(name: str, objects: int, reached: int) -> Job:
        j = job(name)
        j.objects += objects
        j.read(j.queue[0], reached)
        return j

    charges = read("charges", 100, 9_900)  # dense: about 99 pages left
    refunds = read("refunds", 100, 1_000)  # sparse: about 1 page left
    assert _next_job([refunds, charges], per_resource=5, page_size=PAGE) is charges
    disputes = job("disputes")  # its first page still to read
    assert _next_job([refunds, charges, disputes], per_resource=5, page_size=PAGE) is disputes
    # At its cap, the busiest waits: the slot goes to the next busiest.
    charges.in_flight = 5
    assert _next_job([refunds, charges], per_resource=5, page_size=PAGE) is refunds
