"""TokenBucket on a fake clock: no test here takes wall time."""

from __future__ import annotations

import threading

import pytest

from syncer.stripe.ratelimit import TokenBucket, waited_seconds
from tests.fakes import FakeTime


def bucket(ft: FakeTime, rate: float, burst: float | None = None) -> TokenBucket:
    return TokenBucket(rate, burst, clock=ft.clock, sleep=ft.sleep)


def acquire_times(tb: TokenBucket, ft: FakeTime, n: int) -> list[float]:
    """When each of n back-to-back acquires was let through, relative to the start."""
    start = ft.now
    times = []
    for _ in range(n):
        tb.acquire()
        times.append(round(ft.now - start, 9))
    return times


def test_rate_is_respected_after_the_first_token() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=4, burst=1)
    assert acquire_times(tb, ft, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_burst_passes_at_once_then_steady_rate() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=2, burst=3)
    assert acquire_times(tb, ft, 5) == [0.0, 0.0, 0.0, 0.5, 1.0]


def test_default_burst_is_one_second_of_rate() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=10)
    assert tb.burst == 10
    times = acquire_times(tb, ft, 11)
    assert times[:10] == [0.0] * 10
    assert times[10] == pytest.approx(0.1)


def test_idle_time_refills_up_to_burst_only() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=1, burst=2)
    acquire_times(tb, ft, 2)
    ft.now += 100  # a long idle period refills, but never beyond the burst
    assert acquire_times(tb, ft, 3) == [0.0, 0.0, 1.0]


def test_penalize_makes_the_next_caller_wait() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=100, burst=100)
    tb.acquire()
    tb.penalize(7.5)
    start = ft.now
    tb.acquire()
    assert ft.now - start == pytest.approx(7.5)


def test_after_a_penalty_callers_resume_at_the_steady_rate_without_a_burst() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=2, burst=5)
    tb.penalize(3)
    assert acquire_times(tb, ft, 3) == [3.0, 3.5, 4.0]


def test_shorter_penalty_does_not_shorten_a_longer_one() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=100)
    tb.penalize(10)
    tb.penalize(2)
    start = ft.now
    tb.acquire()
    assert ft.now - start == pytest.approx(10)


def test_zero_or_negative_penalty_is_ignored() -> None:
    ft = FakeTime()
    tb = bucket(ft, rate=100)
    tb.penalize(0)
    tb.penalize(-5)
    tb.acquire()
    assert ft.sleeps == []


def test_penalty_arriving_while_a_caller_sleeps_holds_that_caller_too() -> None:
    ft = FakeTime()
    holder: list[TokenBucket] = []

    def sleep_and_get_penalized(seconds: float) -> None:
        ft.sleep(seconds)
        if len(ft.sleeps) == 1:
            # Another worker saw a 429 while this one slept on its reservation.
            holder[0].penalize(20)

    tb = TokenBucket(1, 1, clock=ft.clock, sleep=sleep_and_get_penalized)
    holder.append(tb)
    tb.acquire()  # free
    start = ft.now
    tb.acquire()  # reserved 1 s ahead; a 20 s penalty lands during that sleep
    assert ft.now - start == pytest.approx(21)


def test_threads_get_distinct_slots() -> None:
    # The clock stands still and sleeping only records: every thread reserves at the
    # same instant, so each must be handed its own slot one interval after another.
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    tb = TokenBucket(10, 1, clock=lambda: 100.0, sleep=record)
    threads = [threading.Thread(target=tb.acquire) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert sorted(waits) == pytest.approx([k / 10 for k in range(1, 20)])


def test_each_thread_counts_its_own_time_asleep_in_any_bucket() -> None:
    # What a page took without its waits for the budget sizes the pages in flight.
    ft = FakeTime()
    tb, other = bucket(ft, rate=4, burst=1), bucket(ft, rate=2, burst=1)
    before = waited_seconds()
    acquire_times(tb, ft, 3)  # 0.25 s twice
    acquire_times(other, ft, 2)  # 0.5 s once
    assert waited_seconds() - before == pytest.approx(1.0)
    seen: list[float] = []
    third = bucket(ft, rate=4, burst=1)
    thread = threading.Thread(target=lambda: (third.acquire(), third.acquire(), seen.append(waited_seconds())))
    thread.start()
    thread.join(timeout=10)
    assert seen == [pytest.approx(0.25)]  # its own wait, not this thread's
    assert waited_seconds() - before == pytest.approx(1.0)


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan")])
def test_rejects_bad_rate(rate: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate)


def test_rejects_burst_below_one() -> None:
    with pytest.raises(ValueError):
        TokenBucket(5, 0.5)


def test_endpoint_limits_give_each_endpoint_its_own_shared_bucket() -> None:
    from syncer.stripe.ratelimit import EndpointLimits

    limits = EndpointLimits(20)
    assert limits.bucket("/v1/charges") is limits.bucket("/v1/charges")
    assert limits.bucket("/v1/charges") is not limits.bucket("/v1/invoices")
    assert limits.bucket("/v1/invoices").rate == 20


def test_an_endpoint_is_the_operation_not_the_object() -> None:
    from syncer.stripe.resources import endpoint_of as _endpoint

    assert _endpoint("/v1/invoices") == "/v1/invoices"
    assert _endpoint("/v1/invoices/in_1NxAbcdEFGH/lines") == "/v1/invoices/{id}/lines"
    assert _endpoint("/v1/subscriptions/sub_9Zz/items") == "/v1/subscriptions/{id}/items"
    assert _endpoint("/v1/invoice_payments") == "/v1/invoice_payments"
    assert _endpoint("/v1/customers/cus_123") == "/v1/customers/{id}"
