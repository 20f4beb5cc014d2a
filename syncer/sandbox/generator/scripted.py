"""The scripted customers: the first customers of every account follow fixed stories, so
that even a small account holds every case the tests rely on (an invoice with more than 10
lines, a subscription with more than 10 items, one of each setup of real accounts, ...).
"""

from __future__ import annotations

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.billing_mode import FLEXIBLE_SINCE
from syncer.sandbox.generator.lifecycle import COMMENTS
from syncer.sandbox.generator.profiles import Profile, Setups
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.units import DAY


def scripted_profiles(sim: Sim) -> list[Profile]:
    """Customers whose stories are fixed, so that small accounts cover every case (some
    with a ``tier`` in their metadata, to segment by)."""
    c, fx, T = sim.currency, sim.fx_currency, sim.at
    now = sim.now
    addons = [(f"addon{i}_m", 1) for i in range(11)]
    past_due_signup = add_months(now - 5 * DAY, -6)
    return [
        # 0: enterprise: 16 items, every invoice has more than 10 lines
        Profile(0, T(0.01), c, items=[("business_m", 1), ("seat_m", 25), ("support_m", 1),
                                      *addons, ("storage_m", 30), ("api_m", 1)],
                coupon="LAUNCH20", setup_fee=True, random=False, metadata={"tier": "enterprise"},
                script=[(T(0.5), "seats", 5), (T(0.6), "credit_note_full", None),
                         (T(0.7), "addon_remove", None)]),
        # 1: payment failure ending in an involuntary churn, then a reactivation
        Profile(1, T(0.05), c, items=[("pro_m", 1), ("seat_m", 5)], random=False,
                script=[(T(0.35), "fail_next", "churn")],
                reactivate=(T(0.6), [("starter_m", 1)])),
        # 2: payment failure recovered
        Profile(2, T(0.05), c, items=[("pro_m", 1)], random=False,
                script=[(T(0.5), "fail_next", "recover")]),
        # 3: paused collection, resumed two months later
        Profile(3, T(0.08), c, items=[("business_m", 1)], random=False, metadata={"tier": "enterprise"},
                script=[(T(0.4), "pause", 2)]),
        # 4: voluntary churn at period end
        Profile(4, T(0.1), c, items=[("starter_m", 1)], random=False, metadata={"tier": "self-serve"},
                script=[(T(0.45), "cancel_request", ("too_expensive", COMMENTS[1]))]),
        # 5: immediate cancel with a credit note refunding the unused time
        Profile(5, T(0.1), c, items=[("pro_m", 1), ("seat_m", 3)], random=False,
                script=[(T(0.55), "cancel_now", True)]),
        # 6: trial converted; 7: trial cancelled before it ended
        Profile(6, T(0.3), c, items=[("pro_m", 1)], trial=True, random=False, metadata={"tier": "self-serve"}),
        Profile(7, now - 58 * DAY, c, items=[("pro_m", 1)], trial=True, random=False,
                script=[(now - 50 * DAY, "cancel_request", ("unused", None))]),
        # 8: a lost dispute and the subscription cancelled for it
        Profile(8, T(0.15), c, items=[("business_m", 1)], random=False,
                script=[(T(0.7), "dispute", "lost")]),
        # 9: upgrade invoiced at once, seat change prorated, later downgrade
        Profile(9, T(0.05), c, items=[("pro_m", 1), ("seat_m", 3)], random=False,
                script=[(T(0.3), "upgrade", True), (T(0.5), "seats", 4),
                         (T(0.8), "downgrade", False)]),
        # 10: amount-off coupon for 3 months; 11: 50% off the first invoice
        Profile(10, T(0.2), c, items=[("pro_m", 1)], coupon="SAVE50X3", random=False),
        Profile(11, T(0.25), c, items=[("business_m", 1)], coupon="WELCOME50",
                random=False),
        # 12: annual plan with seats; 13: quarterly plan
        Profile(12, T(0.02), c, items=[("pro_y", 1), ("seat_y", 4)], coupon="ANNUAL15",
                random=False),
        Profile(13, T(0.1), c, items=[("pro_q", 1)], random=False),
        # 14: a customer paying in another currency (with VAT)
        Profile(14, T(0.1), fx, items=[("pro_m_fx", 1), ("seat_m_fx", 3)], random=False),
        # 15: no subscription: a one-off invoice and standalone charges, one refunded
        Profile(15, T(0.28), c, subscriber=False, random=False,
                extras=[(T(0.3), "one_off", 3), (T(0.4), "charge", False),
                         (T(0.8), "charge", True)]),
        # 16: cancellation requested three days ago: pending churn at ``now``
        Profile(16, T(0.3), c, items=[("starter_m", 1)], random=False,
                script=[(now - 3 * DAY, "cancel_request", ("missing_features", None))]),
        # 17: past due at ``now`` (renewal failed five days ago)
        Profile(17, past_due_signup, c, items=[("pro_m", 1)], random=False,
                script=[(now - 20 * DAY, "fail_next", "churn")]),
        # 18: first payment failed: incomplete, then incomplete_expired
        Profile(18, T(0.5), c, items=[("starter_m", 1)], incomplete=True, random=False),
        # 19: cancelled, then the customer was deleted ten days ago
        Profile(19, T(0.1), c, items=[("starter_m", 1)], random=False,
                script=[(T(0.3), "cancel_now", False)], delete_at=now - 10 * DAY),
        # 20: graduated tiers and metered usage; 21: volume tiers
        Profile(20, T(0.05), c, items=[("pro_m", 1), ("storage_m", 12), ("api_m", 1)],
                random=False),
        Profile(21, T(0.07), c, items=[("business_m", 1), ("team_m", 14)], random=False),
        # 22, 23: two Stripe customers of one company (merge by metadata)
        Profile(22, T(0.12), c, items=[("starter_m", 1)], random=False,
                metadata={"company_id": "co_0001"}),
        Profile(23, T(0.4), c, items=[("pro_m", 1)], random=False,
                metadata={"company_id": "co_0001"}),
        # 24: a grandfathered legacy price
        Profile(24, T(0.02), c, items=[("starter_legacy", 1)], random=False),
        # 25: signed up ten days ago (creation events in the window)
        Profile(25, now - 10 * DAY, c, items=[("pro_m", 1), ("seat_m", 2)], random=False),
        # 26: upgrade a week ago, prorated on the next invoice
        Profile(26, T(0.3), c, items=[("starter_m", 1)], random=False,
                script=[(now - 7 * DAY, "upgrade", False)]),
        *_scripted_setups(sim),
    ]


