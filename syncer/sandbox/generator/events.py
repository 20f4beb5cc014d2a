"""Stripe's events: the event object, and the log a simulation emits them into.

Stripe keeps events for 30 days: only those within ``EVENT_RETENTION`` of ``now`` are
kept, and they reach the account in time order once the simulation is done (customers
are simulated one after the other, so their events come out of order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncer.sandbox.generator.units import DAY, JSON

EVENT_RETENTION = 30 * DAY  # Stripe keeps events for 30 days


def event_object(event_id: str, type_: str, created: int, obj: JSON, previous: JSON | None,
                 *, api_version: str, livemode: bool) -> JSON:
    data: JSON = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


class EventLog:
    """The events of one simulation run, held until it ends to be added in time order."""

    def __init__(self, *, now: int) -> None:
        self.now = now
        self.cutoff = now - EVENT_RETENTION
        self._pending: list[tuple[int, int, str, JSON, JSON | None]] = []
        self._seq = 0

    def kept(self, t: int) -> bool:
        """Whether Stripe still keeps an event created at ``t``."""
        return self.cutoff <= t <= self.now

    def emit(self, t: int, type_: str, obj: JSON, previous: JSON | None = None,
             **overrides: Any) -> None:
        """An event at ``t`` if Stripe still keeps it, with a snapshot of ``obj`` as now.

        The snapshot is a shallow copy: the simulation replaces nested values of the
        objects it changes later (never mutates them), so the copy keeps this state.
        """
        if self.cutoff <= t <= self.now:
            self._seq += 1
            snap = {**obj, **overrides}
            self._pending.append((t, self._seq, type_, snap, previous))

    def finish(self, add_event: Callable[[str, int, JSON, JSON | None], object]) -> None:
        """Hand every event to ``add_event``, in time order (then in emission order)."""
        for t, _, type_, obj, previous in sorted(self._pending, key=lambda e: e[:2]):
            add_event(type_, t, obj, previous)
