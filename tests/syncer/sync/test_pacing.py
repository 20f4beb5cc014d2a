"""Pages in flight by Little's law: the budget times the time a page takes."""

from __future__ import annotations

import math

import pytest

from syncer.sync.pacing import (
    HEADROOM,
    INITIAL_SERVICE_SECONDS,
    ServiceTime,
    in_flight,
    seconds_left,
)


def test_in_flight_is_the_rate_times_the_time_a_page_takes_with_headroom() -> None:
    # 80 requests a second at 600 ms a page: 48 must be out at once, 60 with headroom.
    assert in_flight(80, 0.6, ceiling=100) == math.ceil(80 * 0.6 * HEADROOM) == 60
    # The same budget on a fast network needs few.
    assert in_flight(80, 0.005, ceiling=100) == 1
    # One endpoint's budget at Stripe's latency.
    assert in_flight(20, 0.6, ceiling=100) == 15


def test_in_flight_stays_within_one_and_the_ceiling() -> None:
    assert in_flight(80, 5.0, ceiling=64) == 64
    assert in_flight(80, 0.0, ceiling=64) == 1
    assert in_flight(math.inf, 0.5, ceiling=64) == 64


def test_service_time_starts_from_a_guess_replaced_by_the_first_page() -> None:
    service = ServiceTime()
    assert service.seconds == INITIAL_SERVICE_SECONDS and service.samples == 0
    service.add(0.6)
    assert service.seconds == 0.6


def test_service_time_follows_a_change_of_latency_but_not_one_slow_page() -> None:
    service = ServiceTime()
    for _ in range(5):
        service.add(0.15)
    service.add(3.0)  # one slow page
    assert service.seconds < 0.5
    for _ in range(60):
        service.add(0.6)  # the network got slower
    assert service.seconds == pytest.approx(0.6, abs=0.01)


def test_seconds_left_is_the_global_or_the_busiest_endpoints_budget_whichever_binds() -> None:
    # 400 pages at 80/s: 5 s; the busiest 150 at 20/s: 7.5 s.
    assert seconds_left({"charges": 150, "invoices": 150, "events": 100}, rate=80, endpoint_rate=20) == 7.5
    assert seconds_left({"a": 100, "b": 100, "c": 100, "d": 100, "e": 100}, rate=80, endpoint_rate=20) == 6.25
    assert seconds_left({"charges": math.inf}, rate=80, endpoint_rate=20) == math.inf
    assert seconds_left({}, rate=80, endpoint_rate=20) == 0