def _scripted_setups(sim: Sim) -> list[Profile]:
    """Customers 27-41: one of each setup of issue 17, at fixed times."""
    c, T, now = sim.currency, sim.at, sim.now
    item_trial_signup = add_months(now - 10 * DAY, -6)  # a period from now-10d to now+20d
    return [
        # 27: monthly plan and seats, a yearly platform fee added later (mixed intervals)
        Profile(27, T(0.2), c, items=[("pro_m", 1), ("seat_m", 5)], random=False,
                script=[(max(T(0.3), FLEXIBLE_SINCE + 5 * DAY), "add_yearly_fee", None)]),
        # 28: 10% off the seat item only (item-level discount)
        Profile(28, T(0.15), c, items=[("pro_m", 1), ("seat_m", 10)], random=False,
                setups=Setups(item_discount="SEATS10")),
        # 29: a customer-level discount from signup, removed later
        Profile(29, T(0.1), c, items=[("business_m", 1)], random=False,
                setups=Setups(customer_discount=("LOYAL10", T(0.1), T(0.7)))),
        # 30: an add-on added five days ago with a 14-day trial of its own
        Profile(30, item_trial_signup, c, items=[("pro_m", 1)], random=False,
                script=[(now - 5 * DAY, "addon_add", "trial")]),
        # 31: trial ended without a payment method (paused), resumed later; 32: still paused
        Profile(31, T(0.5), c, items=[("pro_m", 1)], trial=True, random=False,
                setups=Setups(no_payment_method=True), script=[(T(0.7), "resume_paused", None)]),
        Profile(32, now - 40 * DAY, c, items=[("starter_m", 1)], trial=True, random=False,
                setups=Setups(no_payment_method=True)),
        # 33: the last retry failed and the subscription stays unpaid
        Profile(33, T(0.1), c, items=[("pro_m", 1)], random=False,
                script=[(T(0.5), "fail_next", "unpaid")]),
        # 34, 35: paused collection keeping drafts / marking invoices uncollectible
        Profile(34, T(0.1), c, items=[("pro_m", 1)], random=False,
                script=[(T(0.6), "pause", (3, "keep_as_draft"))]),
        Profile(35, T(0.1), c, items=[("business_m", 1)], random=False,
                script=[(T(0.6), "pause", (0, "mark_uncollectible"))]),
        # 36: one-off invoices billing fractional hours
        Profile(36, T(0.2), c, subscriber=False, random=False,
                extras=[(T(0.3), "one_off", 2), (T(0.6), "one_off", 3)]),
        # 37: cancelled, then the customer was deleted
        Profile(37, T(0.1), c, items=[("pro_m", 1)], random=False,
                script=[(T(0.5), "cancel_now", False)], delete_at=T(0.6)),
        # 38: on a test clock (test mode); 39: an Accounts v2 account billed as a customer
        Profile(38, T(0.2), c, items=[("pro_m", 1)], random=False,
                setups=Setups(test_clock=True)),
        Profile(39, T(0.2), c, items=[("pro_m", 1), ("seat_m", 3)], random=False,
                setups=Setups(account_v2=True)),
        # 40: a coupon deleted after this subscription redeemed it
        Profile(40, T(0.1), c, items=[("pro_m", 1)], coupon="FOUNDERS25", random=False),
        # 41: a customer-level discount for six months, starting after signup
        Profile(41, T(0.2), c, items=[("pro_m", 1)], random=False,
                setups=Setups(customer_discount=("PARTNER25", T(0.3), None))),
    ]
