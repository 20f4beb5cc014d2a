"""Test clocks (test mode only): a customer attached to one is left out of Stripe's lists
unless ``test_clock`` is given.
"""

from __future__ import annotations

from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.units import DAY, JSON


def new_test_clock(sim: Sim) -> str:
    """A test clock advanced to ``now`` (created lately: clocks live for 30 days)."""
    created = sim.now - sim.rng.randint(1, 20) * DAY
    clock: JSON = {
        "id": sim.ids.long("clock"),
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + 30 * DAY,
        "frozen_time": sim.now,
        "livemode": False,
        "name": f"Renewal simulation {len(sim.acct.test_clocks) + 1}",
        "status": "ready",
        "status_details": {},
    }
    sim.acct.test_clocks.append(clock)
    return str(clock["id"])
