"""The filters each list takes, and what a list leaves out unless asked for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from syncer.sandbox.fake_stripe.params import bool_param, list_param, str_param
from syncer.sandbox.fake_stripe.responses import invalid
from syncer.sandbox.generator import JSON

SUBSCRIPTION_STATUSES = frozenset({
    "active", "all", "canceled", "ended", "incomplete", "incomplete_expired", "past_due",
    "paused", "trialing", "unpaid",
})
INVOICE_STATUSES = frozenset({"draft", "open", "paid", "uncollectible", "void"})
_ENDED = frozenset({"canceled", "incomplete_expired"})

Predicate = Callable[[JSON], bool]


def _eq(field_name: str) -> Callable[[Any, str], Predicate]:
    def build(value: Any, name: str) -> Predicate:
        wanted = str_param(value, name)
        return lambda o: o.get(field_name) == wanted
    return build


def _bool_eq(field_name: str) -> Callable[[Any, str], Predicate]:
    def build(value: Any, name: str) -> Predicate:
        wanted = bool_param(value, name)
        return lambda o: bool(o.get(field_name)) == wanted
    return build


def _subscription_status(value: Any, name: str) -> Predicate:
    status = str_param(value, name)
    if status not in SUBSCRIPTION_STATUSES:
        raise invalid(f"Invalid status: must be one of {', '.join(sorted(SUBSCRIPTION_STATUSES))}",
                      param=name)
    if status == "all":
        return lambda o: True
    if status == "ended":
        return lambda o: o["status"] in _ENDED
    return lambda o: o["status"] == status


def _invoice_status(value: Any, name: str) -> Predicate:
    status = str_param(value, name)
    if status not in INVOICE_STATUSES:
        raise invalid(f"Invalid status: must be one of {', '.join(sorted(INVOICE_STATUSES))}",
                      param=name)
    return lambda o: o["status"] == status


def _invoice_subscription(value: Any, name: str) -> Predicate:
    wanted = str_param(value, name)
    return lambda o: ((o.get("parent") or {}).get("subscription_details") or {}).get(
        "subscription") == wanted


def _subscription_price(value: Any, name: str) -> Predicate:
    wanted = str_param(value, name)
    return lambda o: any(i["price"]["id"] == wanted for i in o["items"]["data"])


def _pending(value: Any, name: str) -> Predicate:
    wanted = bool_param(value, name)
    return lambda o: (o.get("invoice") is None) == wanted


def _promo_coupon(value: Any, name: str) -> Predicate:
    wanted = str_param(value, name)
    return lambda o: (o.get("promotion") or {}).get("coupon") == wanted


def _lookup_keys(value: Any, name: str) -> Predicate:
    wanted = set(list_param(value, name))
    return lambda o: o.get("lookup_key") in wanted


def _event_type(value: Any, name: str) -> Predicate:
    pattern = str_param(value, name)
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        return lambda o: str(o["type"]).startswith(prefix)
    return lambda o: o["type"] == pattern


def _event_types(value: Any, name: str) -> Predicate:
    wanted = set(list_param(value, name))
    return lambda o: o["type"] in wanted


def _ignored(value: Any, name: str) -> Predicate:
    return lambda o: True


FILTERS: dict[str, dict[str, Callable[[Any, str], Predicate]]] = {
    "customers": {"email": _eq("email"), "test_clock": _eq("test_clock")},
    "products": {"active": _bool_eq("active")},
    "prices": {"active": _bool_eq("active"), "product": _eq("product"), "type": _eq("type"),
               "currency": _eq("currency"), "lookup_keys": _lookup_keys},
    "coupons": {},
    "promotion_codes": {"active": _bool_eq("active"), "code": _eq("code"),
                        "coupon": _promo_coupon, "customer": _eq("customer")},
    "subscriptions": {"status": _subscription_status, "customer": _eq("customer"),
                      "price": _subscription_price, "test_clock": _eq("test_clock"),
                      "customer_account": _eq("customer_account"),
                      "collection_method": _eq("collection_method")},
    "invoices": {"customer": _eq("customer"), "status": _invoice_status,
                 "subscription": _invoice_subscription},
    "invoice_items": {"customer": _eq("customer"), "invoice": _eq("invoice"),
                      "pending": _pending},
    "invoice_payments": {"invoice": _eq("invoice"), "status": _eq("status")},
    "charges": {"customer": _eq("customer"), "payment_intent": _eq("payment_intent")},
    "refunds": {"charge": _eq("charge"), "payment_intent": _eq("payment_intent")},
    "credit_notes": {"customer": _eq("customer"), "invoice": _eq("invoice")},
    "disputes": {"charge": _eq("charge"), "payment_intent": _eq("payment_intent")},
    "events": {"type": _event_type, "types": _event_types, "delivery_success": _ignored},
}


def _not_on_a_test_clock(obj: JSON) -> bool:
    return not obj.get("test_clock")


def hidden_by_default(name: str, params: Mapping[str, Any]) -> list[Predicate]:
    """What a list leaves out unless a filter asks for it: ended subscriptions (unless
    ``status``), and customers and subscriptions on a test clock (unless ``test_clock``,
    or for subscriptions ``customer``)."""
    hidden: list[Predicate] = []
    if name == "subscriptions" and "status" not in params:
        hidden.append(lambda o: o["status"] not in _ENDED)
    if name == "customers" and "test_clock" not in params:
        hidden.append(_not_on_a_test_clock)
    if name == "subscriptions" and "test_clock" not in params and "customer" not in params:
        hidden.append(_not_on_a_test_clock)
    return hidden
