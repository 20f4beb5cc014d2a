"""Inputs of the normalizers: the raw objects of one account, the settings, and lookups.

The caller (the database side) parses each stored row's ``raw`` JSON and groups them
here; invoices must carry their COMPLETE ``lines.data`` (assembled from invoice_lines
rows), since MRR history is read from them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from reports.options import ChurnRecognition, DiscountMode, UsageInMrr
from syncer.normalize.rules import Obj, as_int, as_str, data_list, get, item_contract, ref
from syncer.stripe.shapes import (
    customer_of,
    invoice_item_proration,
    invoice_subscription,
    line_detail,
    line_details,
    line_price_id,
)

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)


@dataclass(frozen=True)
class NormalizeSettings:
    """The METRICS.md settings that change facts (the defaults are the contract's)."""

    discount_mode: DiscountMode = DiscountMode.ALL_ACTIVE
    past_due_grace_days: int = 30
    usage_in_mrr: UsageInMrr = UsageInMrr.NONE
    churn_recognition: ChurnRecognition = ChurnRecognition.PERIOD_END


@dataclass(frozen=True)
class RawAccount:
    """Parsed ``raw`` JSON of every stored object of one account (Stripe's shapes)."""

    customers: Sequence[Obj] = ()
    prices: Sequence[Obj] = ()
    products: Sequence[Obj] = ()
    coupons: Sequence[Obj] = ()
    subscriptions: Sequence[Obj] = ()
    invoices: Sequence[Obj] = ()  # each with its complete ``lines.data``
    invoice_items: Sequence[Obj] = ()
    invoice_payments: Sequence[Obj] = ()
    charges: Sequence[Obj] = ()  # ``balance_transaction`` expanded or an id
    refunds: Sequence[Obj] = ()
    credit_notes: Sequence[Obj] = ()
    discounts: Mapping[str, Obj] = field(default_factory=dict)  # id -> discount
    events: Sequence[Obj] = ()  # customer.subscription.* events (others are ignored)
    default_currency: str = "usd"
    account_name: str | None = None


def transition(invoice: Obj, name: str) -> int | None:
    """``status_transitions.<name>`` (finalized_at, paid_at, voided_at, ...)."""
    return as_int(get(invoice, "status_transitions", name))


def line_quantity(line: Obj) -> int | Fraction:
    """Units billed by a line or invoice item: ``quantity_decimal`` when it has a
    fraction (``quantity`` is then truncated), else the integer ``quantity``."""
    decimal = line.get("quantity_decimal")
    if isinstance(decimal, str) and decimal:
        try:
            exact = Fraction(decimal)
        except (ValueError, ZeroDivisionError):
            exact = None
        if exact is not None and exact.denominator != 1:
            return exact
    return as_int(line.get("quantity")) or 0


@dataclass(frozen=True, slots=True)
class LineView:
    """What the rules read of an invoice line, read once (``Index.line``)."""

    details: Obj  # parent.subscription_item_details / invoice_item_details, else {}
    kind: str | None  # subscription | invoiceitem
    proration: bool
    item: str | None  # the subscription item it bills
    price_id: str | None
    start: int | None  # period
    end: int | None
    cycle: bool  # a subscription line billing a whole period (not a proration)


def view_line(line: Obj) -> LineView:
    details, kind = line_details(line)
    period = line.get("period")
    proration = line_detail(line, "proration", details) is True
    return LineView(
        details=details,
        kind=kind,
        proration=proration,
        item=ref(line_detail(line, "subscription_item", details)),
        price_id=line_price_id(line),
        start=as_int(get(period, "start")),
        end=as_int(get(period, "end")),
        cycle=kind == "subscription" and not proration,
    )


@dataclass
class Index:
    """Lookups over a RawAccount built once (the normalizers are called per account)."""

    raw: RawAccount
    now: int
    prices: dict[str, Obj] = field(default_factory=dict)
    customers: dict[str, Obj] = field(default_factory=dict)
    coupons: dict[str, Obj] = field(default_factory=dict)
    invoices: dict[str, Obj] = field(default_factory=dict)
    invoices_by_sub: dict[str, list[Obj]] = field(default_factory=lambda: defaultdict(list))
    intents_by_invoice: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    charges_by_intent: dict[str, list[Obj]] = field(default_factory=lambda: defaultdict(list))
    charges_by_invoice: dict[str, list[Obj]] = field(default_factory=lambda: defaultdict(list))
    paid_charges: set[str] = field(default_factory=set)  # charges linked to an invoice
    events_by_sub: dict[str, list[Obj]] = field(default_factory=lambda: defaultdict(list))
    # Proration invoice items not on an invoice yet, by subscription.
    pending_by_sub: dict[str, list[Obj]] = field(default_factory=lambda: defaultdict(list))
    # Discounts by the subscription they belong to, and customer-wide ones by customer.
    discounts_by_sub: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    discounts_by_customer: dict[str, list[str]] = field(
        default_factory=lambda: defaultdict(list))
    # item_contract by (price object, quantity): the same few prices are priced at every
    # change of every subscription. The price is kept so that its id() stays its own.
    _contracts: dict[tuple[int, int | Fraction], tuple[Obj, Fraction | None]] = field(default_factory=dict)
    # Each line's view by id(); the line is kept so that its id() stays its own. The
    # rules read every line several times (history, pauses, usage, revenue): reading its
    # nested fields each time was a sizeable share of normalization's profile.
    _lines: dict[int, tuple[Obj, LineView]] = field(default_factory=dict)

    @classmethod
    def build(cls, raw: RawAccount, now: int) -> Index:
        ix = cls(raw=raw, now=now)
        ix.prices = {p["id"]: p for p in raw.prices if isinstance(p.get("id"), str)}
        ix.coupons = {c["id"]: c for c in raw.coupons if isinstance(c.get("id"), str)}
        ix.customers = {c["id"]: c for c in raw.customers if isinstance(c.get("id"), str)}
        for inv in sorted(raw.invoices, key=lambda i: (as_int(i.get("created")) or 0)):
            inv_id = as_str(inv.get("id"))
            if inv_id is None:
                continue
            ix.invoices[inv_id] = inv
            sub = invoice_subscription(inv)
            if sub is not None:
                ix.invoices_by_sub[sub].append(inv)
            legacy_pi = ref(inv.get("payment_intent"))
            if legacy_pi is not None:
                ix.intents_by_invoice[inv_id].add(legacy_pi)
        for pay in raw.invoice_payments:
            inv_id = ref(pay.get("invoice"))
            pi = ref(get(pay, "payment", "payment_intent"))
            if inv_id is not None and pi is not None:
                ix.intents_by_invoice[inv_id].add(pi)
            charge = ref(get(pay, "payment", "charge"))
            if charge is not None:
                ix.paid_charges.add(charge)
        linked_intents = {pi for pis in ix.intents_by_invoice.values() for pi in pis}
        for inv in ix.invoices.values():
            legacy_charge = ref(inv.get("charge"))
            if legacy_charge is not None:
                ix.paid_charges.add(legacy_charge)
        for ch in raw.charges:
            ch_id = as_str(ch.get("id"))
            pi = ref(ch.get("payment_intent"))
            if pi is not None:
                ix.charges_by_intent[pi].append(ch)
            legacy_invoice = ref(ch.get("invoice"))
            if legacy_invoice is not None:
                ix.charges_by_invoice[legacy_invoice].append(ch)
            if ch_id is not None and (legacy_invoice is not None or pi in linked_intents):
                ix.paid_charges.add(ch_id)
        for event in raw.events:
            created = as_int(event.get("created"))
            if event.get("type") not in SUBSCRIPTION_EVENTS or created is None or created > now:
                continue
            sub = ref(get(event, "data", "object"))
            if sub is not None:
                ix.events_by_sub[sub].append(event)
        for ii in raw.invoice_items:
            sub = invoice_subscription(ii)
            if sub is not None and invoice_item_proration(ii) is True and not ref(ii.get("invoice")):
                ix.pending_by_sub[sub].append(ii)
        for d_id, d in raw.discounts.items():
            sub = ref(d.get("subscription"))
            if sub is not None:
                ix.discounts_by_sub[sub].append(d_id)
            elif not any(ref(d.get(k)) for k in ("invoice", "invoice_item", "subscription_item")):
                customer = customer_of(d)
                if customer is not None:
                    ix.discounts_by_customer[customer].append(d_id)
        for events in ix.events_by_sub.values():
            events.sort(key=lambda e: (as_int(e.get("created")) or 0, str(e.get("id"))))
        return ix

    def invoice_charges(self, invoice: Obj) -> list[Obj]:
        """Charges that tried to pay an invoice: via its payment intents, or legacy link."""
        inv_id = str(invoice.get("id"))
        seen: dict[str, Obj] = {}
        for pi in sorted(self.intents_by_invoice.get(inv_id, ())):
            for ch in self.charges_by_intent.get(pi, ()):
                seen[str(ch.get("id"))] = ch
        for ch in self.charges_by_invoice.get(inv_id, ()):
            seen[str(ch.get("id"))] = ch
        return sorted(seen.values(), key=lambda c: (as_int(c.get("created")) or 0))

    def item_contract(self, price: Obj, quantity: int | Fraction) -> Fraction | None:
        """``rules.item_contract``, computed once per price and quantity."""
        key = (id(price), quantity)
        hit = self._contracts.get(key)
        if hit is None or hit[0] is not price:
            hit = self._contracts[key] = (price, item_contract(price, quantity))
        return hit[1]

    def line(self, line: Obj) -> LineView:
        hit = self._lines.get(id(line))
        if hit is None or hit[0] is not line:
            hit = self._lines[id(line)] = (line, view_line(line))
        return hit[1]

    def price(self, price_id: str | None, embedded: Any = None) -> Obj | None:
        """The synced price (it has ``tiers`` when expanded), else an embedded copy."""
        synced = self.prices.get(price_id) if price_id else None
        if type(embedded) is dict or isinstance(embedded, Mapping):
            if synced is None:
                return embedded
            if synced.get("billing_scheme") == "tiered" and not synced.get("tiers"):
                return embedded if embedded.get("tiers") else synced
        return synced


def sub_items(sub: Obj) -> list[Obj]:
    """Items of a subscription object (current ``items.data``)."""
    return data_list(sub.get("items"))
