"""A customer's MRR by the generator's truth and by the facts, with the one known difference excused.

The difference: a pause resumed mid-period longer ago than Stripe keeps events. Stripe
records no resume time anywhere else, so the facts restore the MRR with the first period
billed normally after the pause, the truth at the resume itself.
"""

from __future__ import annotations

from reports.facts import Cause, Facts
from syncer.sandbox.generator import EVENT_RETENTION, Account


def mrr_by_sub(facts: Facts, customer: str, at: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in facts.spans:
        if s.customer == customer and s.start <= at and (s.end is None or at < s.end):
            out[s.subscription] = out.get(s.subscription, 0) + s.mrr
    return out


def truth_by_sub(acct: Account, customer: str, at: int) -> dict[str, int]:
    latest: dict[tuple[str, str], int] = {}
    for c in acct.timeline:
        if c.customer == customer and c.time <= at:
            latest[(c.subscription, c.item)] = c.new_mrr
    out: dict[str, int] = {}
    for (sub, _), value in latest.items():
        out[sub] = out.get(sub, 0) + value
    return {sub: max(0, v) for sub, v in out.items()}


def excused(acct: Account, facts: Facts, sub: str, at: int) -> bool:
    """``at`` lies between an old resume and the period that billed normally again."""
    resumes = [c.time for c in acct.timeline if c.subscription == sub and c.kind == "resume"
               and c.time < acct.now - EVENT_RETENTION]
    restored = [s.start for s in facts.spans if s.subscription == sub and s.cause == Cause.RESUME]
    return any(r <= at < min((s for s in restored if s > r), default=r) for r in resumes)


def expected_and_facts(acct: Account, facts: Facts, customer: str, at: int) -> tuple[int, int]:
    """A customer's MRR at ``at`` by the simulation's truth and by the facts, leaving out
    the one known difference (``excused``) on both sides."""
    mine, truth = mrr_by_sub(facts, customer, at), truth_by_sub(acct, customer, at)
    expected = sum(v for sub, v in truth.items() if not excused(acct, facts, sub, at))
    got = sum(v for sub, v in mine.items() if not excused(acct, facts, sub, at))
    return expected, got
