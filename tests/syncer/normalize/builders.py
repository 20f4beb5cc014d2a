"""Builders of Stripe objects in the current API shape (2026) for the normalize tests.

Shapes follow tests/fixtures/stripe/*.json and syncer/sandbox/generator/: invoices have
``parent.subscription_details``, lines ``parent.subscription_item_details`` /
``invoice_item_details`` and ``pricing.price_details``; discounts ``source.coupon``;
charges no ``invoice`` (invoice payments link them). test_builders.py checks the
builders against the projection, which reads the same fields the sync stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reports.facts import Facts
from reports.month import add_months_to_instant
from syncer.normalize import NormalizeSettings, RawAccount, normalize

JSON = dict[str, Any]
DAY = 86400
HOUR = 3600
T0 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())  # every story starts here
CUS = "cus_A"


def month(n: int, base: int = T0) -> int:
    return add_months_to_instant(base, n)


def price(pid: str = "price_pro", amount: int | None = 9900, *, interval: str = "month",
          count: int = 1, usage: str = "licensed", tiers: list[tuple[int | None, int, int]]
          | None = None, mode: str | None = None, recurring: bool = True) -> JSON:
    obj: JSON = {
        "id": pid, "object": "price", "active": True,
        "billing_scheme": "tiered" if tiers else "per_unit", "created": T0 - 100 * DAY,
        "currency": "usd", "livemode": False, "lookup_key": None, "metadata": {},
        "nickname": None, "product": "prod_" + pid,
        "recurring": {"interval": interval, "interval_count": count, "meter": None,
                      "trial_period_days": None, "usage_type": usage} if recurring else None,
        "tax_behavior": "exclusive", "tiers_mode": mode if tiers else None,
        "transform_quantity": None, "type": "recurring" if recurring else "one_time",
        "unit_amount": amount, "unit_amount_decimal": None if amount is None else str(amount),
    }
    if tiers:
        obj["tiers"] = [{"flat_amount": flat, "flat_amount_decimal": str(flat),
                         "unit_amount": unit, "unit_amount_decimal": str(unit), "up_to": up}
                        for up, unit, flat in tiers]
    return obj


def item(iid: str, p: JSON, quantity: int = 1, *, created: int = T0,
         period: tuple[int, int] | None = None, sub: str = "sub_1") -> JSON:
    start, end = period or (created, month(1, created))
    obj: JSON = {
        "id": iid, "object": "subscription_item", "created": created,
        "current_period_start": start, "current_period_end": end, "discounts": [],
        "metadata": {}, "price": {k: v for k, v in p.items() if k != "tiers"},
        "subscription": sub, "tax_rates": [],
    }
    if (p.get("recurring") or {}).get("usage_type") != "metered":
        obj["quantity"] = quantity
    return obj


def subscription(items: list[JSON], *, sid: str = "sub_1", customer: str = CUS,
                 status: str = "active", start: int = T0, trial_end: int | None = None,
                 ended_at: int | None = None, canceled_at: int | None = None,
                 cancel_at_period_end: bool = False, reason: str | None = None,
                 feedback: str | None = None, comment: str | None = None,
                 pause: JSON | None = None, discounts: list[str] | None = None,
                 latest_invoice: str | None = None) -> JSON:
    return {
        "id": sid, "object": "subscription", "billing_cycle_anchor": trial_end or start,
        "cancel_at": None, "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "cancellation_details": {"comment": comment, "feedback": feedback, "reason": reason},
        "collection_method": "charge_automatically", "created": start, "currency": "usd",
        "customer": customer, "discounts": discounts or [], "ended_at": ended_at,
        "items": {"object": "list", "data": [dict(i, subscription=sid) for i in items],
                  "has_more": False, "url": f"/v1/subscription_items?subscription={sid}"},
        "latest_invoice": latest_invoice, "livemode": False, "metadata": {},
        "pause_collection": pause, "start_date": start, "status": status,
        "trial_end": trial_end, "trial_start": start if trial_end else None,
    }


def line(lid: str, amount: int, p: JSON, *, quantity: int = 1, item_id: str | None = "si_1",
         sub: str | None = "sub_1", period: tuple[int, int] = (T0, T0), proration: bool = False,
         invoice_item: str | None = None, discounts: list[int] | None = None,
         taxes: list[tuple[int, str]] | None = None) -> JSON:
    if item_id is not None:
        parent: JSON = {"invoice_item_details": None, "subscription_item_details": {
            "invoice_item": invoice_item, "proration": proration,
            "proration_details": {"credited_items": None}, "subscription": sub,
            "subscription_item": item_id}, "type": "subscription_item_details"}
    else:
        parent = {"invoice_item_details": {
            "invoice_item": invoice_item or "ii_" + lid, "proration": proration,
            "proration_details": {"credited_items": None}, "subscription": sub},
            "subscription_item_details": None, "type": "invoice_item_details"}
    return {
        "id": lid, "object": "line_item", "amount": amount, "currency": "usd",
        "description": None,
        "discount_amounts": [{"amount": a, "discount": "di_x"} for a in discounts or []],
        "discountable": True, "discounts": [], "livemode": False, "metadata": {},
        "parent": parent, "period": {"start": period[0], "end": period[1]},
        "pretax_credit_amounts": [],
        "pricing": {"price_details": {"price": p["id"], "product": p["product"]},
                    "type": "price_details", "unit_amount_decimal": None},
        "quantity": quantity, "subtotal": amount,
        "taxes": [{"amount": a, "tax_behavior": b, "tax_rate_details": {"tax_rate": "txr_1"},
                   "taxability_reason": "standard_rated", "taxable_amount": amount,
                   "type": "tax_rate_details"} for a, b in taxes or []],
    }


def invoice(iid: str, lines: list[JSON], *, created: int, sub: str | None = "sub_1",
            customer: str = CUS, reason: str = "subscription_cycle", status: str = "paid",
            finalized_at: int | None = -1, paid_at: int | None = -1, attempt_count: int = 1,
            attempted: bool = True, voided_at: int | None = None,
            uncollectible_at: int | None = None, discounts: list[str] | None = None,
            amount_due: int | None = None) -> JSON:
    total = sum(ln["amount"] for ln in lines)
    return {
        "id": iid, "object": "invoice", "amount_due": total if amount_due is None else amount_due,
        "amount_paid": total if status == "paid" else 0, "attempt_count": attempt_count,
        "attempted": attempted, "auto_advance": status == "draft", "billing_reason": reason,
        "collection_method": "charge_automatically", "created": created, "currency": "usd",
        "customer": customer, "discounts": discounts or [],
        "lines": {"object": "list", "data": lines, "has_more": False,
                  "url": f"/v1/invoices/{iid}/lines"},
        "livemode": False,
        "parent": None if sub is None else {
            "quote_details": None, "type": "subscription_details",
            "subscription_details": {"metadata": {}, "subscription": sub}},
        "period_end": created, "period_start": created, "status": status,
        "status_transitions": {
            "finalized_at": created if finalized_at == -1 else finalized_at,
            "paid_at": (created if paid_at == -1 else paid_at) if status == "paid" else None,
            "voided_at": voided_at, "marked_uncollectible_at": uncollectible_at},
        "subtotal": total, "total": total, "total_excluding_tax": total, "total_taxes": [],
    }


def cycle_invoice(iid: str, start: int, billed: list[tuple[str, JSON, int]], *,
                  reason: str = "subscription_cycle", sub: str = "sub_1",
                  end: int | None = None, **kw: Any) -> JSON:
    """An invoice billing ``(item id, price, quantity)`` for the period starting at ``start``."""
    period = (start, end or month(1, start))
    lines = [line(f"il_{iid}_{n}", int(p["unit_amount"] or 0) * q, p, quantity=q, item_id=i,
                  sub=sub, period=period) for n, (i, p, q) in enumerate(billed)]
    return invoice(iid, lines, created=start, reason=reason, sub=sub, **kw)


def coupon(cid: str, *, percent: float | None = None, amount: int | None = None,
           duration: str = "forever", months: int | None = None) -> JSON:
    return {"id": cid, "object": "coupon", "amount_off": amount,
            "currency": "usd" if amount else None, "duration": duration,
            "duration_in_months": months, "percent_off": percent, "valid": True}


def discount(did: str, cid: str, *, start: int = T0, end: int | None = None,
             sub: str | None = "sub_1", customer: str = CUS) -> JSON:
    return {"id": did, "object": "discount", "checkout_session": None, "customer": customer,
            "end": end, "invoice": None, "invoice_item": None, "promotion_code": None,
            "source": {"coupon": cid, "type": "coupon"}, "start": start,
            "subscription": sub, "subscription_item": None}


def charge(chid: str, amount: int, *, created: int, pi: str | None = None,
           status: str = "succeeded", customer: str = CUS) -> JSON:
    return {"id": chid, "object": "charge", "amount": amount,
            "amount_captured": amount if status == "succeeded" else 0, "amount_refunded": 0,
            "balance_transaction": None, "created": created, "currency": "usd",
            "customer": customer, "disputed": False, "paid": status == "succeeded",
            "payment_intent": pi, "refunded": False, "status": status,
            "failure_code": "card_declined" if status == "failed" else None}


def invoice_payment(ipid: str, invoice_id: str, pi: str, *, paid_at: int | None = None) -> JSON:
    return {"id": ipid, "object": "invoice_payment", "amount_paid": None,
            "amount_requested": 0, "created": T0, "currency": "usd", "invoice": invoice_id,
            "is_default": True, "livemode": False,
            "payment": {"payment_intent": pi, "type": "payment_intent"},
            "status": "paid" if paid_at else "open",
            "status_transitions": {"canceled_at": None, "paid_at": paid_at}}


def event(eid: str, type_: str, created: int, obj: JSON, previous: JSON | None = None) -> JSON:
    data: JSON = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {"id": eid, "object": "event", "api_version": "2026-10-28.endive",
            "created": created, "data": data, "livemode": False, "type": type_}


def customer(cid: str = CUS, name: str = "Acme") -> JSON:
    return {"id": cid, "object": "customer", "name": name, "currency": "usd",
            "email": None, "balance": 0, "delinquent": False}


def facts_of(*, now: int, settings: NormalizeSettings | None = None, **objects: Any) -> Facts:
    """Normalize the given objects (``prices`` defaults to every price the items use)."""
    if "prices" not in objects:
        seen: dict[str, JSON] = {}
        for sub in objects.get("subscriptions", ()):
            for it in sub["items"]["data"]:
                seen.setdefault(it["price"]["id"], it["price"])
        objects["prices"] = list(seen.values())
    objects.setdefault("customers", [customer()])
    return normalize(RawAccount(**objects), settings or NormalizeSettings(), now=now)


def mrr_at(facts: Facts, at: int, customer_id: str = CUS) -> int:
    return sum(s.mrr for s in facts.spans if s.customer == customer_id and s.start <= at
               and (s.end is None or at < s.end))


def contract_at(facts: Facts, at: int, customer_id: str = CUS) -> int:
    return sum(s.contract_mrr for s in facts.spans if s.customer == customer_id
               and s.start <= at and (s.end is None or at < s.end))
