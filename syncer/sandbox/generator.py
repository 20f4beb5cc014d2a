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
"""

from __future__ import annotations

import gc
import json
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from heapq import heappop, heappush
from typing import Any

from syncer.months import add_months

JSON = dict[str, Any]

API_VERSION = "2026-10-28.endive"
MINUTE = 60
HOUR = 3600
DAY = 86400
EVENT_RETENTION = 30 * DAY  # Stripe keeps events for 30 days
EMBEDDED_LIST_LIMIT = 10  # Stripe embeds at most 10 entries of a child list

# Resource name (syncer.stripe.resources) -> attribute of ``Account`` holding its objects.
RESOURCE_NAMES: tuple[str, ...] = (
    "customers",
    "products",
    "prices",
    "coupons",
    "promotion_codes",
    "subscriptions",
    "invoices",
    "invoice_items",
    "invoice_payments",
    "charges",
    "refunds",
    "credit_notes",
    "disputes",
)

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}


# ---- small pure helpers -------------------------------------------------------------


_B62_PAIRS = [a + b for a in _B62 for b in _B62]


def _b62(n: int, width: int) -> str:
    """The last ``width`` base-62 digits of ``n`` (two digits per step: ids are hot)."""
    out = []
    for _ in range(width // 2):
        n, r = divmod(n, 3844)
        out.append(_B62_PAIRS[r])
    if width % 2:
        out.append(_B62[n % 62])
    return "".join(reversed(out))


def _rdiv(num: int, den: int) -> int:
    """num/den rounded half away from zero (Stripe's rounding of prorations)."""
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def month_floor(ts: int) -> int:
    d = datetime.fromtimestamp(ts, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp())


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y")


def _money(amount: int, currency: str) -> str:
    sym = _SYMBOLS.get(currency, currency.upper() + " ")
    return f"{sym}{amount / 100:,.2f}"


class IdFactory:
    """Stripe-looking ids, unique per prefix and deterministic for a seed.

    Long ids (``in_1…``) mimic Stripe's: a scrambled counter, the account tag and a
    tail. The counter goes through an affine bijection modulo a power of 62, so the ids
    look random yet two counters never give the same id.
    """

    # ~ 62**k / golden ratio, odd and not a multiple of 31: invertible modulo 62**k
    _A5, _A14 = 566201229, 7664715031257921135575041

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"ids-{seed}")
        self.tag = "".join(rng.choice(_B62) for _ in range(10))
        self._b5 = rng.randrange(62**5)
        self._b14 = rng.randrange(62**14)
        # Tails only make ids look random (the head is what makes them unique).
        self._tails = [_b62(rng.getrandbits(48), 8) for _ in range(4096)]
        self._counters: dict[str, int] = {}
        self._keys: dict[str, int] = {}

    def _next(self, prefix: str) -> tuple[int, int]:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        k = self._keys.get(prefix)
        if k is None:
            k = self._keys[prefix] = _prefix_key(prefix)
        return n, k

    def long(self, prefix: str) -> str:
        n, k = self._next(prefix)
        head = _b62((n * self._A5 + self._b5 + k) % 916132832, 5)  # 62**5
        return f"{prefix}_1{head}{self.tag}{self._tails[(n + k) & 4095]}"

    def short(self, prefix: str) -> str:
        n, k = self._next(prefix)
        return f"{prefix}_{_b62((n * self._A14 + self._b14 + k) % 62**14, 14)}"


def _prefix_key(prefix: str) -> int:
    # A stable offset per prefix (``hash()`` of a str changes between runs).
    return int.from_bytes(prefix.encode(), "big") * 2654435761


# ---- the account --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MrrChange:
    """One change of the MRR contributed by one key of one subscription.

    ``item`` is a subscription item id, or ``discount:<di_…>`` for an amount-off
    discount (a negative contribution to its subscription). The MRR of a subscription
    at t is max(0, sum of its keys' latest ``new_mrr``); a customer's is the sum over
    its subscriptions, in ``currency`` minor units, monthly-normalised (METRICS.md §1).
    """

    customer: str
    subscription: str
    item: str
    time: int
    old_mrr: int
    new_mrr: int
    kind: str
    currency: str


@dataclass(eq=False)
class Account:
    """Every object of one synthetic Stripe account at ``now``, and its truth."""

    now: int
    seed: int
    currency: str
    livemode: bool
    api_version: str
    account: JSON
    ids: IdFactory
    tax_rate: str  # the VAT rate applied to foreign-currency customers
    customers: list[JSON] = field(default_factory=list)
    products: list[JSON] = field(default_factory=list)
    prices: list[JSON] = field(default_factory=list)
    coupons: list[JSON] = field(default_factory=list)
    promotion_codes: list[JSON] = field(default_factory=list)
    subscriptions: list[JSON] = field(default_factory=list)
    invoices: list[JSON] = field(default_factory=list)
    invoice_items: list[JSON] = field(default_factory=list)
    invoice_payments: list[JSON] = field(default_factory=list)
    charges: list[JSON] = field(default_factory=list)
    refunds: list[JSON] = field(default_factory=list)
    credit_notes: list[JSON] = field(default_factory=list)
    disputes: list[JSON] = field(default_factory=list)
    events: list[JSON] = field(default_factory=list)
    discounts: dict[str, JSON] = field(default_factory=dict)
    # Test mode only: the test clocks some customers are attached to. Stripe leaves those
    # customers and their subscriptions out of the lists unless ``test_clock`` is given.
    test_clocks: list[JSON] = field(default_factory=list)
    balance_transactions: dict[str, JSON] = field(default_factory=dict)
    timeline: list[MrrChange] = field(default_factory=list)
    # resource -> id -> the object as it was when deleted (retrieve answers a tombstone)
    deleted: dict[str, dict[str, JSON]] = field(default_factory=dict)
    # currency -> [(month start, units of account currency per unit)], for conversions
    fx_rates: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    _positions: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    # -- access ---------------------------------------------------------------------

    def objects(self, resource: str) -> list[JSON]:
        if resource not in RESOURCE_NAMES:
            raise KeyError(resource)
        objs: list[JSON] = getattr(self, resource)
        return objs

    def _pos(self, resource: str) -> dict[str, int]:
        objs = self.objects(resource)
        pos = self._positions.get(resource)
        if pos is None or len(pos) != len(objs):
            pos = {o["id"]: i for i, o in enumerate(objs)}
            self._positions[resource] = pos
        return pos

    def get(self, resource: str, obj_id: str) -> JSON | None:
        i = self._pos(resource).get(obj_id)
        return None if i is None else self.objects(resource)[i]

    def put(self, resource: str, obj: JSON) -> None:
        """Replace the object with the same id, or append a new one."""
        pos = self._pos(resource)
        i = pos.get(obj["id"])
        objs = self.objects(resource)
        if i is None:
            pos[obj["id"]] = len(objs)
            objs.append(obj)
        else:
            objs[i] = obj

    def remove(self, resource: str, obj_id: str) -> JSON:
        """Delete an object: it leaves its list and becomes a tombstone."""
        objs = self.objects(resource)
        i = self._pos(resource)[obj_id]
        obj = objs.pop(i)
        self._positions.pop(resource, None)
        self.deleted.setdefault(resource, {})[obj_id] = obj
        return obj

    def add_event(
        self, type_: str, created: int, obj: JSON, previous: JSON | None = None
    ) -> JSON:
        event = _event(self.ids.long("evt"), type_, created, obj, previous, self)
        self.events.append(event)
        return event

    def to_json(self) -> str:
        """Every object and the truth, serialised deterministically (for comparisons)."""
        doc: dict[str, Any] = {name: self.objects(name) for name in RESOURCE_NAMES}
        doc.update(
            account=self.account,
            events=self.events,
            discounts=self.discounts,
            balance_transactions=self.balance_transactions,
            deleted=self.deleted,
            test_clocks=self.test_clocks,
            timeline=[list(_timeline_tuple(c)) for c in self.timeline],
        )
        return json.dumps(doc, sort_keys=True)

    def counts(self) -> dict[str, int]:
        out = {name: len(self.objects(name)) for name in RESOURCE_NAMES}
        out["events"] = len(self.events)
        out["invoice_lines"] = sum(len(i["lines"]["data"]) for i in self.invoices)
        return out


def _timeline_tuple(c: MrrChange) -> tuple[str, str, str, int, int, int, str, str]:
    return (c.customer, c.subscription, c.item, c.time, c.old_mrr, c.new_mrr, c.kind, c.currency)


def truth_mrr(account: Account, customer_id: str, at: int) -> int:
    """A customer's MRR at ``at`` per the simulation (minor units of its currency).

    Replays ``account.timeline``: the latest value of every key at or before ``at``,
    summed per subscription and floored at 0 per subscription.
    """
    latest: dict[tuple[str, str], int] = {}
    for c in account.timeline:
        if c.customer == customer_id and c.time <= at:
            latest[(c.subscription, c.item)] = c.new_mrr
    per_sub: dict[str, int] = {}
    for (sub, _), value in latest.items():
        per_sub[sub] = per_sub.get(sub, 0) + value
    return sum(max(0, v) for v in per_sub.values())


def truth_mrr_all(account: Account, at: int) -> dict[str, int]:
    """Every customer's MRR at ``at`` (customers with none are left out)."""
    latest: dict[tuple[str, str, str], int] = {}
    for c in account.timeline:
        if c.time <= at:
            latest[(c.customer, c.subscription, c.item)] = c.new_mrr
    per_sub: dict[tuple[str, str], int] = {}
    for (cus, sub, _), value in latest.items():
        per_sub[(cus, sub)] = per_sub.get((cus, sub), 0) + value
    out: dict[str, int] = {}
    for (cus, _), value in per_sub.items():
        if value > 0:
            out[cus] = out.get(cus, 0) + value
    return out


def _event(
    event_id: str, type_: str, created: int, obj: JSON, previous: JSON | None, acct: Account
) -> JSON:
    data: JSON = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": acct.api_version,
        "created": created,
        "data": data,
        "livemode": acct.livemode,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


# ---- prices and MRR -----------------------------------------------------------------


def price_amount(price: JSON, quantity: int) -> int:
    """What one period of ``quantity`` units of a licensed price costs."""
    if price.get("billing_scheme") != "tiered":
        return int(price["unit_amount"]) * quantity
    tiers = price["tiers"]
    if price.get("tiers_mode") == "volume":
        for tier in tiers:
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                return int(tier["flat_amount"] or 0) + int(tier["unit_amount"] or 0) * quantity
        return 0
    total, below = 0, 0
    for tier in tiers:  # graduated: each tier prices the units that fall in it
        if quantity <= below:
            break
        top = quantity if tier["up_to"] is None else min(quantity, tier["up_to"])
        total += int(tier["flat_amount"] or 0) + int(tier["unit_amount"] or 0) * (top - below)
        below = top if tier["up_to"] is None else tier["up_to"]
    return total


def monthly(amount: int, interval: str, count: int) -> int:
    """An amount per ``count`` ``interval``s normalised to a month (METRICS.md §1.3)."""
    if interval == "month":
        return _rdiv(amount, count)
    if interval == "year":
        return _rdiv(amount, 12 * count)
    if interval == "week":
        return _rdiv(amount * 52, 12 * count)
    return _rdiv(amount * 365, 12 * count)


def item_mrr(price: JSON, quantity: int, percent_off: float = 0) -> int:
    """Monthly MRR of one licensed item after a percent discount; 0 for metered."""
    rec = price.get("recurring")
    if not rec or rec.get("usage_type") == "metered":
        return 0
    base = monthly(price_amount(price, quantity), rec["interval"], rec["interval_count"])
    if percent_off:
        base -= _rdiv(int(base * percent_off * 100), 10000)
    return max(0, base)


# ---- catalogue ----------------------------------------------------------------------

# key, product key, nickname, amount, interval, count, usage, active
_PLAN_PRICES: tuple[tuple[str, str, str, int, str, int], ...] = (
    ("starter_legacy", "starter", "Starter monthly (2024)", 1900, "month", 1),
    ("starter_m", "starter", "Starter monthly", 2900, "month", 1),
    ("starter_y", "starter", "Starter annual", 28800, "year", 1),
    ("pro_m", "pro", "Pro monthly", 9900, "month", 1),
    ("pro_q", "pro", "Pro quarterly", 27000, "month", 3),
    ("pro_y", "pro", "Pro annual", 99000, "year", 1),
    ("business_m", "business", "Business monthly", 29900, "month", 1),
    ("business_y", "business", "Business annual", 300000, "year", 1),
    ("seat_m", "seats", "Seat monthly", 1500, "month", 1),
    ("seat_y", "seats", "Seat annual", 18000, "year", 1),
    ("support_m", "support", "Priority support", 4900, "month", 1),
    ("platform_y", "platform", "Platform fee (annual)", 120000, "year", 1),
)
_ADDONS: tuple[tuple[str, int], ...] = (
    ("SSO", 2500),
    ("Audit log", 1500),
    ("Advanced analytics", 3900),
    ("Custom domain", 900),
    ("Sandbox environments", 1900),
    ("Data warehouse sync", 4900),
    ("Extra workspace", 1200),
    ("White labelling", 2900),
    ("Premium integrations", 3500),
    ("AI assistant", 2000),
    ("Dedicated IP", 1000),
    ("Compliance pack", 4500),
)
_FOREIGN_PRICES: tuple[tuple[str, str, str, int], ...] = (
    ("starter_m_fx", "starter", "Starter monthly", 2700),
    ("pro_m_fx", "pro", "Pro monthly", 8900),
    ("seat_m_fx", "seats", "Seat monthly", 1400),
)
_PRODUCTS: tuple[tuple[str, str, str | None], ...] = (
    ("starter", "Starter", None),
    ("pro", "Pro", None),
    ("business", "Business", None),
    ("seats", "Seats", "seat"),
    ("support", "Priority Support", None),
    ("team", "Team members", "member"),
    ("storage", "Storage", "block of 10 GB"),
    ("api", "API requests", "request"),
    ("onboarding", "Onboarding", None),
    ("consulting", "Consulting", "hour"),
    ("platform", "Platform", None),
)
_FEEDBACK = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)
_COMMENTS = (
    "We are consolidating tools this quarter.",
    "Budget cuts, may come back next year.",
    "Moved to an in-house solution.",
    "Not enough time to set it up properly.",
)
_NAME_A = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
    "Tyrell", "Cyberdyne", "Soylent", "Wonka", "Gringotts", "Oscorp", "Aperture",
    "Massive", "Dunder", "Pied", "Nakatomi", "Monarch", "Blue", "Red", "Northwind",
    "Contoso", "Fabrikam", "Tailspin", "Litware", "Proseware", "Adatum", "Lucerne",
)
_NAME_B = (
    "Labs", "Systems", "Analytics", "Industries", "Works", "Digital", "Software",
    "Logistics", "Health", "Studio", "Partners", "Robotics", "Foods", "Energy", "Media",
)
_NAME_C = ("Inc.", "LLC", "Ltd", "GmbH", "SAS", "Co.", "")


