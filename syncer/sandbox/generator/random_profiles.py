"""The customers after the scripted ones: what each one does is drawn at random."""

from __future__ import annotations

from typing import Any

from syncer.sandbox.generator.billing_mode import FLEXIBLE_SINCE
from syncer.sandbox.generator.probabilities import (
    P_ACCOUNT_V2,
    P_CHARGE,
    P_CUSTOMER_DISCOUNT,
    P_ITEM_DISCOUNT,
    P_NO_PAYMENT_METHOD,
    P_ONE_OFF,
    P_TEST_CLOCK,
    P_YEARLY_FEE,
)
from syncer.sandbox.generator.profiles import Profile, Setups
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.units import DAY, HOUR


def random_profile(sim: Sim, idx: int) -> Profile:
    """What customer ``idx`` does: its signup, plan, trial, coupon, setups..."""
    rng = sim.rng
    span = sim.now - sim.start
    # Most customers predate the first tenth of the window; then steady growth.
    u = rng.random() * 0.1 if rng.random() < 0.6 else rng.random()
    signup = sim.start + int(span * u) + rng.randrange(DAY)
    signup = min(signup, sim.now - HOUR)
    currency = sim.fx_currency if rng.random() < 0.08 else sim.currency
    p = Profile(idx, signup, currency)
    if rng.random() < 0.04:
        p.subscriber = False
        p.extras = random_extras(sim, signup, sim.now, non_subscriber=True)
        return p
    p.items = random_items(sim, currency, signup)
    p.trial = rng.random() < 0.3
    p.setup_fee = p.items[0][0].startswith("business") and rng.random() < 0.6
    if rng.random() < 0.15:
        p.coupon = _random_coupon(sim, p)
    p.incomplete = rng.random() < 0.01
    if rng.random() < 0.02:
        p.metadata = {"company_id": f"co_{rng.randrange(1, max(2, sim.n_customers // 50)):04d}"}
    if currency == sim.currency and not p.incomplete:
        p.setups = _random_setups(sim, p)
    return p


def random_items(sim: Sim, currency: str, signup: int) -> list[tuple[str, int]]:
    """A plan and its extras (seats, add-ons, storage, usage): (price key, quantity)."""
    rng = sim.rng
    seats = 2 + int(rng.expovariate(1 / 6))
    if currency != sim.currency:
        plan = rng.choice(("starter_m_fx", "pro_m_fx"))
        items = [(plan, 1)]
        if plan == "pro_m_fx" and rng.random() < 0.5:
            items.append(("seat_m_fx", seats))
        return items
    r = rng.random()
    if r < 0.7:
        tier = rng.choices(("starter", "pro", "business"), (0.4, 0.4, 0.2))[0]
        if tier == "starter":
            legacy = signup < sim.at(0.15) and rng.random() < 0.5
            return [("starter_legacy" if legacy else "starter_m", 1)]
        items = [(f"{tier}_m", 1)]
        if rng.random() < 0.6:
            if tier == "business" and rng.random() < 0.2:
                items.append(("team_m", seats + 3))
            else:
                items.append(("seat_m", seats))
        enterprise = tier == "business" and rng.random() < 0.05
        n_addons = rng.randint(9, 12) if enterprise else (
            rng.choice((0, 0, 1, 2, 3, 4)) if tier == "business"
            else rng.choice((0, 0, 0, 1, 2)))
        items += [(k, 1) for k in rng.sample(sim.catalog.addon_keys, n_addons)]
        if tier == "business" and rng.random() < 0.5:
            items.append(("support_m", 1))
        if rng.random() < (0.3 if tier == "business" else 0.15):
            items.append(("storage_m", rng.randint(1, 40)))
        if rng.random() < (0.3 if tier == "business" else 0.15):
            items.append(("api_m", 1))
        return items
    if r < 0.78:
        return [("pro_q", 1)]
    tier = rng.choices(("starter", "pro", "business"), (0.4, 0.4, 0.2))[0]
    items = [(f"{tier}_y", 1)]
    if tier != "starter" and rng.random() < 0.5:
        items.append(("seat_y", seats))
    return items


def random_extras(sim: Sim, t0: int, t1: int, *,
                  non_subscriber: bool) -> list[tuple[int, str, Any]]:
    """One-off invoices and standalone charges between ``t0`` and ``t1``."""
    rng = sim.rng
    out: list[tuple[int, str, Any]] = []
    months = max(1, (t1 - t0) // (30 * DAY))
    p_one, p_charge = (0.08, 0.1) if non_subscriber else (P_ONE_OFF, P_CHARGE)
    for m in range(months):
        lo = t0 + m * 30 * DAY
        if rng.random() < p_one:
            out.append((lo + rng.randrange(30 * DAY), "one_off", rng.randint(1, 3)))
        if rng.random() < p_charge:
            out.append((lo + rng.randrange(30 * DAY), "charge", rng.random() < 0.15))
    if non_subscriber and not out:
        out.append((t0 + HOUR, "charge", False))
    return [e for e in out if e[0] <= t1]


def _random_setups(sim: Sim, p: Profile) -> Setups | None:
    """The rarer setups for a random subscriber in the account's currency."""
    rng = sim.rng
    s = Setups()
    keys = [k for k, _ in p.items]
    if keys[0] in ("pro_m", "business_m") and rng.random() < P_YEARLY_FEE:
        t = max(p.signup, FLEXIBLE_SINCE) + rng.randint(5, 300) * DAY
        p.script.append((t, "add_yearly_fee", None))
    if p.coupon is None and rng.random() < P_ITEM_DISCOUNT:
        if "seat_m" in keys or "seat_y" in keys:
            s.item_discount = "SEATS10"
        elif any(k.startswith("addon") for k in keys):
            s.item_discount = "ADDON5"
    if p.coupon is None and s.item_discount is None and rng.random() < P_CUSTOMER_DISCOUNT:
        start = p.signup if rng.random() < 0.5 else (
            p.signup + rng.randint(20, 400) * DAY)
        removed = start + rng.randint(60, 300) * DAY if rng.random() < 0.4 else None
        s.customer_discount = (rng.choice(("LOYAL10", "PARTNER25")), start, removed)
    if p.trial and rng.random() < P_NO_PAYMENT_METHOD:
        s.no_payment_method = True
        if rng.random() < 0.5:
            p.script.append((p.signup + rng.randint(17, 80) * DAY, "resume_paused", None))
    s.test_clock = not sim.livemode and rng.random() < P_TEST_CLOCK
    s.account_v2 = not s.test_clock and rng.random() < P_ACCOUNT_V2
    return s


def _random_coupon(sim: Sim, p: Profile) -> str:
    """A coupon the customer could have redeemed at signup."""
    plan = p.items[0][0]
    if plan.endswith("_y"):
        return "ANNUAL15"
    choices = ["LAUNCH20"]
    if p.signup < sim.coupon_deleted_at:
        choices.append("FOUNDERS25")
    if not p.trial:
        choices.append("WELCOME50")
    if p.currency == sim.currency and plan in ("pro_m", "business_m"):
        choices.append("SAVE50X3")
    return sim.rng.choice(choices)
