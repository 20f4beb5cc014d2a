"""The account: every object of one synthetic Stripe account, and its MRR truth."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from syncer.sandbox.generator.events import event_object
from syncer.sandbox.generator.ids import IdFactory
from syncer.sandbox.generator.units import JSON
from syncer.stripe.resources import RESOURCES

API_VERSION = "2026-10-28.endive"
EMBEDDED_LIST_LIMIT = 10  # Stripe embeds at most 10 entries of a child list

# The listed resources (syncer.stripe.resources); each is the attribute of ``Account``
# holding its objects, so a resource added there is one the fake must serve.
RESOURCE_NAMES: tuple[str, ...] = tuple(r.name for r in RESOURCES)


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
        event = event_object(self.ids.long("evt"), type_, created, obj, previous,
                             api_version=self.api_version, livemode=self.livemode)
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


def iter_objects(account: Account) -> Iterable[tuple[str, JSON]]:
    """Every (resource, object) of the account, resources in registry order."""
    for name in RESOURCE_NAMES:
        for obj in account.objects(name):
            yield name, obj


# A fully verified account: nothing due now or later.
_NO_REQUIREMENTS: JSON = {
    "alternatives": [], "current_deadline": None, "currently_due": [], "disabled_reason": None,
    "errors": [], "eventually_due": [], "past_due": [], "pending_verification": [],
}


def account_object(acct_id: str, currency: str, created: int) -> JSON:
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