@dataclass(slots=True)
class _Price:
    key: str
    obj: JSON  # complete price, with ``tiers``
    public: JSON  # as embedded in subscription items (no ``tiers``: it is includable)
    plan: JSON  # the legacy ``plan`` twin embedded in items
    pricing: JSON = field(default_factory=dict)  # the ``pricing`` of its invoice lines

    def __post_init__(self) -> None:
        self.pricing = {
            "price_details": {"price": self.obj["id"], "product": self.obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": self.obj["unit_amount_decimal"],
        }

    @property
    def id(self) -> str:
        return str(self.obj["id"])

    @property
    def interval_months(self) -> int:
        rec = self.obj["recurring"]
        return int(rec["interval_count"]) * (12 if rec["interval"] == "year" else 1)

    @property
    def metered(self) -> bool:
        rec = self.obj["recurring"]
        return bool(rec) and rec["usage_type"] == "metered"


# ---- simulation state -----------------------------------------------------------------


@dataclass(slots=True)
class _Cust:
    idx: int
    id: str
    obj: JSON
    currency: str
    pm: str
    pm_details: JSON
    billing: JSON
    taxed: bool
    balance: int = 0
    seq: int = 0
    open_failed: int = 0  # invoices currently failing (for ``delinquent``)
    clock: str | None = None  # the test clock it is attached to (test mode)
    discount: _Disc | None = None  # its customer-level discount (``customer.discount``)
    # Its ``customer`` and ``customer_account`` fields: an Accounts v2 account billed as a
    # customer (``acct_…``) has the latter only. Fields, not properties: they are hot.
    customer: str | None = field(init=False)
    customer_account: str | None = field(init=False)

    def __post_init__(self) -> None:
        v2 = self.id.startswith("acct_")
        self.customer = None if v2 else self.id
        self.customer_account = self.id if v2 else None


@dataclass(slots=True)
class _Item:
    id: str
    price: _Price
    quantity: int
    created: int
    parent: JSON | None = None  # the ``parent`` of its invoice lines (shared)
    # Flexible billing mode: an item with another interval than the subscription's keeps
    # its own period (None: the subscription's), renewed on its own invoices.
    period: tuple[int, int] | None = None
    trial: tuple[int, int, str] | None = None  # its own trial: start, end, trial offer
    discounts: list[_Disc] = field(default_factory=list)  # its own (item-level) discounts


@dataclass(slots=True)
class _Disc:
    id: str
    coupon: JSON
    start: int
    end: int | None  # None: forever, or "once" (ends at the first period end)
    obj: JSON

    def active(self, t: int) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass
class _Sub:
    id: str
    cust: _Cust
    currency: str
    created: int
    anchor: int
    interval_months: int
    items: list[_Item]
    random: bool
    status: str = "active"
    trial_start: int | None = None
    trial_end: int | None = None
    period_start: int = 0
    period_end: int = 0
    period_index: int = 0
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    cancellation: JSON = field(
        default_factory=lambda: {"comment": None, "feedback": None, "reason": None}
    )
    pause: JSON | None = None
    paused_billing: bool = False
    discounts: list[_Disc] = field(default_factory=list)
    latest_invoice: str | None = None
    pending: list[JSON] = field(default_factory=list)  # proration invoice items
    mrr: dict[str, int] = field(default_factory=dict)
    fail_next: str | None = None  # "recover" | "churn": the next renewal payment fails
    last_snapshot: JSON | None = None
    last_charge: JSON | None = None
    last_paid_invoice: JSON | None = None
    queue: list[tuple[int, int, int, str, Any]] = field(default_factory=list)
    seq: int = 0
    billing_mode: JSON = field(default_factory=lambda: _CLASSIC)
    item_discounts: bool = False  # some item has (or had) its own discounts
    no_payment_method: bool = False  # its customer has none (yet)
    trial_end_pause: bool = False  # ``trial_settings``: pause when the trial ends without one

    @property
    def ended(self) -> bool:
        return self.status in ("canceled", "incomplete_expired")


@dataclass
class _Profile:
    """What one customer does; scripted customers get fixed times and events."""

    idx: int
    signup: int
    currency: str
    subscriber: bool = True
    items: list[tuple[str, int]] = field(default_factory=list)  # (price key, quantity)
    trial: bool = False
    coupon: str | None = None
    setup_fee: bool = False
    random: bool = True
    incomplete: bool = False
    reactivate: tuple[int, list[tuple[str, int]]] | None = None
    script: list[tuple[int, str, Any]] = field(default_factory=list)
    extras: list[tuple[int, str, Any]] = field(default_factory=list)  # one-offs, charges
    metadata: JSON = field(default_factory=dict)
    delete_at: int | None = None
    setups: _Setups | None = None  # the rarer real-account setups this customer has


@dataclass
class _Setups:
    """A customer's share of the setups real accounts have and the others rarely do."""

    flexible: bool = False  # the subscription is in flexible billing mode
    yearly_fee_at: int | None = None  # a yearly platform fee added to a monthly plan
    item_discount: str | None = None  # coupon on the seat item (or an add-on)
    customer_discount: tuple[str, int, int | None] | None = None  # coupon, start, removed
    item_trial_at: int | None = None  # an add-on added with its own 14-day trial
    no_payment_method: bool = False  # trial ends without one: ``paused``
    resume_paused_at: int | None = None
    pause_behavior: str | None = None  # a scripted ``pause_collection.behavior``
    unpaid: bool = False  # the last retry fails and the subscription stays ``unpaid``
    test_clock: bool = False
    account_v2: bool = False  # billed as an Accounts v2 account (``customer_account``)


_NO_SETUPS = _Setups()


# Monthly probabilities of the random behaviour.
P_CANCEL_REQUEST = 0.008
P_WITHDRAW = 0.2
P_CANCEL_NOW = 0.002
P_FAIL = 0.025
P_RECOVER = 0.75
P_UPGRADE = 0.035
P_DOWNGRADE = 0.01
P_SEATS = 0.12
P_ADDON_ADD = 0.04
P_ADDON_REMOVE = 0.012
P_PAUSE = 0.005
P_ALWAYS_INVOICE = 0.5
P_ONE_OFF = 0.03
P_CHARGE = 0.012
P_REFUND = 0.01
P_CREDIT_NOTE = 0.008
P_DISPUTE = 0.0008
P_REACTIVATE = 0.25
TAX_PERCENT = 20  # VAT on foreign-currency customers, exclusive

# The setups of real accounts (issue 17), each for a few percent of the customers.
P_FLEXIBLE_DEFAULT = 0.9  # created once flexible billing mode was the API's default
P_FLEXIBLE_OPT_IN = 0.25  # created while it had to be asked for
P_YEARLY_FEE = 0.1  # of monthly plans: a yearly platform fee added (mixed intervals)
P_ITEM_DISCOUNT = 0.06  # of subscriptions with seats or add-ons and no coupon
P_CUSTOMER_DISCOUNT = 0.04  # of subscribers without a coupon of their own
P_ITEM_TRIAL = 0.4  # of add-ons added to a live subscription once flexible mode exists
P_NO_PAYMENT_METHOD = 0.1  # of trials: it ends without one, the subscription pauses
P_UNPAID = 0.3  # of failures never recovered: the subscription stays ``unpaid``
P_DELETE_CHURNED = 0.15  # of churned customers: deleted later
P_TEST_CLOCK = 0.015  # test mode only
P_ACCOUNT_V2 = 0.015
ITEM_TRIAL = 14 * DAY
# Stripe added ``billing_mode`` on 2025-06-30 and made ``flexible`` the default for
# subscriptions created from 2025-09-30 on.
FLEXIBLE_SINCE = 1751241600
FLEXIBLE_DEFAULT_SINCE = 1759190400
_PAUSE_BEHAVIORS = ("void", "keep_as_draft", "mark_uncollectible")


def _flexible(t: int) -> JSON:
    """``billing_mode`` of a subscription in flexible mode since ``t``."""
    return {"flexible": {"proration_discounts": "included"}, "type": "flexible", "updated_at": t}

_CLASSIC: JSON = {"flexible": None, "type": "classic", "updated_at": None}


_DECIMALS = [str(n) for n in range(1000)]


def _decimal(quantity: int) -> str:
    """A quantity as Stripe's ``quantity_decimal`` string (``str`` is hot for lines)."""
    return _DECIMALS[quantity] if 0 <= quantity < 1000 else str(quantity)


def _foreign_currency(currency: str) -> str:
    """The second currency some customers pay in."""
    return "eur" if currency != "eur" else "usd"


def _plan_of(price: JSON) -> JSON:
    """The legacy ``plan`` twin of a recurring price, as embedded in subscription items."""
    rec = price.get("recurring")
    if not rec:
        return {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": rec["interval"],
        "interval_count": rec["interval_count"],
        "livemode": price["livemode"],
        "metadata": {},
        "meter": rec["meter"],
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": price["tiers_mode"],
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": rec["usage_type"],
    }


def _line_subscription(parent: JSON) -> str | None:
    """An invoice line's top-level ``subscription``: the one its parent details name."""
    details = parent["subscription_item_details"] or parent["invoice_item_details"]
    return None if details is None else details["subscription"]


def _account_object(acct_id: str, currency: str, created: int) -> JSON:
    """The ``/v1/account`` object."""
    name = "Northwind Cloud (sandbox)"
    return {
        "id": acct_id,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": "5734",
            "minority_owned_business_designation": None,
            "name": name,
            "product_description": "Project analytics software",
            "support_address": None,
            "support_email": "support@example.com",
            "support_phone": None,
            "support_url": None,
            "url": "https://example.com",
        },
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "US",
        "created": created,
        "default_currency": currency,
        "details_submitted": True,
        "email": "billing@example.com",
        "external_accounts": {"object": "list", "data": [], "has_more": False,
                              "url": f"/v1/accounts/{acct_id}/external_accounts"},
        "future_requirements": _NO_REQUIREMENTS,
        "metadata": {},
        "payouts_enabled": True,
        "requirements": _NO_REQUIREMENTS,
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None,
                         "secondary_color": None},
            "card_payments": {"decline_on": {"avs_failure": False, "cvc_failure": True},
                              "statement_descriptor_prefix": None,
                              "statement_descriptor_prefix_kana": None,
                              "statement_descriptor_prefix_kanji": None},
            "dashboard": {"display_name": "Northwind", "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": "offer"},
            "payments": {"statement_descriptor": "NORTHWIND", "statement_descriptor_kana": None,
                         "statement_descriptor_kanji": None,
                         "statement_descriptor_prefix_kana": None,
                         "statement_descriptor_prefix_kanji": None},
            "payouts": {"debit_negative_balances": True,
                        "schedule": {"delay_days": 2, "interval": "daily"},
                        "statement_descriptor": None},
        },
        "tos_acceptance": {"date": created, "ip": "192.0.2.10", "user_agent": None},
        "type": "standard",
    }


# What a card charge's ``payment_method_details.card`` says beyond the card itself: a
# plain online payment (no mandate, no installments, no extended or incremental auth).
_CARD_CHARGE_DETAILS: JSON = {
    "authorization_code": None,
    "extended_authorization": {"status": "disabled"},
    "incremental_authorization": {"status": "unavailable"},
    "installments": None,
    "mandate": None,
    "multicapture": {"status": "unavailable"},
    "network_token": {"used": False},
    "network_transaction_id": None,
    "regulated_status": "unregulated",
    "transaction_link_id": None,
}

# A fully verified account: nothing due now or later.
_NO_REQUIREMENTS: JSON = {
    "alternatives": [], "current_deadline": None, "currently_due": [], "disabled_reason": None,
    "errors": [], "eventually_due": [], "past_due": [], "pending_verification": [],
}


