"""A subscription's ``billing_mode``: classic, or flexible once Stripe offered it."""

from __future__ import annotations

import random

from syncer.sandbox.generator.probabilities import P_FLEXIBLE_DEFAULT, P_FLEXIBLE_OPT_IN
from syncer.sandbox.generator.units import JSON

# Stripe added ``billing_mode`` on 2025-06-30 and made ``flexible`` the default for
# subscriptions created from 2025-09-30 on.
FLEXIBLE_SINCE = 1751241600
FLEXIBLE_DEFAULT_SINCE = 1759190400


def flexible(t: int) -> JSON:
    """``billing_mode`` of a subscription in flexible mode since ``t``."""
    return {"flexible": {"proration_discounts": "included"}, "type": "flexible", "updated_at": t}


CLASSIC: JSON = {"flexible": None, "type": "classic", "updated_at": None}


def billing_mode(rng: random.Random, t: int) -> JSON:
    """Flexible for most subscriptions created since it became the default."""
    if t >= FLEXIBLE_DEFAULT_SINCE:
        share = P_FLEXIBLE_DEFAULT
    elif t >= FLEXIBLE_SINCE:
        share = P_FLEXIBLE_OPT_IN
    else:
        return CLASSIC
    return flexible(t) if rng.random() < share else CLASSIC
