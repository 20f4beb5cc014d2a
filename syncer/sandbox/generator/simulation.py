"""The simulation of an account: the catalogue, then customer after customer in signup
order, each one's story told whole (its subscriptions, one-offs and charges).
"""

from __future__ import annotations

import gc
import random

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.account import API_VERSION, Account, account_object
from syncer.sandbox.generator.customers import create_customer, deletion_time, finish_customer
from syncer.sandbox.generator.discounts import delete_coupon
from syncer.sandbox.generator.fx import fx_table
from syncer.sandbox.generator.ids import IdFactory, b62
from syncer.sandbox.generator.one_offs import one_off_invoice, standalone_charge
from syncer.sandbox.generator.probabilities import P_REACTIVATE
from syncer.sandbox.generator.profiles import Profile
from syncer.sandbox.generator.random_profiles import random_extras, random_items, random_profile
from syncer.sandbox.generator.scripted import scripted_profiles
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Sub
from syncer.sandbox.generator.subscriptions import run_subscription
from syncer.sandbox.generator.units import DAY, month_floor


def generate_account(
    *,
    customers: int,
    seed: int = 1,
    now: int,
    months: int = 24,
    currency: str = "usd",
    livemode: bool = False,
    api_version: str = API_VERSION,
) -> Account:
    """Simulate ``customers`` customers over ``months`` months ending at ``now``."""
    if customers < 0 or months < 1:
        raise ValueError("customers must be >= 0 and months >= 1")
    currency = currency.lower()
    rng = random.Random(seed)
    ids = IdFactory(seed)
    start = month_floor(add_months(now, -months))
    acct_id = f"acct_1{ids.tag}{b62(rng.getrandbits(29), 5)}"
    acct = Account(
        now=now,
        seed=seed,
        currency=currency,
        livemode=livemode,
        api_version=api_version,
        account=account_object(acct_id, currency, start - 60 * DAY),
        ids=ids,
        tax_rate=f"txr_1{ids.tag}{b62(rng.getrandbits(40), 8)}",
    )
    sim = Sim(acct, now=now, start=start, rng=rng, customers=customers)
    acct.fx_rates[sim.fx_currency] = fx_table(rng, sim.fx_currency, start=start, now=now)
    # Millions of acyclic dicts: the cyclic collector would rescan them again and again.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(sim)
    finally:
        if was_enabled:
            gc.enable()


def _run(sim: Sim) -> Account:
    """The catalogue, every customer's story, then what happens to the account at the end."""
    sim.catalog.build(sim.acct, start=sim.start, now=sim.now)
    for p in _profiles(sim):
        _simulate(sim, p)
    delete_coupon(sim, "FOUNDERS25", sim.coupon_deleted_at)
    sim.events.finish(sim.acct.add_event)
    return sim.acct


def _profiles(sim: Sim) -> list[Profile]:
    """Every customer's profile, in signup order: the scripted ones first, then random."""
    out = scripted_profiles(sim)[: sim.n_customers]
    for idx in range(len(out), sim.n_customers):
        out.append(random_profile(sim, idx))
    out.sort(key=lambda p: (p.signup, p.idx))
    return out


def _simulate(sim: Sim, p: Profile) -> None:
    """One customer's whole story: its subscriptions, one-offs and charges, deletion."""
    cust = create_customer(sim, p)
    end = sim.now
    sub = None
    if p.subscriber:
        sub = run_subscription(sim, cust, p.items, p.signup, p, trial=p.trial,
                               coupon=p.coupon, setup_fee=p.setup_fee,
                               rand=p.random, script=p.script,
                               incomplete=p.incomplete)
        while sub.ended and sub.ended_at is not None:
            end = sub.ended_at
            again = _reactivation(sim, p, sub)
            if again is None:
                break
            t, items = again
            end = sim.now
            sub = run_subscription(sim, cust, items, t, p, trial=False, coupon=None,
                                   setup_fee=False, rand=p.random, script=[],
                                   incomplete=False)
    extras = list(p.extras)
    if p.random and p.subscriber:
        extras += random_extras(sim, p.signup + DAY, end, non_subscriber=False)
    for t, kind, arg in sorted(extras, key=lambda e: e[0]):
        if t > sim.now:
            continue
        if kind == "one_off":
            one_off_invoice(sim, cust, t, arg)
        else:
            standalone_charge(sim, cust, t, refund=bool(arg))
    if sub is not None and p.random and p.delete_at is None:
        p.delete_at = deletion_time(sim, cust, sub)
    finish_customer(sim, cust, p)


def _reactivation(sim: Sim, p: Profile, sub: Sub) -> tuple[int, list[tuple[str, int]]] | None:
    """When, and with which items, a customer whose subscription ended subscribes again."""
    assert sub.ended_at is not None
    if p.reactivate is not None:
        t, items = p.reactivate
        p.reactivate = None
        return (t, items) if sub.ended_at < t <= sim.now else None
    if not p.random or sub.status == "incomplete_expired":
        return None
    if sim.rng.random() >= P_REACTIVATE:
        return None
    t = sub.ended_at + sim.rng.randint(40, 270) * DAY
    if t > sim.now:
        return None
    return t, random_items(sim, sub.currency, t)