class _Sim:
    """The simulation; also attached to an existing account to apply test edits."""

    def __init__(self, acct: Account, *, now: int, start: int, rng: random.Random,
                 customers: int = 0) -> None:
        self.acct = acct
        self.ids = acct.ids
        self.n_customers = customers
        self.rng = rng
        self.now = now
        self.start = start
        self.cutoff = now - EVENT_RETENTION
        self.currency = acct.currency
        self.fx_currency = _foreign_currency(acct.currency)
        self.livemode = acct.livemode
        self.mode = "live" if acct.livemode else "test"
        self.prices: dict[str, _Price] = {}
        self.products: dict[str, JSON] = {}
        self.coupons: dict[str, JSON] = {}
        self.promos: dict[str, JSON] = {}
        self.addon_keys: list[str] = []
        self.tax_rate = acct.tax_rate
        self._pending_events: list[tuple[int, int, str, JSON, JSON | None]] = []
        self._event_seq = 0
        self._product_by_id: dict[str, JSON] = {}
        self._price_by_id: dict[str, _Price] = {}
        self._inpay_by_invoice: dict[str, JSON] = {}
        self._paid_charge: dict[str, JSON] = {}  # invoice id -> its succeeded charge
        self._cn_count: dict[str, int] = {}  # invoice id -> credit notes issued
        self._ii_item: dict[str, str] = {}  # proration invoice item -> subscription item
        self._descriptions: dict[tuple[str, int], str] = {}
        self._charge_accounts: dict[str, str] = {}  # Accounts v2 customer of each charge
        self.coupon_deleted_at = self.at(0.45)  # when FOUNDERS25 is deleted
        self.trial_offer = self.ids.long("to")  # the trial offer of the add-ons' own trials

    @classmethod
    def attach(cls, acct: Account, now: int) -> _Sim:
        """A simulation continuing ``acct`` at ``now`` (for the test mutation helpers)."""
        rng = random.Random(f"edit-{acct.seed}-{now}-{len(acct.events)}")
        sim = cls(acct, now=now, start=acct.now, rng=rng)
        for prod in acct.products:
            sim.products[str(prod["metadata"].get("catalogue_key", prod["id"]))] = prod
            sim._product_by_id[prod["id"]] = prod
        for price in acct.prices:
            key = str(price.get("lookup_key") or price["id"])
            public = {k: v for k, v in price.items() if k != "tiers"}
            sim.prices[key] = _Price(key, price, public, _plan_of(price))
            sim._price_by_id[price["id"]] = sim.prices[key]
        sim.coupons = {c["id"]: c for c in acct.coupons}
        return sim

    # ---- account, catalogue ------------------------------------------------------

    def build_fx_rates(self) -> None:
        """Month start -> units of account currency per unit of the foreign currency."""
        base = 1.08 if self.fx_currency == "eur" else 0.92
        table: list[tuple[int, float]] = []
        t, rate = month_floor(add_months(self.start, -1)), base
        while t <= self.now:
            table.append((t, round(rate, 6)))
            rate = max(base * 0.85, min(base * 1.15, rate * (1 + self.rng.uniform(-0.02, 0.02))))
            t = add_months(t, 1)
        self.acct.fx_rates[self.fx_currency] = table

    def fx(self, currency: str, t: int) -> float | None:
        """The rate of the month of ``t`` (the latest known one past the table)."""
        if currency == self.currency:
            return None
        table = self.acct.fx_rates[currency]
        i = bisect_right(table, (t, float("inf"))) - 1
        return table[max(i, 0)][1]

    def build_catalogue(self) -> None:
        t0 = self.start - 20 * DAY
        for key, name, unit in _PRODUCTS:
            self._product(key, name, unit, t0)
        for i, (name, _) in enumerate(_ADDONS):
            self._product(f"addon{i}", f"Add-on: {name}", None, t0 + HOUR)
        for key, prod, nick, amount, interval, count in _PLAN_PRICES:
            active = key != "starter_legacy"
            self._price(key, prod, nick, self.currency, t0, amount=amount,
                        recurring=(interval, count, "licensed"), active=active)
        for i, (name, amount) in enumerate(_ADDONS):
            key = f"addon{i}_m"
            self._price(key, f"addon{i}", f"{name} monthly", self.currency, t0 + HOUR,
                        amount=amount, recurring=("month", 1, "licensed"))
            self.addon_keys.append(key)
        for key, prod, nick, amount in _FOREIGN_PRICES:
            self._price(key, prod, nick, self.fx_currency, t0 + 2 * HOUR, amount=amount,
                        recurring=("month", 1, "licensed"))
        self._price("storage_m", "storage", "Storage graduated", self.currency, t0,
                    recurring=("month", 1, "licensed"), tiers=("graduated", (
                        (5, 1000, 2000), (20, 800, 0), (None, 500, 0))))
        self._price("team_m", "team", "Team members volume", self.currency, t0,
                    recurring=("month", 1, "licensed"), tiers=("volume", (
                        (10, 1200, 0), (50, 1000, 0), (None, 800, 0))))
        self._price("api_m", "api", "API requests metered", self.currency, t0,
                    amount=1, recurring=("month", 1, "metered"))
        self._price("setup_fee", "onboarding", "Onboarding fee", self.currency, t0, amount=50000)
        self._price("consulting", "consulting", "Consulting hour", self.currency, t0, amount=15000)
        for key, prod in (("starter", "starter_m"), ("pro", "pro_m"), ("business", "business_m"),
                          ("seats", "seat_m"), ("support", "support_m"), ("team", "team_m"),
                          ("storage", "storage_m"), ("api", "api_m"),
                          ("onboarding", "setup_fee"), ("consulting", "consulting")):
            self.products[key]["default_price"] = self.prices[prod].id
        for i in range(len(_ADDONS)):
            self.products[f"addon{i}"]["default_price"] = self.prices[f"addon{i}_m"].id
        self._coupons(t0)

    def _product(self, key: str, name: str, unit: str | None, t: int) -> None:
        obj: JSON = {
            "id": self.ids.short("prod"),
            "object": "product",
            "active": True,
            "created": t,
            "default_price": None,
            "description": None,
            "images": [],
            "livemode": self.livemode,
            "marketing_features": [],
            "metadata": {"catalogue_key": key},
            "name": name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": None,
            "type": "service",
            "unit_label": unit,
            "updated": t,
            "url": None,
        }
        self.products[key] = obj
        self._product_by_id[obj["id"]] = obj
        self.acct.products.append(obj)

    def _price(
        self,
        key: str,
        product: str,
        nickname: str,
        currency: str,
        t: int,
        *,
        amount: int | None = None,
        recurring: tuple[str, int, str] | None = None,
        tiers: tuple[str, tuple[tuple[int | None, int, int], ...]] | None = None,
        active: bool = True,
    ) -> None:
        pid = self.ids.long("price")
        meter = self.ids.long("mtr") if recurring and recurring[2] == "metered" else None
        rec = None
        if recurring:
            rec = {
                "interval": recurring[0],
                "interval_count": recurring[1],
                "meter": meter,
                "trial_period_days": None,
                "usage_type": recurring[2],
            }
        obj: JSON = {
            "id": pid,
            "object": "price",
            "active": active,
            "billing_scheme": "tiered" if tiers else "per_unit",
            "created": t,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": self.livemode,
            "lookup_key": key,
            "metadata": {},
            "nickname": nickname,
            "product": self.products[product]["id"],
            "recurring": rec,
            "tax_behavior": "exclusive",
            "tiers_mode": tiers[0] if tiers else None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": amount,
            "unit_amount_decimal": None if amount is None else str(amount),
        }
        public = dict(obj)
        if tiers:
            obj["tiers"] = [
                {
                    "flat_amount": flat,
                    "flat_amount_decimal": str(flat),
                    "unit_amount": unit,
                    "unit_amount_decimal": str(unit),
                    "up_to": up_to,
                }
                for up_to, unit, flat in tiers[1]
            ]
        plan = _plan_of(obj)
        self.prices[key] = _Price(key, obj, public, plan)
        self._price_by_id[pid] = self.prices[key]
        self.acct.prices.append(obj)

    def _coupons(self, t: int) -> None:
        specs: tuple[tuple[str, str, JSON], ...] = (
            ("LAUNCH20", "Launch 20% off", {"percent_off": 20.0, "duration": "forever"}),
            ("ANNUAL15", "Annual 15% off", {"percent_off": 15.0, "duration": "forever"}),
            ("SAVE50X3", "50 off for 3 months", {
                "amount_off": 5000, "currency": self.currency, "duration": "repeating",
                "duration_in_months": 3}),
            ("WELCOME50", "Welcome: 50% off the first invoice",
             {"percent_off": 50.0, "duration": "once"}),
            ("BF2024", "Black Friday 2024", {
                "percent_off": 30.0, "duration": "once", "redeem_by": self.start + 30 * DAY}),
            # for item-level discounts
            ("SEATS10", "10% off seats", {"percent_off": 10.0, "duration": "forever"}),
            ("ADDON5", "5 off an add-on for 6 months", {
                "amount_off": 500, "currency": self.currency, "duration": "repeating",
                "duration_in_months": 6}),
            # for customer-level discounts
            ("LOYAL10", "Loyalty 10% off", {"percent_off": 10.0, "duration": "forever"}),
            ("PARTNER25", "Partner 25% off for 6 months", {
                "percent_off": 25.0, "duration": "repeating", "duration_in_months": 6}),
            # deleted halfway through the window; its discounts keep applying
            ("FOUNDERS25", "Founders 25% off", {"percent_off": 25.0, "duration": "forever"}),
        )
        for cid, name, terms in specs:
            obj: JSON = {
                "id": cid,
                "object": "coupon",
                "amount_off": None,
                "created": t,
                "currency": None,
                "duration": "once",
                "duration_in_months": None,
                "livemode": self.livemode,
                "max_redemptions": None,
                "metadata": {},
                "name": name,
                "percent_off": None,
                "redeem_by": None,
                "times_redeemed": 0,
                "valid": True,
            }
            obj.update(terms)
            if obj["redeem_by"] is not None:
                obj["valid"] = obj["redeem_by"] > self.now
            self.coupons[cid] = obj
            self.acct.coupons.append(obj)
            promo = {
                "id": self.ids.long("promo"),
                "object": "promotion_code",
                "active": obj["valid"],
                "code": cid,
                "created": t + MINUTE,
                "customer": None,
                "customer_account": None,
                "expires_at": obj["redeem_by"],
                "livemode": self.livemode,
                "max_redemptions": None,
                "metadata": {},
                "promotion": {"coupon": cid, "type": "coupon"},
                "restrictions": {
                    "currency_options": {},
                    "first_time_transaction": False,
                    "minimum_amount": None,
                    "minimum_amount_currency": None,
                },
                "times_redeemed": 0,
            }
            self.promos[cid] = promo
            self.acct.promotion_codes.append(promo)

    # ---- events ----------------------------------------------------------------------

    def emit(self, t: int, type_: str, obj: JSON, previous: JSON | None = None,
             **overrides: Any) -> None:
        """An event at ``t`` if Stripe still keeps it, with a snapshot of ``obj`` as now.

        The snapshot is a shallow copy: the simulation replaces nested values of the
        objects it changes later (never mutates them), so the copy keeps this state.
        """
        if self.cutoff <= t <= self.now:
            self._event_seq += 1
            snap = {**obj, **overrides}
            self._pending_events.append((t, self._event_seq, type_, snap, previous))

    def finish_events(self) -> None:
        for t, _, type_, obj, previous in sorted(self._pending_events, key=lambda e: e[:2]):
            self.acct.events.append(
                _event(self.ids.long("evt"), type_, t, obj, previous, self.acct)
            )

    # ---- profiles ----------------------------------------------------------------------

    def at(self, fraction: float) -> int:
        return self.start + int((self.now - self.start) * fraction)

    def profiles(self) -> list[_Profile]:
        out = self._scripted()[: self.n_customers]
        for idx in range(len(out), self.n_customers):
            out.append(self._random_profile(idx))
        out.sort(key=lambda p: (p.signup, p.idx))
        return out

    def _scripted(self) -> list[_Profile]:
        """Customers whose stories are fixed, so that small accounts cover every case."""
        c, fx, T = self.currency, self.fx_currency, self.at
        now = self.now
        addons = [(f"addon{i}_m", 1) for i in range(11)]
        past_due_signup = add_months(now - 5 * DAY, -6)
        return [
            # 0: enterprise: 16 items, every invoice has more than 10 lines
            _Profile(0, T(0.01), c, items=[("business_m", 1), ("seat_m", 25), ("support_m", 1),
                                           *addons, ("storage_m", 30), ("api_m", 1)],
                     coupon="LAUNCH20", setup_fee=True, random=False,
                     script=[(T(0.5), "seats", 5), (T(0.6), "credit_note_full", None),
                             (T(0.7), "addon_remove", None)]),
            # 1: payment failure ending in an involuntary churn, then a reactivation
            _Profile(1, T(0.05), c, items=[("pro_m", 1), ("seat_m", 5)], random=False,
                     script=[(T(0.35), "fail_next", "churn")],
                     reactivate=(T(0.6), [("starter_m", 1)])),
            # 2: payment failure recovered
            _Profile(2, T(0.05), c, items=[("pro_m", 1)], random=False,
                     script=[(T(0.5), "fail_next", "recover")]),
            # 3: paused collection, resumed two months later
            _Profile(3, T(0.08), c, items=[("business_m", 1)], random=False,
                     script=[(T(0.4), "pause", 2)]),
            # 4: voluntary churn at period end
            _Profile(4, T(0.1), c, items=[("starter_m", 1)], random=False,
                     script=[(T(0.45), "cancel_request", ("too_expensive", _COMMENTS[1]))]),
            # 5: immediate cancel with a credit note refunding the unused time
            _Profile(5, T(0.1), c, items=[("pro_m", 1), ("seat_m", 3)], random=False,
                     script=[(T(0.55), "cancel_now", True)]),
            # 6: trial converted; 7: trial cancelled before it ended
            _Profile(6, T(0.3), c, items=[("pro_m", 1)], trial=True, random=False),
            _Profile(7, now - 58 * DAY, c, items=[("pro_m", 1)], trial=True, random=False,
                     script=[(now - 50 * DAY, "cancel_request", ("unused", None))]),
            # 8: a lost dispute and the subscription cancelled for it
            _Profile(8, T(0.15), c, items=[("business_m", 1)], random=False,
                     script=[(T(0.7), "dispute", "lost")]),
            # 9: upgrade invoiced at once, seat change prorated, later downgrade
            _Profile(9, T(0.05), c, items=[("pro_m", 1), ("seat_m", 3)], random=False,
                     script=[(T(0.3), "upgrade", True), (T(0.5), "seats", 4),
                             (T(0.8), "downgrade", False)]),
            # 10: amount-off coupon for 3 months; 11: 50% off the first invoice
            _Profile(10, T(0.2), c, items=[("pro_m", 1)], coupon="SAVE50X3", random=False),
            _Profile(11, T(0.25), c, items=[("business_m", 1)], coupon="WELCOME50",
                     random=False),
            # 12: annual plan with seats; 13: quarterly plan
            _Profile(12, T(0.02), c, items=[("pro_y", 1), ("seat_y", 4)], coupon="ANNUAL15",
                     random=False),
            _Profile(13, T(0.1), c, items=[("pro_q", 1)], random=False),
            # 14: a customer paying in another currency (with VAT)
            _Profile(14, T(0.1), fx, items=[("pro_m_fx", 1), ("seat_m_fx", 3)], random=False),
            # 15: no subscription: a one-off invoice and standalone charges, one refunded
            _Profile(15, T(0.28), c, subscriber=False, random=False,
                     extras=[(T(0.3), "one_off", 3), (T(0.4), "charge", False),
                             (T(0.8), "charge", True)]),
            # 16: cancellation requested three days ago: pending churn at ``now``
            _Profile(16, T(0.3), c, items=[("starter_m", 1)], random=False,
                     script=[(now - 3 * DAY, "cancel_request", ("missing_features", None))]),
            # 17: past due at ``now`` (renewal failed five days ago)
            _Profile(17, past_due_signup, c, items=[("pro_m", 1)], random=False,
                     script=[(now - 20 * DAY, "fail_next", "churn")]),
            # 18: first payment failed: incomplete, then incomplete_expired
            _Profile(18, T(0.5), c, items=[("starter_m", 1)], incomplete=True, random=False),
            # 19: cancelled, then the customer was deleted ten days ago
            _Profile(19, T(0.1), c, items=[("starter_m", 1)], random=False,
                     script=[(T(0.3), "cancel_now", False)], delete_at=now - 10 * DAY),
            # 20: graduated tiers and metered usage; 21: volume tiers
            _Profile(20, T(0.05), c, items=[("pro_m", 1), ("storage_m", 12), ("api_m", 1)],
                     random=False),
            _Profile(21, T(0.07), c, items=[("business_m", 1), ("team_m", 14)], random=False),
            # 22, 23: two Stripe customers of one company (merge by metadata)
            _Profile(22, T(0.12), c, items=[("starter_m", 1)], random=False,
                     metadata={"company_id": "co_0001"}),
            _Profile(23, T(0.4), c, items=[("pro_m", 1)], random=False,
                     metadata={"company_id": "co_0001"}),
            # 24: a grandfathered legacy price
            _Profile(24, T(0.02), c, items=[("starter_legacy", 1)], random=False),
            # 25: signed up ten days ago (creation events in the window)
            _Profile(25, now - 10 * DAY, c, items=[("pro_m", 1), ("seat_m", 2)], random=False),
            # 26: upgrade a week ago, prorated on the next invoice
            _Profile(26, T(0.3), c, items=[("starter_m", 1)], random=False,
                     script=[(now - 7 * DAY, "upgrade", False)]),
            *self._scripted_setups(),
        ]

    def _scripted_setups(self) -> list[_Profile]:
        """Customers 27-41: one of each setup of issue 17, at fixed times."""
        c, T, now = self.currency, self.at, self.now
        item_trial_signup = add_months(now - 10 * DAY, -6)  # a period from now-10d to now+20d
        return [
            # 27: monthly plan and seats, a yearly platform fee added later (mixed intervals)
            _Profile(27, T(0.2), c, items=[("pro_m", 1), ("seat_m", 5)], random=False,
                     script=[(max(T(0.3), FLEXIBLE_SINCE + 5 * DAY), "add_yearly_fee", None)]),
            # 28: 10% off the seat item only (item-level discount)
            _Profile(28, T(0.15), c, items=[("pro_m", 1), ("seat_m", 10)], random=False,
                     setups=_Setups(item_discount="SEATS10")),
            # 29: a customer-level discount from signup, removed later
            _Profile(29, T(0.1), c, items=[("business_m", 1)], random=False,
                     setups=_Setups(customer_discount=("LOYAL10", T(0.1), T(0.7)))),
            # 30: an add-on added five days ago with a 14-day trial of its own
            _Profile(30, item_trial_signup, c, items=[("pro_m", 1)], random=False,
                     script=[(now - 5 * DAY, "addon_add", "trial")]),
            # 31: trial ended without a payment method (paused), resumed later; 32: still paused
            _Profile(31, T(0.5), c, items=[("pro_m", 1)], trial=True, random=False,
                     setups=_Setups(no_payment_method=True), script=[(T(0.7), "resume_paused", None)]),
            _Profile(32, now - 40 * DAY, c, items=[("starter_m", 1)], trial=True, random=False,
                     setups=_Setups(no_payment_method=True)),
            # 33: the last retry failed and the subscription stays unpaid
            _Profile(33, T(0.1), c, items=[("pro_m", 1)], random=False,
                     script=[(T(0.5), "fail_next", "unpaid")]),
            # 34, 35: paused collection keeping drafts / marking invoices uncollectible
            _Profile(34, T(0.1), c, items=[("pro_m", 1)], random=False,
                     script=[(T(0.6), "pause", (3, "keep_as_draft"))]),
            _Profile(35, T(0.1), c, items=[("business_m", 1)], random=False,
                     script=[(T(0.6), "pause", (0, "mark_uncollectible"))]),
            # 36: one-off invoices billing fractional hours
            _Profile(36, T(0.2), c, subscriber=False, random=False,
                     extras=[(T(0.3), "one_off", 2), (T(0.6), "one_off", 3)]),
            # 37: cancelled, then the customer was deleted
            _Profile(37, T(0.1), c, items=[("pro_m", 1)], random=False,
                     script=[(T(0.5), "cancel_now", False)], delete_at=T(0.6)),
            # 38: on a test clock (test mode); 39: an Accounts v2 account billed as a customer
            _Profile(38, T(0.2), c, items=[("pro_m", 1)], random=False,
                     setups=_Setups(test_clock=True)),
            _Profile(39, T(0.2), c, items=[("pro_m", 1), ("seat_m", 3)], random=False,
                     setups=_Setups(account_v2=True)),
            # 40: a coupon deleted after this subscription redeemed it
            _Profile(40, T(0.1), c, items=[("pro_m", 1)], coupon="FOUNDERS25", random=False),
            # 41: a customer-level discount for six months, starting after signup
            _Profile(41, T(0.2), c, items=[("pro_m", 1)], random=False,
                     setups=_Setups(customer_discount=("PARTNER25", T(0.3), None))),
        ]

    def _random_profile(self, idx: int) -> _Profile:
        rng = self.rng
        span = self.now - self.start
        # Most customers predate the first tenth of the window; then steady growth.
        u = rng.random() * 0.1 if rng.random() < 0.6 else rng.random()
        signup = self.start + int(span * u) + rng.randrange(DAY)
        signup = min(signup, self.now - HOUR)
        currency = self.fx_currency if rng.random() < 0.08 else self.currency
        p = _Profile(idx, signup, currency)
        if rng.random() < 0.04:
            p.subscriber = False
            p.extras = self._random_extras(signup, self.now, non_subscriber=True)
            return p
        p.items = self._random_items(currency, signup)
        p.trial = rng.random() < 0.3
        p.setup_fee = p.items[0][0].startswith("business") and rng.random() < 0.6
        if rng.random() < 0.15:
            p.coupon = self._random_coupon(p)
        p.incomplete = rng.random() < 0.01
        if rng.random() < 0.02:
            p.metadata = {"company_id": f"co_{rng.randrange(1, max(2, self.n_customers // 50)):04d}"}
        if currency == self.currency and not p.incomplete:
            p.setups = self._random_setups(p)
        return p

    def _random_setups(self, p: _Profile) -> _Setups | None:
        """The rarer setups for a random subscriber in the account's currency."""
        rng = self.rng
        s = _Setups()
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
        s.test_clock = not self.livemode and rng.random() < P_TEST_CLOCK
        s.account_v2 = not s.test_clock and rng.random() < P_ACCOUNT_V2
        return s

    def _random_items(self, currency: str, signup: int) -> list[tuple[str, int]]:
        rng = self.rng
        seats = 2 + int(rng.expovariate(1 / 6))
        if currency != self.currency:
            plan = rng.choice(("starter_m_fx", "pro_m_fx"))
            items = [(plan, 1)]
            if plan == "pro_m_fx" and rng.random() < 0.5:
                items.append(("seat_m_fx", seats))
            return items
        r = rng.random()
        if r < 0.7:
            tier = rng.choices(("starter", "pro", "business"), (0.4, 0.4, 0.2))[0]
            if tier == "starter":
                legacy = signup < self.at(0.15) and rng.random() < 0.5
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
            items += [(k, 1) for k in rng.sample(self.addon_keys, n_addons)]
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

    def _random_coupon(self, p: _Profile) -> str:
        plan = p.items[0][0]
        if plan.endswith("_y"):
            return "ANNUAL15"
        choices = ["LAUNCH20"]
        if p.signup < self.coupon_deleted_at:
            choices.append("FOUNDERS25")
        if not p.trial:
            choices.append("WELCOME50")
        if p.currency == self.currency and plan in ("pro_m", "business_m"):
            choices.append("SAVE50X3")
        return self.rng.choice(choices)

    def _random_extras(self, t0: int, t1: int, *, non_subscriber: bool) -> list[tuple[int, str, Any]]:
        rng = self.rng
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

    # ---- customers -----------------------------------------------------------------------

    def run(self) -> Account:
        self.build_catalogue()
        for p in self.profiles():
            self._simulate(p)
        self._delete_coupon("FOUNDERS25", self.coupon_deleted_at)
        self.finish_events()
        return self.acct

    def _simulate(self, p: _Profile) -> None:
        cust = self._customer(p)
        end = self.now
        sub = None
        if p.subscriber:
            sub = self._run_subscription(cust, p.items, p.signup, p, trial=p.trial,
                                         coupon=p.coupon, setup_fee=p.setup_fee,
                                         rand=p.random, script=p.script,
                                         incomplete=p.incomplete)
            while sub.ended and sub.ended_at is not None:
                end = sub.ended_at
                again = self._reactivation(p, sub)
                if again is None:
                    break
                t, items = again
                end = self.now
                sub = self._run_subscription(cust, items, t, p, trial=False, coupon=None,
                                             setup_fee=False, rand=p.random, script=[],
                                             incomplete=False)
        extras = list(p.extras)
        if p.random and p.subscriber:
            extras += self._random_extras(p.signup + DAY, end, non_subscriber=False)
        for t, kind, arg in sorted(extras, key=lambda e: e[0]):
            if t > self.now:
                continue
            if kind == "one_off":
                self._one_off_invoice(cust, t, arg)
            else:
                self._standalone_charge(cust, t, refund=bool(arg))
        if sub is not None and p.random and p.delete_at is None:
            p.delete_at = self._deletion_time(cust, sub)
        self._finish_customer(cust, p)

    def _deletion_time(self, cust: _Cust, sub: _Sub) -> int | None:
        """When a churned customer is deleted, if it is (some are, months later)."""
        if not sub.ended or sub.ended_at is None or cust.customer is None or cust.clock:
            return None
        if cust.discount is not None or self.rng.random() >= P_DELETE_CHURNED:
            return None
        t = sub.ended_at + self.rng.randint(7, 240) * DAY
        return t if t < self.now else None

    def _reactivation(self, p: _Profile, sub: _Sub) -> tuple[int, list[tuple[str, int]]] | None:
        assert sub.ended_at is not None
        if p.reactivate is not None:
            t, items = p.reactivate
            p.reactivate = None
            return (t, items) if sub.ended_at < t <= self.now else None
        if not p.random or sub.status == "incomplete_expired":
            return None
        if self.rng.random() >= P_REACTIVATE:
            return None
        t = sub.ended_at + self.rng.randint(40, 270) * DAY
        if t > self.now:
            return None
        return t, self._random_items(sub.currency, t)

    def _customer(self, p: _Profile, name: str | None = None, email: str | None = None) -> _Cust:
        rng = self.rng
        if name is None:
            name = f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)} {rng.choice(_NAME_C)}".strip()
        slug = name.split()[0].lower() if name.split() else "customer"
        setups = p.setups or _NO_SETUPS
        cid = self.ids.long("acct") if setups.account_v2 else self.ids.short("cus")
        email = email or f"billing+{p.idx}@{slug}.example.com"
        country = "DE" if p.currency != self.currency else "US"
        brand = rng.choice(("visa", "visa", "mastercard", "amex"))
        last4 = f"{rng.randrange(10000):04d}"
        pm = self.ids.long("pm")
        obj: JSON = {
            "id": cid,
            "object": "customer",
            "address": {"city": None, "country": country, "line1": None, "line2": None,
                        "postal_code": None, "state": None},
            "balance": 0,
            "created": p.signup,
            "currency": p.currency if p.subscriber else None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": email,
            "invoice_prefix": _b62(rng.getrandbits(40), 8).upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": pm,
                                 "footer": None, "rendering_options": None},
            "livemode": self.livemode,
            "metadata": dict(p.metadata),
            "name": name,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        pm_details = {
            "card": {
                "amount_authorized": None,
                "brand": brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None,
                           "cvc_check": "pass"},
                "country": country,
                "exp_month": rng.randint(1, 12),
                "exp_year": datetime.fromtimestamp(self.now, UTC).year + rng.randint(1, 5),
                "fingerprint": _b62(rng.getrandbits(64), 16),
                "funding": "credit",
                "last4": last4,
                "network": brand,
                "three_d_secure": None,
                "wallet": None,
                **_CARD_CHARGE_DETAILS,
            },
            "type": "card",
        }
        billing = {"address": obj["address"], "email": email, "name": name, "phone": None,
                   "tax_id": None}
        cust = _Cust(p.idx, cid, obj, p.currency, pm, pm_details, billing,
                     taxed=p.currency != self.currency)
        self._attach_setups(cust, setups)
        if cust.customer is None:  # an Accounts v2 account: no Customer object
            return cust
        self.acct.customers.append(obj)
        self.emit(p.signup, "customer.created", obj)
        return cust

    def _finish_customer(self, cust: _Cust, p: _Profile) -> None:
        if cust.customer is None:
            return
        obj = cust.obj
        if cust.discount is not None:
            obj["discount"] = cust.discount.obj if cust.discount.active(self.now) else None
        obj["balance"] = cust.balance
        obj["delinquent"] = cust.open_failed > 0
        obj["next_invoice_sequence"] = cust.seq + 1
        if obj["currency"] is None and cust.seq:
            obj["currency"] = cust.currency
        if p.delete_at is not None and p.delete_at <= self.now:
            self.acct.customers.pop()  # always the last customer appended
            self.acct.deleted.setdefault("customers", {})[cust.id] = obj
            self.emit(p.delete_at, "customer.deleted", obj)

    def _cust_from(self, obj: JSON) -> _Cust:
        """Simulation state of an existing customer (a copy of its object is edited)."""
        obj = dict(obj)
        currency = obj["currency"] or self.currency
        pm = obj["invoice_settings"]["default_payment_method"] or self.ids.long("pm")
        pm_details = {"card": {"amount_authorized": None, "brand": "visa",
                               "checks": {"address_line1_check": None,
                                          "address_postal_code_check": None,
                                          "cvc_check": "pass"},
                               "country": "US", "exp_month": 12, "exp_year": 2030,
                               "fingerprint": "Xt5EWLLDS7FJjR1c", "funding": "credit",
                               "last4": "4242", "network": "visa", "three_d_secure": None,
                               "wallet": None, **_CARD_CHARGE_DETAILS}, "type": "card"}
        billing = {"address": obj["address"], "email": obj["email"], "name": obj["name"],
                   "phone": None, "tax_id": None}
        return _Cust(-1, obj["id"], obj, currency, pm, pm_details, billing,
                     taxed=currency != self.currency, balance=int(obj["balance"]),
                     seq=int(obj["next_invoice_sequence"]) - 1)

    # ---- subscriptions -------------------------------------------------------------------

    def _run_subscription(
        self,
        cust: _Cust,
        items: list[tuple[str, int]],
        t0: int,
        p: _Profile,
        *,
        trial: bool,
        coupon: str | None,
        setup_fee: bool,
        rand: bool,
        script: list[tuple[int, str, Any]],
        incomplete: bool,
    ) -> _Sub:
        price0 = self.prices[items[0][0]]
        sub = _Sub(
            id=self.ids.long("sub"),
            cust=cust,
            currency=str(price0.obj["currency"]),
            created=t0,
            anchor=t0,
            interval_months=price0.interval_months,
            items=[],
            random=rand,
        )
        for key, qty in items:
            sub.items.append(_Item(self.ids.short("si"), self.prices[key], qty, t0))
        if coupon:
            self._add_discount(sub, coupon, t0)
        sub.billing_mode = self._billing_mode(t0)
        setups = p.setups or _NO_SETUPS
        if t0 == p.signup:  # the first subscription, not a reactivation
            self._apply_setups(sub, setups, t0, trial=trial)
        if trial:
            sub.status = "trialing"
            sub.trial_start, sub.trial_end = t0, t0 + 14 * DAY
            sub.anchor = sub.trial_end
            sub.period_start, sub.period_end = t0, sub.trial_end
            sub.period_index = -1
        else:
            sub.period_start, sub.period_end = t0, add_months(t0, sub.interval_months)
        first = self._first_invoice(sub, t0, setup_fee=setup_fee, incomplete=incomplete)
        if incomplete:
            self._expire_incomplete(sub, first, t0)
            self._materialize(sub)
            return sub
        self._snapshot_event(sub, t0, "customer.subscription.created")
        self._record(sub, t0, "new")
        self._push(sub, sub.period_end, 2, "renew", None)
        for d in sub.discounts:
            if d.end is not None:
                self._push(sub, d.end, 0, "discount_end", d)
            elif d.coupon["duration"] == "once" and not trial:
                self._push(sub, sub.period_end, 0, "discount_end", d)
        self._push_discount_ends(sub, t0)
        for t, kind, arg in script:
            self._push(sub, t, 3, kind, arg)
        if rand:
            self._sample_period(sub)
        self._loop(sub)
        self._materialize(sub)
        return sub

    def _push(self, sub: _Sub, t: int, prio: int, kind: str, arg: Any) -> None:
        sub.seq += 1
        heappush(sub.queue, (t, prio, sub.seq, kind, arg))

    def _loop(self, sub: _Sub) -> None:
        handlers: dict[str, Callable[[_Sub, int, Any], None]] = {
            "renew": self._on_renew,
            "discount_end": self._on_discount_end,
            "retry": self._on_retry,
            "dunning_cancel": self._on_dunning_cancel,
            "cancel_request": self._on_cancel_request,
            "withdraw_cancel": self._on_withdraw,
            "cancel_now": self._on_cancel_now,
            "pause": self._on_pause,
            "resume": self._on_resume,
            "upgrade": self._on_upgrade,
            "downgrade": self._on_downgrade,
            "seats": self._on_seats,
            "addon_add": self._on_addon_add,
            "addon_remove": self._on_addon_remove,
            "fail_next": self._on_fail_next,
            "dispute": self._on_dispute,
            "credit_note_full": self._on_credit_note_full,
            "refund_last": self._on_refund_last,
            "credit_note": self._on_credit_note,
            "item_discount_end": self._on_item_discount_end,
            "mrr_tick": self._on_mrr_tick,
            "item_trial_end": self._on_item_trial_end,
            "add_yearly_fee": self._on_add_yearly_fee,
            "item_renew": self._on_item_renew,
            "resume_paused": self._on_resume_paused,
            "mark_unpaid": self._on_mark_unpaid,
        }
        while sub.queue and sub.queue[0][0] <= self.now:
            t, _, _, kind, arg = heappop(sub.queue)
            if sub.ended:
                break
            handlers[kind](sub, t, arg)
        sub.queue.clear()

    def _sample_period(self, sub: _Sub) -> None:
        """Random happenings of the period that just started."""
        rng = self.rng
        ps, pe = sub.period_start, sub.period_end
        m = sub.interval_months
        span = pe - ps

        def when() -> int:
            return ps + DAY + rng.randrange(max(1, span - 2 * DAY))

        def chance(p_month: float) -> bool:
            return rng.random() < 1 - (1 - p_month) ** m

        monthly_plan = m == 1
        if chance(P_CANCEL_REQUEST):
            feedback = rng.choice(_FEEDBACK)
            comment = rng.choice(_COMMENTS) if rng.random() < 0.3 else None
            self._push(sub, when(), 3, "cancel_request", (feedback, comment))
        if chance(P_CANCEL_NOW):
            self._push(sub, when(), 3, "cancel_now", rng.random() < 0.5)
        if sub.status == "trialing":
            return
        if chance(P_PAUSE):
            self._push(sub, when(), 3, "pause", rng.choice((1, 2, 3, 0)))
        if chance(P_FAIL) and sub.fail_next is None:
            sub.fail_next = "recover" if rng.random() < P_RECOVER else "churn"
        if chance(P_UPGRADE if monthly_plan else P_UPGRADE / 3):
            self._push(sub, when(), 3, "upgrade", rng.random() < P_ALWAYS_INVOICE)
        if chance(P_DOWNGRADE):
            self._push(sub, when(), 3, "downgrade", False)
        if monthly_plan:
            if chance(P_SEATS):
                self._push(sub, when(), 3, "seats", rng.choice((-2, -1, -1, 1, 1, 2, 2, 3, 5)))
            if chance(P_ADDON_ADD):
                self._push(sub, when(), 3, "addon_add", None)
            if chance(P_ADDON_REMOVE):
                self._push(sub, when(), 3, "addon_remove", None)
        if chance(P_REFUND):
            self._push(sub, when(), 3, "refund_last", None)
        if chance(P_CREDIT_NOTE):
            self._push(sub, when(), 3, "credit_note", None)
        if chance(P_DISPUTE):
            self._push(sub, when(), 3, "dispute", rng.choice(("lost", "won", "needs_response")))

    # -- truth ---------------------------------------------------------------------------

    def _mrr_map(self, sub: _Sub, t: int) -> dict[str, int]:
        if sub.status not in ("active", "past_due") or sub.paused_billing:
            return {}
        discounts = self._sub_discounts(sub, t)
        pct = 0.0
        out: dict[str, int] = {}
        for d in discounts:
            pct += float(d.coupon["percent_off"] or 0)
        for it in sub.items:
            if it.price.metered:
                continue
            if it.trial is not None and t < it.trial[1]:
                out[it.id] = 0  # in its own trial (METRICS.md §1.12)
            elif it.discounts:
                out[it.id] = self._discounted_item_mrr(it, pct)
            else:
                out[it.id] = item_mrr(it.price.obj, it.quantity, pct)
        for d in discounts:
            off = d.coupon["amount_off"]
            if off:
                out["discount:" + d.id] = -monthly(int(off), "month", sub.interval_months)
        return out

    @staticmethod
    def _sub_discounts(sub: _Sub, t: int) -> list[_Disc]:
        """The subscription's discounts; its customer's when it has none of its own."""
        if sub.discounts:
            return sub.discounts
        d = sub.cust.discount
        if d is None or not d.active(t):
            return sub.discounts  # none
        if sub.item_discounts and any(it.discounts for it in sub.items):
            return sub.discounts
        return [d]

    @staticmethod
    def _discounted_item_mrr(it: _Item, pct: float) -> int:
        """An item's MRR after its own discounts (an amount off per its own interval)."""
        rec = it.price.obj["recurring"]
        pct += sum(float(d.coupon["percent_off"] or 0) for d in it.discounts)
        value = item_mrr(it.price.obj, it.quantity, pct)
        for d in it.discounts:
            if d.coupon["amount_off"]:
                value -= monthly(int(d.coupon["amount_off"]), rec["interval"],
                                 rec["interval_count"])
        return max(0, value)

    def _record(self, sub: _Sub, t: int, kind: str) -> None:
        new = self._mrr_map(sub, t)
        old = sub.mrr
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key, 0), new.get(key, 0)
            if a != b:
                self.acct.timeline.append(
                    MrrChange(sub.cust.id, sub.id, key, t, a, b, kind, sub.currency)
                )
        sub.mrr = new

    # -- discounts -------------------------------------------------------------------------

    def _add_discount(self, sub: _Sub, coupon_id: str, t: int, item: _Item | None = None) -> None:
        """A discount on the subscription, or on one of its items (no promotion code)."""
        coupon = self.coupons[coupon_id]
        end = None
        if coupon["duration"] == "repeating":
            end = add_months(t, int(coupon["duration_in_months"]))
        promo = self.promos[coupon_id] if item is None else None
        obj = self._discount_object(sub.cust, coupon_id, t, end, sub=sub.id,
                                    item=None if item is None else item.id,
                                    promo=None if promo is None else promo["id"])
        coupon["times_redeemed"] += 1
        if promo is not None:
            promo["times_redeemed"] += 1
        (sub.discounts if item is None else item.discounts).append(
            _Disc(obj["id"], coupon, t, end, obj))
        sub.item_discounts = sub.item_discounts or item is not None

    def _discount_object(self, cust: _Cust, coupon_id: str, t: int, end: int | None, *,
                         sub: str | None, item: str | None, promo: str | None) -> JSON:
        obj: JSON = {
            "id": self.ids.long("di"),
            "object": "discount",
            "checkout_session": None,
            "customer": cust.customer,
            "customer_account": cust.customer_account,
            "end": end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": promo,
            "source": {"coupon": coupon_id, "type": "coupon"},
            "start": t,
            "subscription": sub,
            "subscription_item": item,
        }
        self.acct.discounts[obj["id"]] = obj
        return obj

    def _on_discount_end(self, sub: _Sub, t: int, d: _Disc) -> None:
        if d in sub.discounts:
            sub.discounts.remove(d)
            self._record(sub, t, "discount_end")
            self._snapshot_event(sub, t, "customer.subscription.updated")

    # -- materialisation -------------------------------------------------------------------

    def _item_object(self, sub: _Sub, it: _Item) -> JSON:
        obj: JSON = {
            "id": it.id,
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": it.created,
            "current_period_end": sub.period_end,
            "current_period_start": sub.period_start,
            "discounts": [],
            "metadata": {},
            "plan": it.price.plan,
            "price": it.price.public,
            "subscription": sub.id,
            "tax_rates": [],
        }
        if not it.price.metered:
            obj["quantity"] = it.quantity
        return obj

    def _sub_object(self, sub: _Sub) -> JSON:
        return {
            "id": sub.id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": sub.anchor,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic"},
            "billing_schedules": _EMPTY_LIST,
            "billing_thresholds": None,
            "cancel_at": sub.cancel_at,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at,
            "cancellation_details": dict(sub.cancellation),
            "collection_method": "charge_automatically",
            "created": sub.created,
            "currency": sub.currency,
            "customer": sub.cust.id,
            "customer_account": None,
            "days_until_due": None,
            "default_payment_method": sub.cust.pm,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": [d.id for d in sub.discounts],
            "ended_at": sub.ended_at,
            "invoice_settings": {"account_tax_ids": None, "custom_fields": None,
                                 "description": None, "footer": None,
                                 "issuer": {"type": "self"}},
            "items": {
                "object": "list",
                "data": [self._item_object(sub, it) for it in sub.items],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub.id}",
            },
            "latest_invoice": sub.latest_invoice,
            "livemode": self.livemode,
            "managed_payments": None,
            "metadata": {},
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None if sub.pause is None else dict(sub.pause),
            "payment_settings": _SUB_PAYMENT_SETTINGS,
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": sub.created,
            "status": sub.status,
            "test_clock": None,
            "transfer_data": None,
            "trial_end": sub.trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": sub.trial_start,
        }

    def _snapshot_event(self, sub: _Sub, t: int, type_: str) -> None:
        if not self.cutoff <= t <= self.now:
            return
        snap = self._sub_json(sub, t)
        previous = None
        if type_ == "customer.subscription.updated" and sub.last_snapshot is not None:
            previous = {k: v for k, v in sub.last_snapshot.items() if snap.get(k) != v}
        sub.last_snapshot = snap
        self.emit(t, type_, snap, previous)

    def _materialize(self, sub: _Sub) -> None:
        self.acct.subscriptions.append(self._sub_json(sub, self.now))

    # -- lifecycle handlers ------------------------------------------------------------------

    def _on_renew(self, sub: _Sub, t: int, _: Any) -> None:
        if sub.cancel_at_period_end:
            self._end(sub, t, "churn")
            return
        was_trial = sub.status == "trialing"
        if was_trial and sub.no_payment_method:
            self._pause_at_trial_end(sub, t)
            return
        if was_trial:
            sub.status = "active"
        prev_start = sub.period_start
        sub.period_index += 1
        sub.period_start = t
        sub.period_end = add_months(sub.anchor, sub.interval_months * (sub.period_index + 1))
        if sub.status == "unpaid":  # invoices stay drafts, never attempted
            self._cycle_invoice(sub, t, prev_start, usage=True, finalize=False)
        elif sub.pause is not None:
            inv = self._cycle_invoice(sub, t, prev_start, usage=not was_trial,
                                      finalize=sub.pause["behavior"] != "keep_as_draft")
            self._settle_paused(sub, inv, t + HOUR)
            if not sub.paused_billing:
                sub.paused_billing = True
                self._record(sub, t, "pause")
        else:
            self._record(sub, t, "trial_end" if was_trial else "renewal")
            inv = self._cycle_invoice(sub, t, prev_start, usage=not was_trial)
            outcome = sub.fail_next
            sub.fail_next = None
            self._collect(sub, inv, t + HOUR, fail=outcome)
        self._snapshot_event(sub, t, "customer.subscription.updated")
        self._push(sub, sub.period_end, 2, "renew", None)
        if sub.random:
            self._sample_period(sub)

    def _end(self, sub: _Sub, t: int, kind: str) -> None:
        sub.status = "canceled"
        sub.ended_at = t
        if sub.canceled_at is None:
            sub.canceled_at = t
        sub.discounts = [d for d in sub.discounts if d.end is None or d.end > t]
        self._record(sub, t, kind)
        self._snapshot_event(sub, t, "customer.subscription.deleted")

    def _on_cancel_request(self, sub: _Sub, t: int, arg: tuple[str, str | None]) -> None:
        if sub.status not in ("active", "trialing") or sub.cancel_at_period_end:
            return
        sub.cancel_at_period_end = True
        sub.cancel_at = sub.period_end
        sub.canceled_at = t
        sub.cancellation = {"comment": arg[1], "feedback": arg[0],
                            "reason": "cancellation_requested"}
        self._snapshot_event(sub, t, "customer.subscription.updated")
        if sub.random and self.rng.random() < P_WITHDRAW:
            days = self.rng.randint(1, max(1, (sub.period_end - t) // DAY - 1))
            self._push(sub, t + days * DAY, 3, "withdraw_cancel", None)

    def _on_withdraw(self, sub: _Sub, t: int, _: Any) -> None:
        if not sub.cancel_at_period_end or t >= sub.period_end:
            return
        sub.cancel_at_period_end = False
        sub.cancel_at = sub.canceled_at = None
        sub.cancellation = {"comment": None, "feedback": None, "reason": None}
        self._snapshot_event(sub, t, "customer.subscription.updated")

    def _on_cancel_now(self, sub: _Sub, t: int, credit: bool) -> None:
        if sub.status not in ("active", "trialing") or sub.cancel_at_period_end:
            return
        sub.cancellation = {"comment": None, "feedback": self.rng.choice(_FEEDBACK),
                            "reason": "cancellation_requested"}
        self._end(sub, t, "churn")
        inv = sub.last_paid_invoice
        if credit and inv is not None and sub.status == "canceled" and inv["amount_paid"] > 0:
            frac_num, frac_den = sub.period_end - t, sub.period_end - sub.period_start
            lines = [ln for ln in inv["lines"]["data"] if ln["amount"] > 0 and
                     ln["parent"]["type"] == "subscription_item_details"]
            parts = [(ln, _rdiv(ln["amount"] * frac_num, frac_den)) for ln in lines]
            self._credit_note(sub.cust, inv, t, [(ln, a) for ln, a in parts if a > 0],
                              reason="order_change", refund=True)

    def _on_pause(self, sub: _Sub, t: int, arg: int | tuple[int, str]) -> None:
        if sub.status != "active" or sub.pause is not None or sub.cancel_at_period_end:
            return
        months, behavior = (arg, "void") if isinstance(arg, int) else arg
        if sub.random:
            behavior = self.rng.choice(_PAUSE_BEHAVIORS)
        resumes = add_months(t, months) if months else None
        sub.pause = {"behavior": behavior, "resumes_at": resumes}
        self._snapshot_event(sub, t, "customer.subscription.updated")
        if resumes is not None:
            self._push(sub, resumes, 1, "resume", None)
        elif sub.random and self.rng.random() < 0.5:
            self._push(sub, t + self.rng.randint(30, 150) * DAY, 1, "resume", None)

    def _on_resume(self, sub: _Sub, t: int, _: Any) -> None:
        if sub.pause is None:
            return
        sub.pause = None
        if sub.paused_billing:
            sub.paused_billing = False
            self._record(sub, t, "resume")
        self._snapshot_event(sub, t, "customer.subscription.updated")

    def _changeable(self, sub: _Sub, t: int) -> bool:
        return (sub.status == "active" and sub.pause is None and not sub.cancel_at_period_end
                and sub.period_start < t < sub.period_end)

    def _ladder(self, key: str, step: int) -> str | None:
        ladders = (("starter_legacy", "pro_m"), ("starter_m", "pro_m", "business_m"),
                   ("starter_y", "pro_y", "business_y"), ("starter_m_fx", "pro_m_fx"))
        for ladder in ladders:
            if key in ladder:
                i = ladder.index(key) + step
                if 0 <= i < len(ladder) and ladder[i] != "starter_legacy":
                    return ladder[i]
        return None

    def _on_upgrade(self, sub: _Sub, t: int, invoice_now: bool) -> None:
        self._change_plan(sub, t, +1, invoice_now)

    def _on_downgrade(self, sub: _Sub, t: int, invoice_now: bool) -> None:
        self._change_plan(sub, t, -1, invoice_now)

    def _change_plan(self, sub: _Sub, t: int, step: int, invoice_now: bool) -> None:
        if not self._changeable(sub, t):
            return
        item = sub.items[0]
        target = self._ladder(item.price.key, step)
        if target is None:
            return
        new_price = self.prices[target]
        self._prorate(sub, t, item, item.price, item.quantity, new_price, item.quantity)
        item.price = new_price
        self._after_change(sub, t, "upgrade" if step > 0 else "downgrade", invoice_now)

    def _on_seats(self, sub: _Sub, t: int, delta: int) -> None:
        if not self._changeable(sub, t):
            return
        seat = next((it for it in sub.items if it.price.key in ("seat_m", "seat_m_fx", "seat_y",
                                                                  "team_m")), None)
        if seat is None:
            if delta <= 0 or sub.items[0].price.key.startswith("starter"):
                return
            seat_key = "seat_m_fx" if sub.currency != self.currency else (
                "seat_y" if sub.interval_months == 12 else "seat_m")
            if sub.interval_months == 3:
                return
            seat = _Item(self.ids.short("si"), self.prices[seat_key], 0, t)
            sub.items.append(seat)
        new_qty = max(1, seat.quantity + delta)
        if new_qty == seat.quantity:
            return
        self._prorate(sub, t, seat, seat.price, seat.quantity, seat.price, new_qty)
        seat.quantity = new_qty
        self._after_change(sub, t, "quantity", False)

    def _on_addon_add(self, sub: _Sub, t: int, arg: Any) -> None:
        if not self._changeable(sub, t) or sub.currency != self.currency:
            return
        have = {it.price.key for it in sub.items}
        free = [k for k in self.addon_keys if k not in have]
        if not free or sub.interval_months != 1:
            return
        it = _Item(self.ids.short("si"), self.prices[self.rng.choice(free)], 1, t)
        sub.items.append(it)
        trial = arg == "trial" or (
            sub.random and t >= FLEXIBLE_SINCE and self.rng.random() < P_ITEM_TRIAL)
        if trial and sub.period_end - t > ITEM_TRIAL + DAY:
            # Its own trial (a trial offer): nothing billed until it ends, within this
            # period. Item trials need flexible billing mode: a classic one migrates.
            if sub.billing_mode["type"] != "flexible":
                sub.billing_mode = _flexible(t)
            it.trial = (t, t + ITEM_TRIAL, self.trial_offer)
            self._push(sub, t + ITEM_TRIAL, 1, "item_trial_end", it)
        else:
            self._prorate(sub, t, it, None, 0, it.price, 1)
        self._after_change(sub, t, "item_added", False)

    def _on_addon_remove(self, sub: _Sub, t: int, _: Any) -> None:
        if not self._changeable(sub, t):
            return
        addons = [it for it in sub.items if it.price.key.startswith("addon")]
        if not addons:
            return
        it = addons[-1]
        if it.trial is None or t >= it.trial[1]:  # nothing to credit during its trial
            self._prorate(sub, t, it, it.price, it.quantity, None, 0)
        sub.items.remove(it)
        self._after_change(sub, t, "item_removed", False)

    def _after_change(self, sub: _Sub, t: int, kind: str, invoice_now: bool) -> None:
        self._record(sub, t, kind)
        if invoice_now and sub.pending:
            inv = self._invoice(sub.cust, t, "subscription_update", sub=sub, lines=[],
                                period=(t, t), finalize_at=t)
            self._collect(sub, inv, t, fail=None)
        self._snapshot_event(sub, t, "customer.subscription.updated")

    def _on_fail_next(self, sub: _Sub, t: int, outcome: str) -> None:
        sub.fail_next = outcome

    def _on_retry(self, sub: _Sub, t: int, arg: tuple[JSON, str, bool]) -> None:
        inv, pi, success = arg
        inv["attempt_count"] += 1
        if success:
            sub.last_charge = self._charge_invoice(sub.cust, inv, t, pi, failed=False)
            sub.last_paid_invoice = inv
            sub.status = "active"
            sub.cust.open_failed -= 1
            self._snapshot_event(sub, t, "customer.subscription.updated")
        else:
            self._charge_invoice(sub.cust, inv, t, pi, failed=True)

    def _on_dunning_cancel(self, sub: _Sub, t: int, inv: JSON) -> None:
        sub.cancellation = {"comment": None, "feedback": None, "reason": "payment_failed"}
        inv["status"] = "uncollectible"
        inv["status_transitions"] = {**inv["status_transitions"], "marked_uncollectible_at": t}
        inv["next_payment_attempt"] = None
        pay = self._inpay_by_invoice.get(inv["id"])
        if pay is not None:
            pay["status"] = "canceled"
            pay["status_transitions"] = {"canceled_at": t, "paid_at": None}
        sub.cust.open_failed -= 1
        self.emit(t, "invoice.marked_uncollectible", inv)
        self._end(sub, t, "churn_payment_failed")

    def _on_dispute(self, sub: _Sub, t: int, status: str) -> None:
        ch = sub.last_charge
        if ch is None or ch["disputed"] or ch["amount_refunded"]:
            return
        self._dispute(ch, t, status)
        if status == "lost" and sub.status == "active":
            sub.cancellation = {"comment": None, "feedback": None, "reason": "payment_disputed"}
            self._end(sub, t, "churn_disputed")

    def _on_credit_note_full(self, sub: _Sub, t: int, _: Any) -> None:
        inv = sub.last_paid_invoice
        if inv is None:
            return
        lines = [(ln, _rdiv(ln["amount"], 10)) for ln in inv["lines"]["data"] if ln["amount"] > 0]
        self._credit_note(sub.cust, inv, t, lines, reason="product_unsatisfactory", refund=False)

    def _on_credit_note(self, sub: _Sub, t: int, _: Any) -> None:
        inv = sub.last_paid_invoice
        if inv is None or sub.cust.taxed or inv["post_payment_credit_notes_amount"]:
            return
        line = inv["lines"]["data"][0]
        if line["amount"] <= 0:
            return
        amount = _rdiv(line["amount"], self.rng.choice((2, 4, 10)))
        self._credit_note(sub.cust, inv, t, [(line, amount)], reason="product_unsatisfactory",
                          refund=self.rng.random() < 0.5)

    def _on_refund_last(self, sub: _Sub, t: int, _: Any) -> None:
        ch = sub.last_charge
        if ch is None or ch["amount_refunded"] or ch["disputed"]:
            return
        self._refund(ch, t, _rdiv(ch["amount"], self.rng.choice((1, 2, 4))), None)

    def _expire_incomplete(self, sub: _Sub, inv: JSON, t0: int) -> None:
        sub.status = "incomplete"
        self._snapshot_event(sub, t0, "customer.subscription.created")
        t = t0 + 23 * HOUR
        if t > self.now:
            return
        sub.status = "incomplete_expired"
        sub.ended_at = sub.canceled_at = t
        self._void(inv, t)
        pay = self._inpay_by_invoice.get(inv["id"])
        if pay is not None:
            pay["status"] = "canceled"
            pay["status_transitions"] = {"canceled_at": t, "paid_at": None}
        sub.cust.open_failed -= 1
        self._snapshot_event(sub, t, "customer.subscription.deleted")

    # ---- the setups of real accounts (issue 17) -------------------------------------------

    def _attach_setups(self, cust: _Cust, setups: _Setups) -> None:
        """Customer-level setups: a test clock, no payment method yet, a discount."""
        if setups.customer_discount is not None and cust.customer is not None:
            self._start_customer_discount(cust, *setups.customer_discount)
        if setups.test_clock and not self.livemode:
            cust.clock = self._test_clock()
            cust.obj["test_clock"] = cust.clock
        if setups.no_payment_method:
            cust.obj["invoice_settings"] = {**cust.obj["invoice_settings"],
                                            "default_payment_method": None}

    def _test_clock(self) -> str:
        """A test clock advanced to ``now`` (created lately: clocks live for 30 days)."""
        created = self.now - self.rng.randint(1, 20) * DAY
        clock: JSON = {
            "id": self.ids.long("clock"),
            "object": "test_helpers.test_clock",
            "created": created,
            "deletes_after": created + 30 * DAY,
            "frozen_time": self.now,
            "livemode": False,
            "name": f"Renewal simulation {len(self.acct.test_clocks) + 1}",
            "status": "ready",
            "status_details": {},
        }
        self.acct.test_clocks.append(clock)
        return str(clock["id"])

    def _start_customer_discount(self, cust: _Cust, coupon_id: str, start: int,
                                 removed: int | None) -> None:
        """``customer.discount``: applies to its subscriptions that have no discount.

        One given when the customer is created is in its ``customer.created`` event.
        """
        if start > self.now:
            return
        coupon = self.coupons[coupon_id]
        end = None
        if coupon["duration"] == "repeating":
            end = add_months(start, int(coupon["duration_in_months"]))
        stops = min((e for e in (end, removed) if e is not None), default=None)
        obj = self._discount_object(cust, coupon_id, start, end, sub=None, item=None, promo=None)
        coupon["times_redeemed"] += 1
        cust.discount = _Disc(obj["id"], coupon, start, stops, obj)
        self.emit(start, "customer.discount.created", obj)
        if start <= cust.obj["created"]:
            cust.obj["discount"] = obj
        else:
            self.emit(start, "customer.updated", cust.obj, {"discount": None}, discount=obj)
        if stops is not None and stops <= self.now:  # it ended, or was removed
            self.emit(stops, "customer.discount.deleted", obj)
            self.emit(stops, "customer.updated", cust.obj, {"discount": obj}, discount=None)

    def _delete_coupon(self, coupon_id: str, t: int) -> None:
        """Delete a coupon: its discounts keep applying (they carry its terms)."""
        if t > self.now or self.acct.get("coupons", coupon_id) is None:
            return
        coupon = self.acct.remove("coupons", coupon_id)
        self.promos[coupon_id]["active"] = False
        self.emit(t, "coupon.deleted", coupon)

    def _billing_mode(self, t: int) -> JSON:
        """Flexible for most subscriptions created since it became the default."""
        if t >= FLEXIBLE_DEFAULT_SINCE:
            share = P_FLEXIBLE_DEFAULT
        elif t >= FLEXIBLE_SINCE:
            share = P_FLEXIBLE_OPT_IN
        else:
            return _CLASSIC
        return _flexible(t) if self.rng.random() < share else _CLASSIC

    def _apply_setups(self, sub: _Sub, setups: _Setups, t: int, *, trial: bool) -> None:
        """The first subscription's setups: an item discount, a trial ending paused."""
        if setups.item_discount:
            keys = ("seat_m", "seat_y") if setups.item_discount == "SEATS10" else tuple(
                self.addon_keys)
            target = next((it for it in sub.items if it.price.key in keys), None)
            if target is not None:
                self._add_discount(sub, setups.item_discount, t, item=target)
        if setups.no_payment_method and trial:
            sub.no_payment_method = sub.trial_end_pause = True

    def _push_discount_ends(self, sub: _Sub, t0: int) -> None:
        """Re-record the MRR when an item's or the customer's discount starts or ends."""
        for it in sub.items:
            for d in it.discounts:
                if d.end is not None:
                    self._push(sub, d.end, 0, "item_discount_end", (it, d))
        cd = sub.cust.discount
        if cd is not None:
            for t in (cd.start, cd.end):
                if t is not None and t > t0:
                    self._push(sub, t, 0, "mrr_tick", "discount")

    def _sub_json(self, sub: _Sub, t: int) -> JSON:
        """The subscription object at ``t`` with the setups' fields."""
        obj = self._sub_object(sub)
        obj["billing_mode"] = sub.billing_mode
        cust = sub.cust
        if cust.customer is None:
            obj["customer"], obj["customer_account"] = None, cust.id
        if cust.clock is not None:
            obj["test_clock"] = cust.clock
        if sub.trial_end_pause:
            obj["trial_settings"] = _PAUSE_WITHOUT_PAYMENT_METHOD
            if sub.no_payment_method:
                obj["default_payment_method"] = None
        for it, item in zip(sub.items, obj["items"]["data"], strict=True):
            trial = it.trial
            item["current_trial"] = None if trial is None or t >= trial[1] else {
                "end_date": trial[1], "start_date": trial[0], "trial_offer": trial[2]}
            if it.period is not None:
                item["current_period_start"], item["current_period_end"] = it.period
            if it.discounts:
                item["discounts"] = [d.id for d in it.discounts]
        return obj

    def _on_item_discount_end(self, sub: _Sub, t: int, arg: tuple[_Item, _Disc]) -> None:
        it, d = arg
        if d in it.discounts:
            it.discounts.remove(d)
            self._record(sub, t, "discount_end")
            self._snapshot_event(sub, t, "customer.subscription.updated")

    def _on_mrr_tick(self, sub: _Sub, t: int, kind: str) -> None:
        """Something outside the subscription (its customer's discount) changed its MRR."""
        self._record(sub, t, kind)

    def _on_item_trial_end(self, sub: _Sub, t: int, it: _Item) -> None:
        if it not in sub.items:
            return
        self._record(sub, t, "trial_end")
        if sub.period_start < t < sub.period_end:  # the rest of the period, prorated
            self._prorate(sub, t, it, None, 0, it.price, it.quantity)
        self._snapshot_event(sub, t, "customer.subscription.updated")

    def _on_add_yearly_fee(self, sub: _Sub, t: int, _: Any) -> None:
        """Flexible billing mode: a yearly item on a monthly subscription, billed apart."""
        if (not self._changeable(sub, t) or sub.interval_months != 1 or t < FLEXIBLE_SINCE
                or sub.currency != self.currency or any(it.period for it in sub.items)):
            return
        if sub.billing_mode["type"] != "flexible":  # migrated: mixed intervals need it
            sub.billing_mode = _flexible(t)
        renews = add_months(t, 12)
        it = _Item(self.ids.short("si"), self.prices["platform_y"], 1, t, period=(t, renews))
        sub.items.append(it)
        self._record(sub, t, "item_added")
        inv = self._item_invoice(sub, it, t, "subscription_update", (t, t), t)
        self._collect(sub, inv, t, fail=None)
        self._snapshot_event(sub, t, "customer.subscription.updated")
        self._push(sub, renews, 2, "item_renew", it)

    def _on_item_renew(self, sub: _Sub, t: int, it: _Item) -> None:
        """The renewal of an item with its own period: an invoice of its line alone."""
        if it not in sub.items or it.period is None:
            return
        prev_start, renews = it.period[0], add_months(t, 12)
        it.period = (t, renews)
        draft = sub.status == "unpaid" or (
            sub.pause is not None and sub.pause["behavior"] == "keep_as_draft")
        inv = self._item_invoice(sub, it, t, "subscription_cycle", (prev_start, t), t + HOUR,
                                 finalize=not draft)
        if sub.pause is not None:
            self._settle_paused(sub, inv, t + HOUR)
        elif not draft:
            self._collect(sub, inv, t + HOUR, fail=None)
        self._snapshot_event(sub, t, "customer.subscription.updated")
        self._push(sub, renews, 2, "item_renew", it)

    def _item_invoice(self, sub: _Sub, it: _Item, t: int, reason: str,
                      period: tuple[int, int], finalize_at: int, *,
                      finalize: bool = True) -> JSON:
        assert it.period is not None
        inv_id = self.ids.long("in")
        billed = {"end": it.period[1], "start": it.period[0]}
        line = self._item_line(inv_id, sub, it, billed)
        return self._invoice(sub.cust, t, reason, sub=sub, lines=[line], period=period,
                             finalize_at=finalize_at, inv_id=inv_id, finalize=finalize)

    def _settle_paused(self, sub: _Sub, inv: JSON, t: int) -> None:
        """An invoice billed while collection is paused, per ``pause_collection.behavior``."""
        if inv["status"] != "open":
            return
        assert sub.pause is not None
        if sub.pause["behavior"] == "mark_uncollectible":
            self._mark_uncollectible(inv, t)
        else:
            self._void(inv, t)

    def _mark_uncollectible(self, inv: JSON, t: int) -> None:
        inv["status"] = "uncollectible"
        inv["auto_advance"] = False
        inv["next_payment_attempt"] = None
        inv["status_transitions"] = {**inv["status_transitions"], "marked_uncollectible_at": t}
        self.emit(t, "invoice.marked_uncollectible", inv)

    def _pause_at_trial_end(self, sub: _Sub, t: int) -> None:
        """The trial ended without a payment method: ``paused``, nothing invoiced."""
        sub.status = "paused"
        self._record(sub, t, "trial_end")
        self._snapshot_event(sub, t, "customer.subscription.updated")
        if sub.last_snapshot is not None:
            self.emit(t, "customer.subscription.paused", sub.last_snapshot)

    def _on_resume_paused(self, sub: _Sub, t: int, _: Any) -> None:
        """A payment method came and the subscription resumed: a new period from ``t``."""
        if sub.status != "paused":
            return
        sub.no_payment_method = False
        cust = sub.cust
        previous = {"invoice_settings": cust.obj["invoice_settings"]}
        cust.obj["invoice_settings"] = {**cust.obj["invoice_settings"],
                                        "default_payment_method": cust.pm}
        self.emit(t, "customer.updated", cust.obj, previous)
        sub.status = "active"
        sub.anchor = sub.period_start = t
        sub.period_index = 0
        sub.period_end = add_months(t, sub.interval_months)
        self._record(sub, t, "resume_paused")
        inv = self._cycle_invoice(sub, t, t, usage=False)
        self._collect(sub, inv, t + HOUR, fail=None)
        self._snapshot_event(sub, t, "customer.subscription.updated")
        if sub.last_snapshot is not None:
            self.emit(t, "customer.subscription.resumed", sub.last_snapshot)
        self._push(sub, sub.period_end, 2, "renew", None)
        if sub.random:
            self._sample_period(sub)

    def _on_mark_unpaid(self, sub: _Sub, t: int, inv: JSON) -> None:
        """After the last failed retry: ``unpaid`` (an involuntary churn), invoice left open."""
        if sub.status != "past_due":
            return
        sub.status = "unpaid"
        inv["next_payment_attempt"] = None
        self._record(sub, t, "churn_unpaid")
        self._snapshot_event(sub, t, "customer.subscription.updated")

    def _invoice_discounts(self, cust: _Cust, sub: _Sub | None, t: int) -> list[_Disc]:
        """Invoice-level discounts: the subscription's, else the customer's."""
        if sub is not None:
            return self._sub_discounts(sub, t)
        d = cust.discount
        return [d] if d is not None and d.active(t) else []

    def _apply_item_discounts(self, lines: list[JSON], sub: _Sub) -> dict[str, int]:
        """Each item's own discounts on its lines (an amount off once, on its period line)."""
        totals: dict[str, int] = {}
        by_item = {it.id: it.discounts for it in sub.items if it.discounts}
        if not by_item:
            return totals
        for ln in lines:
            details = ln["parent"]["subscription_item_details"]
            discs = by_item.get(details["subscription_item"]) if details else None
            if not discs:
                continue
            ln["discounts"] = [d.id for d in discs]
            for d in discs:
                pct, off = d.coupon["percent_off"], d.coupon["amount_off"]
                if pct:
                    a = _rdiv(int(ln["amount"] * pct * 100), 10000)
                elif off and not details["proration"]:
                    a = min(int(off), max(0, ln["amount"]))
                else:
                    continue
                if a:
                    self._line_discount(ln, d.id, a)
                    totals[d.id] = totals.get(d.id, 0) + a
        return totals

    # ---- prorations and invoices -----------------------------------------------------------

    def _prorate(self, sub: _Sub, t: int, item: _Item, old: _Price | None, old_qty: int,
                 new: _Price | None, new_qty: int) -> None:
        num, den = sub.period_end - t, sub.period_end - sub.period_start
        if old is not None and not old.metered:
            amount = -_rdiv(price_amount(old.obj, old_qty) * num, den)
            desc = f"Unused time on {old_qty} × {self._product_name(old)} after {_date(t)}"
            sub.pending.append(self._invoice_item(sub.cust, t, amount, old, old_qty, desc,
                                                  (t, sub.period_end), sub=sub, item=item,
                                                  proration=True))
        if new is not None and not new.metered:
            amount = _rdiv(price_amount(new.obj, new_qty) * num, den)
            desc = f"Remaining time on {new_qty} × {self._product_name(new)} after {_date(t)}"
            sub.pending.append(self._invoice_item(sub.cust, t, amount, new, new_qty, desc,
                                                  (t, sub.period_end), sub=sub, item=item,
                                                  proration=True))

    def _product_name(self, price: _Price) -> str:
        return str(self._product_by_id[price.obj["product"]]["name"])


    def _invoice_item(self, cust: _Cust, t: int, amount: int, price: _Price, qty: int,
                      desc: str, period: tuple[int, int], *, sub: _Sub | None = None,
                      item: _Item | None = None, proration: bool = False,
                      quantity_decimal: str | None = None) -> JSON:
        obj: JSON = {
            "id": self.ids.long("ii"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": cust.currency,
            "customer": cust.customer,
            "customer_account": cust.customer_account,
            "date": t,
            "description": desc,
            "discountable": True,
            "discounts": [],
            "invoice": None,
            "livemode": self.livemode,
            "metadata": {},
            "net_amount": amount,
            "parent": None if sub is None else {
                "subscription_details": {"subscription": sub.id,
                                         "subscription_item": None if item is None else item.id},
                "type": "subscription_details",
            },
            "period": {"end": period[1], "start": period[0]},
            "pricing": {
                "price_details": {"price": price.id, "product": price.obj["product"]},
                "type": "price_details",
                "unit_amount_decimal": price.obj["unit_amount_decimal"] if quantity_decimal
                else str(_rdiv(amount, qty) if qty else amount),
            },
            "proration": proration,
            "quantity": qty or 1,
            "quantity_decimal": quantity_decimal or str(qty or 1),
            "tax_rates": [],
            "test_clock": cust.clock,
        }
        if item is not None:
            self._ii_item[obj["id"]] = item.id
        self.acct.invoice_items.append(obj)
        self.emit(t, "invoiceitem.created", obj)
        return obj

    def _line(self, inv_id: str, amount: int, qty: int, price: _Price, desc: str,
              period: JSON, parent: JSON, currency: str, qty_decimal: str | None = None) -> JSON:
        # ``period``, ``parent``, ``pricing`` and the empty containers are shared between
        # lines (there are millions of lines in a large account; all are read-only).
        return {
            "id": self.ids.long("il"),
            "object": "line_item",
            "amount": amount,
            "currency": currency,
            "description": desc,
            "discount_amounts": _EMPTY_LIST,
            "discountable": True,
            "discounts": _EMPTY_LIST,
            "invoice": inv_id,
            "livemode": self.livemode,
            "metadata": _EMPTY_DICT,
            "parent": parent,
            "period": period,
            "pretax_credit_amounts": _EMPTY_LIST,
            "pricing": price.pricing,
            "quantity": qty,
            "quantity_decimal": qty_decimal or _decimal(qty),
            "subscription": _line_subscription(parent),
            "subtotal": amount,
            "taxes": _EMPTY_LIST,
        }

    def _item_parent(self, sub: _Sub, it: _Item) -> JSON:
        if it.parent is None:
            it.parent = {
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": False,
                    "proration_details": _NO_CREDITED_ITEMS,
                    "subscription": sub.id,
                    "subscription_item": it.id,
                },
                "type": "subscription_item_details",
            }
        return it.parent

    def _item_description(self, price: _Price, quantity: int) -> str:
        key = (price.key, quantity)
        desc = self._descriptions.get(key)
        if desc is None:
            rec = price.obj["recurring"]
            per = rec["interval"] if rec["interval_count"] == 1 else (
                f"{rec['interval_count']} {rec['interval']}s")
            name = self._product_name(price)
            if price.obj["billing_scheme"] == "tiered":
                desc = f"{quantity} × {name} (Tier pricing)"
            else:
                unit = _money(int(price.obj["unit_amount"]), str(price.obj["currency"]))
                desc = f"{quantity} × {name} (at {unit} / {per})"
            self._descriptions[key] = desc
        return desc

    def _item_line(self, inv_id: str, sub: _Sub, it: _Item, period: JSON) -> JSON:
        price = it.price
        amount = price_amount(price.obj, it.quantity)
        desc = self._item_description(price, it.quantity)
        return self._line(inv_id, amount, it.quantity, price, desc, period,
                          self._item_parent(sub, it), sub.currency)

    def _usage_line(self, inv_id: str, sub: _Sub, it: _Item, period: JSON) -> JSON:
        usage = int(self.rng.lognormvariate(8.5, 0.8))
        amount = usage * int(it.price.obj["unit_amount"])
        desc = f"{self._product_name(it.price)} (usage)"
        return self._line(inv_id, amount, usage, it.price, desc, period,
                          self._item_parent(sub, it), sub.currency)

    def _ii_line(self, inv_id: str, ii: JSON) -> JSON:
        price = self._price_by_id[ii["pricing"]["price_details"]["price"]]
        sub_id = ii["parent"]["subscription_details"]["subscription"] if ii["parent"] else None
        item_id = self._ii_item.get(ii["id"])
        ii["invoice"] = inv_id
        if ii["proration"] and item_id:
            parent = {
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": ii["id"],
                    "proration": True,
                    "proration_details": _NO_CREDITED_ITEMS,
                    "subscription": sub_id,
                    "subscription_item": item_id,
                },
                "type": "subscription_item_details",
            }
        else:
            parent = {
                "invoice_item_details": {
                    "invoice_item": ii["id"],
                    "proration": bool(ii["proration"]),
                    "proration_details": _NO_CREDITED_ITEMS,
                    "subscription": sub_id,
                },
                "subscription_item_details": None,
                "type": "invoice_item_details",
            }
        return self._line(inv_id, ii["amount"], ii["quantity"], price, ii["description"],
                          ii["period"], parent, ii["currency"], ii["quantity_decimal"])

    def _first_invoice(self, sub: _Sub, t: int, *, setup_fee: bool, incomplete: bool) -> JSON:
        extra: list[JSON] = []
        if setup_fee:
            fee = self.prices["setup_fee"]
            extra.append(self._invoice_item(sub.cust, t, int(fee.obj["unit_amount"]), fee, 1,
                                            "Onboarding fee", (t, t), sub=sub))
        inv_id = self.ids.long("in")
        period = {"end": sub.period_end, "start": sub.period_start}
        lines = [self._item_line(inv_id, sub, it, period)
                 for it in sub.items if not it.price.metered]
        if sub.status == "trialing":
            for ln in lines:
                ln["amount"] = ln["subtotal"] = 0
                name = ln["description"].split(" (")[0].split("× ", 1)[-1]
                ln["description"] = f"Trial period for {name}"
        lines += [self._ii_line(inv_id, ii) for ii in extra]
        inv = self._invoice(sub.cust, t, "subscription_create", sub=sub, lines=lines,
                            period=(t, t), finalize_at=t, inv_id=inv_id)
        self._collect(sub, inv, t, fail="incomplete" if incomplete else None)
        return inv

    def _cycle_invoice(self, sub: _Sub, t: int, prev_start: int, *, usage: bool,
                       finalize: bool = True) -> JSON:
        inv_id = self.ids.long("in")
        lines: list[JSON] = []
        billed = {"end": sub.period_end, "start": t}
        used = {"end": t, "start": prev_start}
        for it in sub.items:
            if it.period is not None:  # its own period: renewed on its own invoices
                continue
            if it.price.metered:
                if usage:
                    lines.append(self._usage_line(inv_id, sub, it, used))
            else:
                lines.append(self._item_line(inv_id, sub, it, billed))
        return self._invoice(sub.cust, t, "subscription_cycle", sub=sub, lines=lines,
                             period=(prev_start, t), finalize_at=t + HOUR, inv_id=inv_id,
                             finalize=finalize)

    def _invoice(self, cust: _Cust, t: int, reason: str, *, sub: _Sub | None,
                 lines: list[JSON], period: tuple[int, int], finalize_at: int,
                 inv_id: str | None = None, items: list[JSON] | None = None,
                 finalize: bool = True) -> JSON:
        """Build (and append) an invoice, with pending invoice items folded in.

        ``finalize=False``: a draft kept as one (``auto_advance`` false).
        """
        inv_id = inv_id or self.ids.long("in")
        pending = items if items is not None else (sub.pending if sub is not None else [])
        lines = lines + [self._ii_line(inv_id, ii) for ii in pending]
        if sub is not None and items is None:
            sub.pending = []
        total_disc = self._apply_item_discounts(lines, sub) if sub and sub.item_discounts else {}
        discounts = self._invoice_discounts(cust, sub, t)
        for di, amount in self._apply_discounts(lines, discounts).items():
            total_disc[di] = total_disc.get(di, 0) + amount
        tax_total = 0
        if cust.taxed:
            for ln in lines:
                net = ln["amount"] - sum(d["amount"] for d in ln["discount_amounts"])
                tax = _rdiv(net * TAX_PERCENT, 100)
                tax_total += tax
                ln["taxes"] = [{
                    "amount": tax,
                    "tax_behavior": "exclusive",
                    "tax_rate_details": {"tax_rate": self.tax_rate},
                    "taxability_reason": "standard_rated",
                    "taxable_amount": net,
                    "type": "tax_rate_details",
                }]
        subtotal = sum(ln["amount"] for ln in lines)
        disc_sum = sum(total_disc.values())
        total_ex = subtotal - disc_sum
        total = total_ex + tax_total
        starting = cust.balance
        due = max(0, total + starting)
        cust.balance = min(0, total + starting)
        finalized = finalize and finalize_at <= self.now
        number = None
        if finalized:
            cust.seq += 1
            number = f"{cust.obj['invoice_prefix']}-{cust.seq:04d}"
        inv: JSON = {
            "id": inv_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": self.acct.account["business_profile"]["name"],
            "account_tax_ids": None,
            "amount_due": due,
            "amount_overpaid": 0,
            "amount_paid": 0,
            "amount_remaining": due,
            "amount_shipping": 0,
            "application": None,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": finalize and not finalized,
            "automatic_tax": _AUTOMATIC_TAX,
            "automatically_finalizes_at": finalize_at if finalize and not finalized else None,
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "created": t,
            "currency": cust.currency,
            "custom_fields": None,
            "customer": cust.customer,
            "customer_account": cust.customer_account,
            "customer_address": cust.obj["address"],
            "customer_email": cust.obj["email"],
            "customer_name": cust.obj["name"],
            "customer_phone": None,
            "customer_shipping": None,
            "customer_tax_exempt": "none",
            "customer_tax_ids": [],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": [d.id for d in discounts],
            "due_date": None,
            "effective_at": finalize_at if finalized else None,
            "ending_balance": cust.balance if finalized else None,
            "footer": None,
            "from_invoice": None,
            "hosted_invoice_url": (f"https://invoice.stripe.com/i/{self.acct.account['id']}/"
                                   f"{self.mode}_{inv_id[3:]}" if finalized else None),
            "invoice_pdf": (f"https://pay.stripe.com/invoice/{self.acct.account['id']}/"
                            f"{self.mode}_{inv_id[3:]}/pdf" if finalized else None),
            "issuer": _ISSUER_SELF,
            "last_finalization_error": None,
            "latest_revision": None,
            "lines": {"object": "list", "data": lines, "has_more": False,
                      "url": f"/v1/invoices/{inv_id}/lines"},
            "livemode": self.livemode,
            "metadata": {},
            "next_payment_attempt": None,
            "number": number,
            "on_behalf_of": None,
            "parent": None if sub is None else {
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": sub.id},
                "type": "subscription_details",
            },
            "payment_settings": _INVOICE_PAYMENT_SETTINGS,
            "period_end": period[1],
            "period_start": period[0],
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": None,
            "rendering": None,
            "shipping_cost": None,
            "shipping_details": None,
            "starting_balance": starting,
            "statement_descriptor": None,
            "status": "open" if finalized else "draft",
            "status_transitions": {
                "finalized_at": finalize_at if finalized else None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal,
            "test_clock": cust.clock,
            "total": total,
            "total_discount_amounts": [
                {"amount": a, "discount": d} for d, a in total_disc.items()
            ],
            "total_excluding_tax": total_ex,
            "total_pretax_credit_amounts": [
                {"amount": a, "credit_balance_transaction": None, "discount": d,
                 "type": "discount"} for d, a in total_disc.items()
            ],
            "total_taxes": [{
                "amount": tax_total,
                "tax_behavior": "exclusive",
                "tax_rate_details": {"tax_rate": self.tax_rate},
                "taxability_reason": "standard_rated",
                "taxable_amount": total_ex,
                "type": "tax_rate_details",
            }] if cust.taxed else [],
            "webhooks_delivered_at": t,
        }
        self.acct.invoices.append(inv)
        if sub is not None:
            sub.latest_invoice = inv_id
        self.emit(t, "invoice.created", inv, status="draft", number=None,
                  status_transitions=_NO_TRANSITIONS)
        if finalized:
            self.emit(finalize_at, "invoice.finalized", inv)
        return inv

    def _apply_discounts(self, lines: list[JSON], discounts: list[_Disc]) -> dict[str, int]:
        """Spread the subscription's discounts over the lines; totals per discount."""
        totals: dict[str, int] = {}
        for d in discounts:
            pct, off = d.coupon["percent_off"], d.coupon["amount_off"]
            if pct:
                for ln in lines:
                    a = _rdiv(int(ln["amount"] * pct * 100), 10000)
                    if a:
                        self._line_discount(ln, d.id, a)
                        totals[d.id] = totals.get(d.id, 0) + a
            elif off:
                positive = [ln for ln in lines if ln["amount"] > 0]
                base = sum(ln["amount"] for ln in positive)
                if not base:
                    continue
                off = min(int(off), base)
                shares = [off * ln["amount"] // base for ln in positive]
                shares[shares.index(max(shares))] += off - sum(shares)
                for ln, a in zip(positive, shares):
                    if a:
                        self._line_discount(ln, d.id, a)
                totals[d.id] = off
        return totals

    @staticmethod
    def _line_discount(line: JSON, di: str, amount: int) -> None:
        line["discount_amounts"] = line["discount_amounts"] + [{"amount": amount, "discount": di}]
        line["pretax_credit_amounts"] = line["pretax_credit_amounts"] + [
            {"amount": amount, "credit_balance_transaction": None, "discount": di,
             "type": "discount"}]

    # ---- payments ----------------------------------------------------------------------------


    def _collect(self, sub: _Sub, inv: JSON, t: int, *, fail: str | None) -> None:
        """Finalize-time payment of an invoice: paid, or failed with retries scheduled."""
        if inv["status"] != "open":
            return
        cust = sub.cust
        if inv["amount_due"] == 0:
            self._mark_paid(inv, t)
            sub.last_paid_invoice = inv
            return
        pi = self.ids.long("pi")
        if fail is None:
            sub.last_charge = self._charge_invoice(cust, inv, t, pi, failed=False)
            sub.last_paid_invoice = inv
            return
        cust.open_failed += 1
        self._charge_invoice(cust, inv, t, pi, failed=True)
        if fail == "incomplete":
            return
        sub.status = "past_due"
        rng = self.rng
        retries = (3 * DAY, 8 * DAY, 15 * DAY)
        if fail == "recover":
            k = rng.randrange(len(retries))
            for i in range(k):
                self._push(sub, t + retries[i], 3, "retry", (inv, pi, False))
            self._push(sub, t + retries[k] + rng.randrange(HOUR), 3, "retry", (inv, pi, True))
        elif fail == "unpaid" or (sub.random and rng.random() < P_UNPAID):
            # The account's settings leave a subscription unpaid after the last retry.
            for r in retries:
                self._push(sub, t + r, 3, "retry", (inv, pi, False))
            self._push(sub, t + retries[-1] + HOUR, 3, "mark_unpaid", inv)
        else:
            for r in retries:
                self._push(sub, t + r, 3, "retry", (inv, pi, False))
            self._push(sub, t + rng.randint(16, 25) * DAY, 3, "dunning_cancel", inv)

    def _mark_paid(self, inv: JSON, t: int) -> None:
        inv["status"] = "paid"
        inv["amount_paid"] = inv["amount_due"]
        inv["amount_remaining"] = 0
        inv["attempted"] = True
        inv["auto_advance"] = False
        inv["next_payment_attempt"] = None
        inv["status_transitions"] = {**inv["status_transitions"], "paid_at": t}
        self.emit(t, "invoice.paid", inv)
        self.emit(t, "invoice.payment_succeeded", inv)

    def _void(self, inv: JSON, t: int) -> None:
        inv["status"] = "void"
        inv["amount_remaining"] = 0
        inv["auto_advance"] = False
        inv["next_payment_attempt"] = None
        inv["status_transitions"] = {**inv["status_transitions"], "voided_at": t}
        self.emit(t, "invoice.voided", inv)

    def _charge_invoice(self, cust: _Cust, inv: JSON, t: int, pi: str, *, failed: bool) -> JSON:
        amount = inv["amount_due"]
        desc = {"subscription_create": "Subscription creation",
                "subscription_cycle": "Subscription update",
                "subscription_update": "Subscription update"}.get(inv["billing_reason"],
                                                                   "Payment for Invoice")
        ch = self._charge(cust, t, amount, pi, desc, failed=failed)
        inv["attempted"] = True
        inv["attempt_count"] = max(inv["attempt_count"], 1)
        pay = self._inpay_by_invoice.get(inv["id"])
        if pay is None:
            pay = {
                "id": self.ids.long("inpay"),
                "object": "invoice_payment",
                "amount_paid": None,
                "amount_requested": amount,
                "created": t,
                "currency": cust.currency,
                "invoice": inv["id"],
                "is_default": True,
                "livemode": self.livemode,
                "payment": {"payment_intent": pi, "type": "payment_intent"},
                "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None},
            }
            self._inpay_by_invoice[inv["id"]] = pay
            self.acct.invoice_payments.append(pay)
        if failed:
            inv["next_payment_attempt"] = t + 3 * DAY
            self.emit(t, "invoice.payment_failed", inv)
            return ch
        self._paid_charge[inv["id"]] = ch
        pay["status"] = "paid"
        pay["amount_paid"] = amount
        pay["status_transitions"] = {"canceled_at": None, "paid_at": t}
        self._mark_paid(inv, t)
        self.emit(t, "invoice_payment.paid", pay)
        return ch

    def _charge(self, cust: _Cust, t: int, amount: int, pi: str, desc: str, *,
                failed: bool) -> JSON:
        ch_id = self.ids.long("ch")
        txn = None
        if not failed:
            txn = self._balance_txn(t, amount, cust.currency, ch_id, "charge", "charge", desc)
        ch: JSON = {
            "id": ch_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": 0 if failed else amount,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": txn,
            "billing_details": cust.billing,
            "calculated_statement_descriptor": "NORTHWIND",
            "captured": not failed,
            "created": t,
            "currency": cust.currency,
            "customer": cust.customer,
            "description": desc,
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": "card_declined" if failed else None,
            "failure_message": "Your card was declined." if failed else None,
            "fraud_details": {},
            "livemode": self.livemode,
            "metadata": {},
            "on_behalf_of": None,
            "outcome": _OUTCOME_FAILED if failed else _OUTCOME_OK,
            "paid": not failed,
            "payment_intent": pi,
            "payment_method": cust.pm,
            "payment_method_details": cust.pm_details,
            "radar_options": {},
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": None if failed else (
                f"https://pay.stripe.com/receipts/payment/{ch_id[3:]}"),
            "refunded": False,
            "review": None,
            "shipping": None,
            "source": None,  # paid through a PaymentIntent, not a legacy source
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "failed" if failed else "succeeded",
            "transfer_data": None,
            "transfer_group": None,
        }
        self.acct.charges.append(ch)
        if cust.customer_account is not None:  # a charge has no field for it; its refunds do
            self._charge_accounts[ch_id] = cust.customer_account
        self.emit(t, "charge.failed" if failed else "charge.succeeded", ch)
        return ch


    def _balance_txn(self, t: int, amount: int, currency: str, source: str, type_: str,
                     category: str, desc: str | None, *, fee: int | None = None) -> str:
        rate = self.fx(currency, t)
        converted = amount if rate is None else round(amount * rate)
        if fee is None:
            fee = _rdiv(abs(converted) * 29, 1000) + 30 if type_ == "charge" else 0
        txn_id = self.ids.long("txn")
        available = t + 2 * DAY
        self.acct.balance_transactions[txn_id] = {
            "id": txn_id,
            "object": "balance_transaction",
            "amount": converted,
            "available_on": available,
            "balance_type": "payments",
            "created": t,
            "currency": self.currency,
            "description": desc,
            "exchange_rate": rate,
            "fee": fee,
            "fee_details": [{"amount": fee, "application": None, "currency": self.currency,
                             "description": "Stripe processing fees", "type": "stripe_fee"}]
            if fee else [],
            "net": converted - fee,
            "reporting_category": category,
            "source": source,
            "status": "available" if available <= self.now else "pending",
            "type": type_,
        }
        return txn_id

    def _refund(self, ch: JSON, t: int, amount: int, reason: str | None) -> JSON:
        amount = min(amount, ch["amount"] - ch["amount_refunded"])
        re_id = self.ids.long("re")
        txn = self._balance_txn(t, -amount, ch["currency"], re_id, "refund", "refund",
                                "REFUND FOR CHARGE")
        refund: JSON = {
            "id": re_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": txn,
            "charge": ch["id"],
            "created": t,
            "currency": ch["currency"],
            "customer": ch["customer"],
            "customer_account": self._charge_accounts.get(ch["id"]),
            "destination_details": {"card": {"reference": None, "reference_status": "pending",
                                             "reference_type": "acquirer_reference_number",
                                             "type": "refund"}, "type": "card"},
            "metadata": {},
            "payment_intent": ch["payment_intent"],
            "payment_method": ch["payment_method"],
            "reason": reason or "requested_by_customer",
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        ch["amount_refunded"] = ch["amount_refunded"] + amount
        ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
        self.acct.refunds.append(refund)
        self.emit(t, "refund.created", refund)
        self.emit(t, "charge.refunded", ch)
        return refund

    def _dispute(self, ch: JSON, t: int, status: str) -> None:
        dp_id = self.ids.long("dp")
        txn_id = self._balance_txn(t, -ch["amount"], ch["currency"], dp_id, "adjustment",
                                   "dispute", f"Chargeback withdrawal for {ch['id']}", fee=1500)
        txns = [self.acct.balance_transactions[txn_id]]
        if status == "won":
            back = self._balance_txn(t + 30 * DAY, ch["amount"], ch["currency"], dp_id,
                                     "adjustment", "dispute_reversal",
                                     f"Chargeback reversal for {ch['id']}", fee=-1500)
            txns.append(self.acct.balance_transactions[back])
        dispute: JSON = {
            "id": dp_id,
            "object": "dispute",
            "amount": ch["amount"],
            "balance_transactions": txns,
            "charge": ch["id"],
            "created": t,
            "currency": ch["currency"],
            "enhanced_eligibility_types": [],
            "evidence": _EMPTY_EVIDENCE,
            "evidence_details": {"due_by": t + 21 * DAY, "enhanced_eligibility": {},
                                 "has_evidence": status != "needs_response",
                                 "past_due": False, "submission_count": int(status != "needs_response"),
                                 "submission_method": "not_submitted" if status == "needs_response"
                                 else "manual"},
            "is_charge_refundable": False,
            "livemode": self.livemode,
            "metadata": {},
            "payment_intent": ch["payment_intent"],
            "payment_method_details": {"card": {"brand": ch["payment_method_details"]["card"]["brand"],
                                                "case_type": "chargeback",
                                                "network": ch["payment_method_details"]["card"]["network"],
                                                "network_reason_code": "10.4"}, "type": "card"},
            "reason": "fraudulent",
            "status": status,
        }
        ch["disputed"] = True
        self.acct.disputes.append(dispute)
        self.emit(t, "charge.dispute.created", dispute)

    def _credit_note(self, cust: _Cust, inv: JSON, t: int, parts: list[tuple[JSON, int]], *,
                     reason: str, refund: bool) -> None:
        if not parts or inv["status"] != "paid":
            return
        cn_id = self.ids.long("cn")
        total = sum(a for _, a in parts)
        refunds: list[JSON] = []
        cbt = None
        ch = self._paid_charge.get(inv["id"]) if refund else None
        if ch is not None and ch["amount"] - ch["amount_refunded"] >= total and not ch["disputed"]:
            re = self._refund(ch, t, total, None)
            refunds.append({"amount_refunded": total, "payment_record_refund": None,
                            "refund": re["id"], "type": "refund"})
        else:  # credited to the customer's balance, used by the next invoices
            cbt = self.ids.long("cbtxn")
            cust.balance -= total
        lines = [{
            "id": self.ids.long("cnli"),
            "object": "credit_note_line_item",
            "amount": a,
            "description": ln["description"],
            "discount_amount": 0,
            "discount_amounts": [],
            "invoice_line_item": ln["id"],
            "livemode": self.livemode,
            "metadata": {},
            "pretax_credit_amounts": [],
            "quantity": ln["quantity"],
            "tax_rates": [],
            "taxes": [],
            "type": "invoice_line_item",
            "unit_amount": None,
            "unit_amount_decimal": None,
        } for ln, a in parts]
        seq = self._cn_count.get(inv["id"], 0) + 1
        self._cn_count[inv["id"]] = seq
        cn: JSON = {
            "id": cn_id,
            "object": "credit_note",
            "amount": total,
            "amount_shipping": 0,
            "created": t,
            "currency": inv["currency"],
            "customer": inv["customer"],
            "customer_account": inv["customer_account"],
            "customer_balance_transaction": cbt,
            "discount_amount": 0,
            "discount_amounts": [],
            "effective_at": t,
            "invoice": inv["id"],
            "lines": {"object": "list", "data": lines, "has_more": False,
                      "url": f"/v1/credit_notes/{cn_id}/lines"},
            "livemode": self.livemode,
            "memo": None,
            "metadata": {},
            "number": f"{inv['number']}-CN-{seq:02d}",
            "out_of_band_amount": None,
            "pdf": f"https://pay.stripe.com/credit_notes/{self.acct.account['id']}/{cn_id}/pdf",
            "post_payment_amount": total,
            "pre_payment_amount": 0,
            "pretax_credit_amounts": [],
            "reason": reason,
            "refunds": refunds,
            "shipping_cost": None,
            "status": "issued",
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "total": total,
            "total_excluding_tax": total,
            "total_taxes": [],
            "type": "post_payment",
            "voided_at": None,
        }
        inv["post_payment_credit_notes_amount"] = inv["post_payment_credit_notes_amount"] + total
        self.acct.credit_notes.append(cn)
        self.emit(t, "credit_note.created", cn)



    # ---- one-offs ------------------------------------------------------------------------

    def _one_off_invoice(self, cust: _Cust, t: int, n: int) -> None:
        consulting = self.prices["consulting"]
        items = []
        for _ in range(n):
            quarters = self.rng.randint(4, 32)  # billed by the quarter hour: "2.5" hours
            hours = quarters // 4
            amount = _rdiv(quarters * int(consulting.obj["unit_amount"]), 4)
            exact = None if quarters % 4 == 0 else f"{quarters / 4:g}"
            items.append(self._invoice_item(cust, t - 10 * MINUTE, amount, consulting, hours,
                                            "Consulting", (t - 10 * MINUTE, t - 10 * MINUTE),
                                            quantity_decimal=exact))
        inv = self._invoice(cust, t, "manual", sub=None, lines=[], period=(t, t),
                            finalize_at=t + 5 * MINUTE, items=items)
        if inv["status"] != "open":
            return
        if inv["amount_due"] == 0:
            self._mark_paid(inv, t + 5 * MINUTE)
            return
        self._charge_invoice(cust, inv, t + 5 * MINUTE, self.ids.long("pi"), failed=False)

    def _standalone_charge(self, cust: _Cust, t: int, *, refund: bool) -> None:
        amount = self.rng.choice((2500, 4900, 9900, 15000, 25000, 50000))
        ch = self._charge(cust, t, amount, self.ids.long("pi"), "Professional services",
                          failed=False)
        if refund and t + 5 * DAY <= self.now:
            self._refund(ch, t + 5 * DAY, amount if self.rng.random() < 0.5 else amount // 2,
                         None)


# Constant nested objects shared by every object that embeds them (never mutated).
_SUB_PAYMENT_SETTINGS: JSON = {
    "payment_method_options": None,
    "payment_method_types": None,
    "save_default_payment_method": "off",
}
_INVOICE_PAYMENT_SETTINGS: JSON = {
    "default_mandate": None,
    "payment_method_options": None,
    "payment_method_types": None,
}
_AUTOMATIC_TAX: JSON = {
    "disabled_reason": None,
    "enabled": False,
    "liability": None,
    "provider": None,
    "status": None,
}
_ISSUER_SELF: JSON = {"type": "self"}
_PAUSE_WITHOUT_PAYMENT_METHOD: JSON = {"end_behavior": {"missing_payment_method": "pause"}}
_EMPTY_LIST: list[Any] = []
_EMPTY_DICT: JSON = {}
_NO_CREDITED_ITEMS: JSON = {"credited_items": None}
_NO_TRANSITIONS: JSON = {
    "finalized_at": None,
    "marked_uncollectible_at": None,
    "paid_at": None,
    "voided_at": None,
}
_OUTCOME_OK: JSON = {
    "advice_code": None,
    "network_advice_code": None,
    "network_decline_code": None,
    "network_status": "approved_by_network",
    "reason": None,
    "risk_level": "normal",
    "seller_message": "Payment complete.",
    "type": "authorized",
}
_OUTCOME_FAILED: JSON = {
    "advice_code": "try_again_later",
    "network_advice_code": None,
    "network_decline_code": "51",
    "network_status": "declined_by_network",
    "reason": "insufficient_funds",
    "risk_level": "normal",
    "seller_message": "The bank returned the decline code `insufficient_funds`.",
    "type": "issuer_declined",
}
_EMPTY_EVIDENCE: JSON = {"enhanced_evidence": {}} | {
    key: None
    for key in (
        "access_activity_log", "billing_address", "cancellation_policy",
        "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
        "customer_email_address", "customer_name", "customer_purchase_ip",
        "customer_signature", "duplicate_charge_documentation",
        "duplicate_charge_explanation", "duplicate_charge_id", "product_description",
        "receipt", "refund_policy", "refund_policy_disclosure",
        "refund_refusal_explanation", "service_date", "service_documentation",
        "shipping_address", "shipping_carrier", "shipping_date", "shipping_documentation",
        "shipping_tracking_number", "uncategorized_file", "uncategorized_text",
    )
}


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
    acct_id = f"acct_1{ids.tag}{_b62(rng.getrandbits(29), 5)}"
    acct = Account(
        now=now,
        seed=seed,
        currency=currency,
        livemode=livemode,
        api_version=api_version,
        account=_account_object(acct_id, currency, start - 60 * DAY),
        ids=ids,
        tax_rate=f"txr_1{ids.tag}{_b62(rng.getrandbits(40), 8)}",
    )
    sim = _Sim(acct, now=now, start=start, rng=rng, customers=customers)
    sim.build_fx_rates()
    # Millions of acyclic dicts: the cyclic collector would rescan them again and again.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return sim.run()
    finally:
        if was_enabled:
            gc.enable()


def iter_objects(account: Account) -> Iterable[tuple[str, JSON]]:
    """Every (resource, object) of the account, resources in registry order."""
    for name in RESOURCE_NAMES:
        for obj in account.objects(name):
            yield name, obj


# ---- edits: what the fake server's mutation helpers do --------------------------------
#
# Each edit replaces the objects it changes (never mutates them in place: the server may
# be serialising the old ones), appends the events Stripe would send and the MRR truth.


def subscription_mrr(account: Account, sub: JSON, at: int) -> dict[str, int]:
    """MRR per key (item id, ``discount:<id>``) of a subscription object at ``at``.

    Read from the objects alone: it is right at the object's own time, which is how the
    edits use it (the simulation keeps its own, more detailed state). Discounts: each
    item's own, then the subscription's, else its customer's (METRICS.md §1.6).
    """
    ended = sub.get("ended_at") is not None and sub["ended_at"] <= at
    trialing = sub.get("trial_end") is not None and sub["trial_end"] > at
    if sub["status"] not in ("active", "past_due") or ended or trialing:
        return {}
    if sub.get("pause_collection"):
        return {}
    prices = {p["id"]: p for p in account.prices}
    coupons = {c["id"]: c for c in account.coupons}
    coupons.update(account.deleted.get("coupons", {}))  # their discounts keep applying
    items = sub["items"]["data"]
    own = list(sub.get("discounts") or [])
    if not own and not any(it.get("discounts") for it in items):
        customer = account.get("customers", sub["customer"]) if sub["customer"] else None
        if customer is not None and customer.get("discount"):
            own = [customer["discount"]]
    pct, amount_off = _discount_terms(account, coupons, own)
    out: dict[str, int] = {}
    months = 1
    for it in items:
        price = prices.get(it["price"]["id"], it["price"])
        rec = price.get("recurring") or {}
        months = int(rec.get("interval_count", 1)) * (12 if rec.get("interval") == "year" else 1)
        if rec.get("usage_type") == "metered":
            continue
        trial = it.get("current_trial")
        if trial and trial["end_date"] > at:
            out[it["id"]] = 0
            continue
        item_pct, item_off = _discount_terms(account, coupons, it.get("discounts") or [])
        value = item_mrr(price, int(it.get("quantity") or 0), pct + item_pct)
        for _, off in item_off:
            value -= monthly(off, rec["interval"], rec["interval_count"])
        out[it["id"]] = max(0, value)
    for di, off in amount_off:
        out["discount:" + di] = -monthly(off, "month", months)
    return out


def _discount_terms(account: Account, coupons: dict[str, JSON],
                    discounts: list[Any]) -> tuple[float, list[tuple[str, int]]]:
    """The summed percent off and the amounts off (per discount id) of some discounts."""
    pct, amount_off = 0.0, []
    for di in discounts:
        disc = account.discounts.get(di if isinstance(di, str) else di["id"])
        coupon = coupons.get(disc["source"]["coupon"]) if disc else None
        if coupon is None:
            continue
        pct += float(coupon["percent_off"] or 0)
        if coupon["amount_off"]:
            amount_off.append((disc["id"] if disc else "", int(coupon["amount_off"])))
    return pct, amount_off


def _latest_mrr(account: Account, sub_id: str) -> dict[str, int]:
    latest: dict[str, int] = {}
    for c in account.timeline:
        if c.subscription == sub_id:
            latest[c.item] = c.new_mrr
    return {k: v for k, v in latest.items() if v}


def _record_edit(account: Account, sub: JSON, at: int, kind: str) -> None:
    old, new = _latest_mrr(account, sub["id"]), subscription_mrr(account, sub, at)
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, 0), new.get(key, 0)
        if a != b:
            account.timeline.append(
                MrrChange(sub["customer"], sub["id"], key, at, a, b, kind, sub["currency"])
            )


def _require(account: Account, resource: str, obj_id: str) -> JSON:
    obj = account.get(resource, obj_id)
    if obj is None:
        raise KeyError(f"no such {resource[:-1]}: {obj_id}")
    return obj


def add_customer(
    account: Account,
    *,
    now: int,
    name: str | None = None,
    email: str | None = None,
    metadata: JSON | None = None,
    currency: str | None = None,
) -> JSON:
    """A new customer created at ``now`` (``customer.created``)."""
    sim = _Sim.attach(account, now)
    idx = len(account.customers) + 100000
    profile = _Profile(idx, now, currency or account.currency, subscriber=currency is not None,
                       random=False, metadata=dict(metadata or {}))
    cust = sim._customer(profile, name=name, email=email)
    sim.finish_events()
    return cust.obj


def add_subscription(
    account: Account, customer_id: str, *, now: int, price: str, quantity: int = 1
) -> JSON:
    """A subscription started at ``now``, its first invoice paid, with every event."""
    sim = _Sim.attach(account, now)
    cust = sim._cust_from(_require(account, "customers", customer_id))
    if price not in sim._price_by_id:
        raise KeyError(f"no such price: {price}")
    p = sim._price_by_id[price]
    if cust.obj["currency"] not in (None, p.obj["currency"]):
        raise ValueError(f"customer {customer_id} pays in {cust.obj['currency']}")
    cust.currency = str(p.obj["currency"])
    cust.taxed = cust.currency != account.currency
    profile = _Profile(-1, now, cust.currency, random=False)
    sub = sim._run_subscription(cust, [(p.key, quantity)], now, profile, trial=False,
                                coupon=None, setup_fee=False, rand=False, script=[],
                                incomplete=False)
    cust.obj.update(currency=cust.currency, balance=cust.balance,
                    next_invoice_sequence=cust.seq + 1)
    account.put("customers", cust.obj)
    sim.finish_events()
    return _require(account, "subscriptions", sub.id)


def change_subscription(
    account: Account,
    sub_id: str,
    *,
    now: int,
    quantity: int | None = None,
    price: str | None = None,
    cancel_at_period_end: bool | None = None,
    item: str | None = None,
) -> JSON:
    """Change one item's quantity or price, or request/withdraw a cancellation.

    The change takes effect at ``now`` (``customer.subscription.updated``); no proration
    invoice items are created.
    """
    old = _require(account, "subscriptions", sub_id)
    if old["status"] in ("canceled", "incomplete_expired"):
        raise ValueError(f"subscription {sub_id} has ended")
    items = [dict(i) for i in old["items"]["data"]]
    target = next((i for i in items if i["id"] == item), None) if item else items[0]
    if target is None:
        raise KeyError(f"no such subscription item: {item}")
    new, previous, kind = dict(old), {}, "change"
    if quantity is not None or price is not None:
        previous["items"] = old["items"]
        if price is not None:
            p = _require(account, "prices", price)
            target["price"] = {k: v for k, v in p.items() if k != "tiers"}
            target["plan"] = _plan_of(p)
            kind = "price_change"
        if quantity is not None:
            target["quantity"] = quantity
            kind = "quantity" if price is None else kind
        new["items"] = {**old["items"], "data": items}
    if cancel_at_period_end is not None:
        for key in ("cancel_at_period_end", "cancel_at", "canceled_at", "cancellation_details"):
            previous[key] = old[key]
        new["cancel_at_period_end"] = cancel_at_period_end
        new["cancel_at"] = items[0]["current_period_end"] if cancel_at_period_end else None
        new["canceled_at"] = now if cancel_at_period_end else None
        reason = "cancellation_requested" if cancel_at_period_end else None
        new["cancellation_details"] = {"comment": None, "feedback": None, "reason": reason}
    account.put("subscriptions", new)
    account.add_event("customer.subscription.updated", now, new, previous)
    _record_edit(account, new, now, kind)
    return new


def cancel_subscription(
    account: Account,
    sub_id: str,
    *,
    now: int,
    reason: str = "cancellation_requested",
    feedback: str | None = None,
    comment: str | None = None,
) -> JSON:
    """Cancel at once (``customer.subscription.deleted``): the MRR ends at ``now``."""
    old = _require(account, "subscriptions", sub_id)
    if old["status"] in ("canceled", "incomplete_expired"):
        raise ValueError(f"subscription {sub_id} has ended")
    new = dict(old, status="canceled", canceled_at=now, ended_at=now, cancel_at=None,
               cancel_at_period_end=False,
               cancellation_details={"comment": comment, "feedback": feedback,
                                     "reason": reason})
    account.put("subscriptions", new)
    account.add_event("customer.subscription.deleted", now, new)
    _record_edit(account, new, now, "churn")
    return new


def update_customer(account: Account, customer_id: str, *, now: int, **fields: Any) -> JSON:
    """Change top-level fields of a customer (``customer.updated``)."""
    old = _require(account, "customers", customer_id)
    new = dict(old, **fields)
    account.put("customers", new)
    account.add_event("customer.updated", now, new, {k: old.get(k) for k in fields})
    return new


def delete_customer(account: Account, customer_id: str, *, now: int) -> JSON:
    """Delete a customer: its live subscriptions are cancelled first, like Stripe does."""
    _require(account, "customers", customer_id)
    for sub in list(account.subscriptions):
        if sub["customer"] == customer_id and sub["status"] not in (
            "canceled", "incomplete_expired"
        ):
            cancel_subscription(account, sub["id"], now=now)
    obj = account.remove("customers", customer_id)
    account.add_event("customer.deleted", now, obj)
    return {"id": customer_id, "object": "customer", "deleted": True}
