"""Which queued window the backfill fetches next: the per-endpoint in-flight caps."""

from __future__ import annotations

from collections import deque
from typing import Any, cast

from syncer.db.meta import BackfillWindow
from syncer.resources import BY_NAME
from syncer.sync.backfill import Job, _next_window


def job(resource: str, in_flight: int = 0) -> Job:
    return Job(target=cast(Any, None), resource=BY_NAME[resource], state=cast(Any, None), in_flight=in_flight)


def window(name: str) -> BackfillWindow:
    return cast(BackfillWindow, name)


def test_a_resource_at_its_cap_waits_and_the_others_keep_their_place() -> None:
    customers, prices = job("customers", in_flight=3), job("prices", in_flight=2)
    queue = deque([(customers, window("c1")), (prices, window("p1")), (customers, window("c2"))])
    assert _next_window(queue, per_resource=3) == (prices, "p1")
    assert [w for _, w in queue] == ["c2", "c1"]  # rotated, none lost
    assert _next_window(queue, per_resource=3) is None  # customers still at 3


def test_a_resource_that_pages_child_lists_gets_a_cap_per_endpoint_it_uses() -> None:
    # An invoice task fetches an invoice page, then the lines of its long invoices from
    # /v1/invoices/{id}/lines: an endpoint with a budget of its own.
    invoices, customers = job("invoices", in_flight=3), job("customers", in_flight=3)
    queue = deque([(customers, window("c1")), (invoices, window("i1"))])
    assert _next_window(queue, per_resource=3) == (invoices, "i1")
    invoices.in_flight = 6
    queue.append((invoices, window("i2")))
    assert _next_window(queue, per_resource=3) is None


def test_without_a_cap_the_queue_is_first_in_first_out_and_failed_windows_are_dropped() -> None:
    failed, prices = job("customers"), job("prices", in_flight=50)
    failed.failed = cast(Any, RuntimeError("gone"))
    queue = deque([(failed, window("c1")), (prices, window("p1"))])
    assert _next_window(queue, per_resource=None) == (prices, "p1")
    assert not queue
