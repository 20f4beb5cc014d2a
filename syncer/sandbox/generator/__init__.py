"""A deterministic synthetic Stripe account: the data behind ``nrr demo``, ``make bench``
and the tests.

Pure: no clock, no I/O. ``now`` is passed in and every random choice comes from one
``random.Random(seed)``, so the same arguments give the same JSON, byte for byte.

The account is simulated subscription by subscription, in time order, over ``months``
months ending at ``now``: a small SaaS catalogue (flat, per-seat, tiered, metered,
one-time prices; quarterly and annual plans; coupons), customers signing up over time,
trials, plan and seat changes with prorations, cancellations at period end and at once,
failed payments (recovered, or ending in an involuntary churn), pauses, reactivations,
one-off invoices, standalone charges, refunds, credit notes and disputes. A few percent
of the customers each have a setup real accounts have and simple ones lack: flexible
billing mode mixing a monthly and a yearly item, item-level and customer-level discounts,
coupons deleted after use, add-ons with their own trial, trials pausing without a payment
method, ``unpaid`` subscriptions, every ``pause_collection.behavior``, fractional
quantities, churned customers deleted later, test clocks (test mode) and Accounts v2
accounts billed as customers. The first customers follow fixed scripts so that even a
small account holds every case the tests rely on (an invoice with more than 10 lines, a
subscription with more than 10 items, one of each setup, ...).

Objects are plain JSON-able dicts in Stripe's current API shape (2026). They carry
complete embedded lists (every invoice line, every subscription item); the fake server
truncates them to 10 like Stripe. Nested dicts may be shared between objects to save
memory: treat every object as immutable and replace it (``Account.put``) to change it.

Besides the objects, ``Account.timeline`` records every MRR change the simulation made
(the truth for metric tests) and ``truth_mrr`` replays it at any instant.

Modules, one idea each. The account and its public API: ``account``, ``truth``,
``edits`` (the fake server's mutations). The world: ``catalog``, ``pricing``, ``fx``,
``billing_mode``, ``ids``, ``units``. Who does what: ``profiles``, ``scripted``,
``random_profiles``, ``probabilities``, ``setups``. The simulation: ``sim`` (the state
every concern shares), ``simulation`` (customer after customer), ``customers``,
``subscriptions`` (a subscription's run and its scheduled happenings), ``state``,
``random_happenings``, ``lifecycle`` (cancel, pause, trials ending), ``changes`` (plan,
seats, add-ons), ``renewals``, ``discounts``, ``billing``, ``invoicing``, ``lines``,
``discount_amounts``, ``collection`` (failures and retries), ``payments``,
``credit_notes``, ``disputes``, ``one_offs``, ``test_clocks``, ``subscription_object``,
``events``.
"""

from __future__ import annotations

from reports.month import add_months_to_instant as add_months
from syncer.sandbox.generator.account import (
    API_VERSION,
    EMBEDDED_LIST_LIMIT,
    RESOURCE_NAMES,
    Account,
    MrrChange,
    iter_objects,
)
from syncer.sandbox.generator.billing_mode import FLEXIBLE_DEFAULT_SINCE, FLEXIBLE_SINCE
from syncer.sandbox.generator.changes import ITEM_TRIAL
from syncer.sandbox.generator.edits import (
    add_customer,
    add_subscription,
    cancel_subscription,
    change_subscription,
    delete_customer,
    subscription_mrr,
    update_customer,
)
from syncer.sandbox.generator.events import EVENT_RETENTION
from syncer.sandbox.generator.ids import IdFactory
from syncer.sandbox.generator.invoicing import TAX_PERCENT
from syncer.sandbox.generator.pricing import item_mrr, monthly, price_amount
from syncer.sandbox.generator.probabilities import (
    P_ACCOUNT_V2,
    P_ADDON_ADD,
    P_ADDON_REMOVE,
    P_ALWAYS_INVOICE,
    P_CANCEL_NOW,
    P_CANCEL_REQUEST,
    P_CHARGE,
    P_CREDIT_NOTE,
    P_CUSTOMER_DISCOUNT,
    P_DELETE_CHURNED,
    P_DISPUTE,
    P_DOWNGRADE,
    P_FAIL,
    P_FLEXIBLE_DEFAULT,
    P_FLEXIBLE_OPT_IN,
    P_ITEM_DISCOUNT,
    P_ITEM_TRIAL,
    P_NO_PAYMENT_METHOD,
    P_ONE_OFF,
    P_PAUSE,
    P_REACTIVATE,
    P_RECOVER,
    P_REFUND,
    P_SEATS,
    P_TEST_CLOCK,
    P_UNPAID,
    P_UPGRADE,
    P_WITHDRAW,
    P_YEARLY_FEE,
)
from syncer.sandbox.generator.simulation import generate_account
from syncer.sandbox.generator.truth import truth_mrr, truth_mrr_all
from syncer.sandbox.generator.units import DAY, HOUR, JSON, MINUTE, month_floor

__all__ = [
    "API_VERSION",
    "DAY",
    "EMBEDDED_LIST_LIMIT",
    "EVENT_RETENTION",
    "FLEXIBLE_DEFAULT_SINCE",
    "FLEXIBLE_SINCE",
    "HOUR",
    "ITEM_TRIAL",
    "JSON",
    "MINUTE",
    "P_ACCOUNT_V2",
    "P_ADDON_ADD",
    "P_ADDON_REMOVE",
    "P_ALWAYS_INVOICE",
    "P_CANCEL_NOW",
    "P_CANCEL_REQUEST",
    "P_CHARGE",
    "P_CREDIT_NOTE",
    "P_CUSTOMER_DISCOUNT",
    "P_DELETE_CHURNED",
    "P_DISPUTE",
    "P_DOWNGRADE",
    "P_FAIL",
    "P_FLEXIBLE_DEFAULT",
    "P_FLEXIBLE_OPT_IN",
    "P_ITEM_DISCOUNT",
    "P_ITEM_TRIAL",
    "P_NO_PAYMENT_METHOD",
    "P_ONE_OFF",
    "P_PAUSE",
    "P_REACTIVATE",
    "P_RECOVER",
    "P_REFUND",
    "P_SEATS",
    "P_TEST_CLOCK",
    "P_UNPAID",
    "P_UPGRADE",
    "P_WITHDRAW",
    "P_YEARLY_FEE",
    "RESOURCE_NAMES",
    "TAX_PERCENT",
    "Account",
    "IdFactory",
    "MrrChange",
    "add_customer",
    "add_months",
    "add_subscription",
    "cancel_subscription",
    "change_subscription",
    "delete_customer",
    "generate_account",
    "item_mrr",
    "iter_objects",
    "month_floor",
    "monthly",
    "price_amount",
    "subscription_mrr",
    "truth_mrr",
    "truth_mrr_all",
    "update_customer",
]
