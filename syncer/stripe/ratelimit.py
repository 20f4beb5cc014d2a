"""A thread-safe token bucket shared by every worker that talks to Stripe.

Stripe limits requests per second per account (100 live, 25 test). All workers of a
sync share one bucket so the whole process stays under the limit, and a 429 seen by
one worker slows all of them down through ``penalize``.

The bucket is implemented as a reservation schedule (the "generic cell rate
algorithm"): each ``acquire`` reserves the next free slot under the lock and then
sleeps outside it until that slot. Reservations are handed out in call order, so
waiting threads are served first come, first served, and nobody spins.

Each thread's time asleep in any bucket is counted (``waited_seconds``): what a worker
spent on a page without it is what the page itself took, which is what sizes the number
of requests to keep in flight (``syncer.sync.pacing``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

_waited = threading.local()


def waited_seconds() -> float:
    """Seconds the calling thread has slept in ``TokenBucket.acquire`` so far."""
    seconds: float = getattr(_waited, "seconds", 0.0)
    return seconds


class TokenBucket:
    """At most ``burst`` calls at once, then ``rate`` calls per second on average.

    ``clock`` and ``sleep`` are injectable so tests can drive the bucket with a fake
    clock and take no wall time.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a positive number of calls per second, got {rate!r}")
        burst = max(1.0, rate) if burst is None else burst
        if not burst >= 1 or not math.isfinite(burst):
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = float(burst)
        self._interval = 1.0 / self._rate
        # How far ahead of the schedule a caller may run: the burst, minus the one
        # token the caller itself takes.
        self._tolerance = (self._burst - 1.0) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Theoretical arrival time: when the bucket is empty again if nobody else
        # calls. -inf means "full" without assuming anything about the clock's epoch.
        self._tat = -math.inf
        self._blocked_until = -math.inf

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def acquire(self) -> None:
        """Block until the caller may send one request."""
        while True:
            with self._lock:
                wait, seen_penalty = self._reserve()
            if wait > 0:
                self._sleep(wait)
                _waited.seconds = waited_seconds() + wait
            with self._lock:
                # A penalty that arrived while we slept on an earlier reservation
                # applies to us too: reserve again behind it.
                if self._blocked_until <= seen_penalty or self._clock() >= self._blocked_until:
                    return

    def penalize(self, seconds: float) -> None:
        """Make every caller wait ``seconds`` from now (Stripe answered 429)."""
        if not seconds > 0:
            return
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
            # Resume at the steady rate after the penalty, not with a full burst that
            # would likely hit the limit again.
            self._tat = max(self._tat, self._blocked_until + self._tolerance)

    def _reserve(self) -> tuple[float, float]:
        """Reserve the next slot; return (seconds to wait, penalty accounted for).

        Must be called with the lock held.
        """
        now = self._clock()
        tat = max(self._tat, now)
        allowed = max(tat - self._tolerance, self._blocked_until)
        self._tat = max(tat, allowed) + self._interval
        return allowed - now, self._blocked_until


class EndpointLimits:
    """One bucket per endpoint, created on first use, shared by every worker and account.

    Stripe counts each named operation separately (``GET /v1/charges`` is one endpoint,
    whatever the query), on top of the account-wide limit.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, endpoint: str) -> TokenBucket:
        with self._lock:
            found = self._buckets.get(endpoint)
            if found is None:
                found = self._buckets[endpoint] = TokenBucket(self.rate, burst=max(1.0, self.rate / 4))
            return found
