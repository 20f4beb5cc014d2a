"""What may happen to a subscription that follows no script, drawn for each period as it
starts.
"""

from __future__ import annotations

from syncer.sandbox.generator.lifecycle import COMMENTS, FEEDBACK
from syncer.sandbox.generator.probabilities import (
    P_ADDON_ADD,
    P_ADDON_REMOVE,
    P_ALWAYS_INVOICE,
    P_CANCEL_NOW,
    P_CANCEL_REQUEST,
    P_CREDIT_NOTE,
    P_DISPUTE,
    P_DOWNGRADE,
    P_FAIL,
    P_PAUSE,
    P_RECOVER,
    P_REFUND,
    P_SEATS,
    P_UPGRADE,
)
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Sub
from syncer.sandbox.generator.units import DAY


def sample_period(sim: Sim, sub: Sub) -> None:
    """Random happenings of the period that just started."""
    rng = sim.rng
    ps, pe = sub.period_start, sub.period_end
    m = sub.interval_months
    span = pe - ps

    def when() -> int:
        return ps + DAY + rng.randrange(max(1, span - 2 * DAY))

    def chance(p_month: float) -> bool:
        return rng.random() < 1 - (1 - p_month) ** m

    monthly_plan = m == 1
    if chance(P_CANCEL_REQUEST):
        feedback = rng.choice(FEEDBACK)
        comment = rng.choice(COMMENTS) if rng.random() < 0.3 else None
        sub.schedule(when(), 3, "cancel_request", (feedback, comment))
    if chance(P_CANCEL_NOW):
        sub.schedule(when(), 3, "cancel_now", rng.random() < 0.5)
    if sub.status == "trialing":
        return
    if chance(P_PAUSE):
        sub.schedule(when(), 3, "pause", rng.choice((1, 2, 3, 0)))
    if chance(P_FAIL) and sub.fail_next is None:
        sub.fail_next = "recover" if rng.random() < P_RECOVER else "churn"
    if chance(P_UPGRADE if monthly_plan else P_UPGRADE / 3):
        sub.schedule(when(), 3, "upgrade", rng.random() < P_ALWAYS_INVOICE)
    if chance(P_DOWNGRADE):
        sub.schedule(when(), 3, "downgrade", False)
    if monthly_plan:
        if chance(P_SEATS):
            sub.schedule(when(), 3, "seats", rng.choice((-2, -1, -1, 1, 1, 2, 2, 3, 5)))
        if chance(P_ADDON_ADD):
            sub.schedule(when(), 3, "addon_add", None)
        if chance(P_ADDON_REMOVE):
            sub.schedule(when(), 3, "addon_remove", None)
    if chance(P_REFUND):
        sub.schedule(when(), 3, "refund_last", None)
    if chance(P_CREDIT_NOTE):
        sub.schedule(when(), 3, "credit_note", None)
    if chance(P_DISPUTE):
        sub.schedule(when(), 3, "dispute", rng.choice(("lost", "won", "needs_response")))
