"""Does a JSON object have the shape stripe-python's typed classes give its type?

The sandbox's objects stand in for Stripe's; this is what keeps them honest. ``problems``
walks an object field by field against the class stripe-python (the pinned version)
generates for its type from Stripe's OpenAPI spec, and says what differs:

- a field the class does not define;
- a field Stripe always returns that is missing (see ``NOT_ALWAYS_RETURNED``);
- a value of the wrong type: ``Optional[X]`` is X or null, ``ExpandableField[X]`` an id
  string or an X object, ``ListObject[X]`` a list envelope of X, ``UntypedStripeObject[T]``
  (metadata and the like) a string-keyed map of T, a ``decimal_string`` field a string
  holding a decimal number;
- a value outside a ``Literal`` enumeration. stripe-python writes an enum as
  ``Union[Literal[...], str]`` so that values Stripe adds later still load; the set Stripe
  declares is the ``Literal``, and a fake has no business sending anything else.

A deleted object (``{"id", "object", "deleted": true}``) is checked as Stripe's tombstone:
in this stripe-python the ``Deleted…`` classes are folded into the class itself, as its
``deleted: Optional[Literal[True]]`` field, so a type can be deleted iff it has that field.

Pure: no network, no clock. The only thing read is stripe-python's own source, once per
module, for the names its annotations import under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Union

import stripe
from stripe import ListObject, StripeObject

from syncer.sandbox.stripe_types import class_for, is_untyped_map, resolve

# stripe-python writes "nullable" and "not always in the response" the same way
# (``Optional``), so which fields Stripe always returns has to come from elsewhere:
#
# - on an API object (a class with an ``object`` name: Customer, Invoice, InvoiceLineItem,
#   ...) every field is always returned, null or not, except those listed here: includable
#   fields (Stripe's reference: "This field is not included by default. To include it in
#   the response, expand ..."), fields only some accounts or payment methods get, and the
#   newest fields. The list is what Stripe's own example of each object (openapi's
#   fixtures3.json, the example objects stripe-mock answers with) leaves out;
# - in a nested hash (Customer.Address, Invoice.Parent, ...) only the non-Optional fields
#   are required. Stripe leaves out the Optional ones that do not apply: only the
#   ``type``-named member of a polymorphic hash (``pricing.price_details``,
#   ``pretax_credit_amounts[].discount``), only the payment methods configured, ...
NOT_ALWAYS_RETURNED: dict[type[StripeObject], frozenset[str]] = {
    stripe.Customer: frozenset({
        "business_name", "cash_balance", "customer_account", "individual_name",
        "invoice_credit_balance", "sources", "subscriptions", "tax", "tax_ids",
    }),
    stripe.Product: frozenset({"tax_details"}),
    stripe.Price: frozenset({"currency_options", "tiers"}),
    stripe.Plan: frozenset({"tiers"}),
    stripe.Coupon: frozenset({"applies_to", "currency_options"}),
    stripe.Subscription: frozenset({"presentment_details", "status_details"}),
    # a metered item has no quantity
    stripe.SubscriptionItem: frozenset({"billed_until", "current_trial", "quantity"}),
    stripe.Invoice: frozenset({
        "amount_paid_off_stripe", "confirmation_secret", "payments", "status_details",
        "threshold_reason",
    }),
    stripe.InvoiceItem: frozenset({"frozen_fields", "invoicing_rules", "proration_details"}),
    stripe.Charge: frozenset({  # refunds: includable since API version 2022-11-15
        "authorization_code", "level3", "presentment_details", "radar_options", "refunds",
        "transfer",
    }),
    stripe.Refund: frozenset({
        "description", "failure_balance_transaction", "failure_reason",
        "instructions_email", "next_action", "pending_reason", "presentment_details",
    }),
    stripe.CreditNoteLineItem: frozenset({"invoice_line_item"}),  # custom lines have none
    stripe.Dispute: frozenset({"intended_submission_method", "network_reason_code"}),
    stripe.Event: frozenset({"account", "context"}),
    stripe.Account: frozenset({"company", "groups", "individual"}),
}
_NEVER_ON_A_LIVE_OBJECT = frozenset({"deleted"})
# (class, field) -> the sibling field whose object the field holds a part of: an event's
# ``previous_attributes`` are the earlier values of the fields of ``data.object`` it names.
_PARTIAL_OF: dict[tuple[type[StripeObject], str], str] = {
    (stripe.Event.Data, "previous_attributes"): "object",
}
_TOMBSTONE_FIELDS = ("id", "object", "deleted")
_LIST_FIELDS = ("object", "data", "has_more", "url")
_NONE = type(None)


def problems(obj: Any, cls: type[StripeObject], *, partial: bool = False) -> list[str]:
    """What in ``obj`` differs from ``cls``: one "path: what is wrong" line per problem.

    ``partial``: missing fields are fine (an event's ``previous_attributes``).
    """
    root = obj.get("object") if isinstance(obj, Mapping) else None
    return _check_object(obj, cls, str(root or cls.__qualname__), partial)


def list_problems(page: Any, item: type[StripeObject]) -> list[str]:
    """What in a list answer (``{"object": "list", "data": [...], ...}``) differs."""
    return _check_list_object(page, item, "list", item, partial=False)


# ---- objects --------------------------------------------------------------------------


def _check_object(value: Any, cls: type[StripeObject], path: str, partial: bool) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: {_kind(value)}, expected a {cls.__qualname__} object"]
    fields = _fields(cls)
    if value.get("deleted") is True and "deleted" in fields:
        return _check_tombstone(value, cls, path)
    out: list[str] = []
    for name in value:
        if name not in fields:
            out.append(f"{path}.{name}: not a field of {cls.__qualname__}")
    for name, tp in fields.items():
        if name in value and (cls, name) in _PARTIAL_OF:
            out += _check_partial(value, _PARTIAL_OF[(cls, name)], name, f"{path}.{name}")
        elif name in value and value[name] is None and _null_allowed_by(cls, name, value):
            continue
        elif name in value:
            out += _check(value[name], tp, f"{path}.{name}", cls, partial)
        elif not partial and _always_returned(cls, name, tp):
            out.append(f"{path}.{name}: missing ({_show(tp)})")
    return out


# Fields stripe-python 16.1 types as never null that Stripe leaves null when another
# field stands in for them: a subscription (invoice item, ...) billed to an Accounts v2
# account names it in ``customer_account`` instead of ``customer`` ("instead provide the
# Account ID as the argument to the customer_account parameter": Stripe's guide to
# representing customers with Account objects). Invoices already type ``customer`` as
# nullable for the same reason.
_NULL_WHEN_SET: dict[tuple[type[StripeObject], str], str] = {
    (stripe.Subscription, "customer"): "customer_account",
}


def _null_allowed_by(cls: type[StripeObject], name: str, value: Mapping[str, Any]) -> bool:
    other = _NULL_WHEN_SET.get((cls, name))
    return other is not None and value.get(other) is not None


def _check_partial(value: Mapping[str, Any], sibling: str, name: str, path: str) -> list[str]:
    """A field holding some fields of the object in ``sibling`` (their earlier values)."""
    of, part = value.get(sibling), value[name]
    cls = class_for(of["object"]) if isinstance(of, Mapping) and "object" in of else None
    if cls is None or part is None:
        return []
    return _check_object(part, cls, path, partial=True)


def _always_returned(cls: type[StripeObject], name: str, tp: Any) -> bool:
    if name in _NEVER_ON_A_LIVE_OBJECT:
        return False
    if isinstance(getattr(cls, "OBJECT_NAME", None), str):  # an API object
        return name not in NOT_ALWAYS_RETURNED.get(cls, frozenset())
    return _NONE not in typing.get_args(tp)


def _check_tombstone(value: Mapping[str, Any], cls: type[StripeObject], path: str) -> list[str]:
    out = [f"{path}.{name}: not a field of a deleted {cls.__qualname__}"
           for name in value if name not in _TOMBSTONE_FIELDS]
    fields = _fields(cls)
    for name in _TOMBSTONE_FIELDS:
        if name not in value:
            out.append(f"{path}.{name}: missing (a deleted {cls.__qualname__} has it)")
        else:
            out += _check(value[name], fields[name], f"{path}.{name}", cls, False)
    return out


# ---- values ---------------------------------------------------------------------------


def _check(value: Any, tp: Any, path: str, owner: type, partial: bool) -> list[str]:
    tp = _resolve(tp, owner)
    if tp is Any:
        return []
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return _check_union(value, typing.get_args(tp), path, owner, partial)
    if value is None:
        return [f"{path}: null, but {_show(tp)} is not nullable"]
    if origin is Literal:
        allowed = typing.get_args(tp)
        return [] if value in allowed else [f"{path}: {value!r} is not one of {list(allowed)}"]
    if origin in (list, typing.List):  # noqa: UP006
        return _check_list(value, typing.get_args(tp)[0], path, owner, partial)
    if _is_subclass(origin, ListObject):
        return _check_list_object(value, typing.get_args(tp)[0], path, owner, partial)
    if is_untyped_map(origin) or origin in (dict, typing.Dict):  # noqa: UP006
        return _check_map(value, typing.get_args(tp)[-1], path, owner, partial)
    if tp is StripeObject or is_untyped_map(tp):
        return []
    if _is_subclass(tp, StripeObject):
        return _check_object(value, tp, path, partial)
    return _check_scalar(value, tp, path)


def _check_union(value: Any, args: tuple[Any, ...], path: str, owner: type,
                 partial: bool) -> list[str]:
    options = [a for a in args if a is not _NONE]
    if value is None:
        return [] if _NONE in args else [f"{path}: null, but not nullable"]
    literals = [v for a in options if typing.get_origin(a) is Literal for v in typing.get_args(a)]
    if literals and all(a is str or typing.get_origin(a) is Literal for a in options):
        # Union[Literal[...], str]: an enum (the str only lets later values load)
        if value in literals:
            return []
        return [f"{path}: {value!r} is not one of {literals}"]
    found: list[list[str]] = []
    for option in options:
        got = _check(value, option, path, owner, partial)
        if not got:
            return []
        found.append(got)
    return min(found, key=lambda p: (not _same_kind(p, path), len(p)))


def _same_kind(found: list[str], path: str) -> bool:
    """The option failed inside the value, not on the value itself (a better report)."""
    return any(not p.startswith(f"{path}: ") for p in found)


def _check_list(value: Any, item: Any, path: str, owner: type, partial: bool) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: {_kind(value)}, expected a list"]
    out: list[str] = []
    for i, v in enumerate(value):
        out += _check(v, item, f"{path}[{i}]", owner, partial)
    return out


def _check_list_object(value: Any, item: Any, path: str, owner: type,
                       partial: bool) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: {_kind(value)}, expected a list object"]
    out = [f"{path}.{k}: not a field of ListObject" for k in value if k not in _LIST_FIELDS]
    out += [f"{path}.{k}: missing" for k in _LIST_FIELDS if k not in value]
    if "object" in value and value["object"] != "list":
        out.append(f"{path}.object: {value['object']!r} is not 'list'")
    if "has_more" in value and not isinstance(value["has_more"], bool):
        out.append(f"{path}.has_more: {_kind(value['has_more'])}, expected bool")
    if "url" in value and not isinstance(value["url"], str):
        out.append(f"{path}.url: {_kind(value['url'])}, expected str")
    if "data" in value:
        out += _check_list(value["data"], item, f"{path}.data", owner, partial)
    return out


def _check_map(value: Any, item: Any, path: str, owner: type, partial: bool) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: {_kind(value)}, expected a map"]
    if item is Any and isinstance(value.get("object"), str):
        # An untyped object (an event's data.object) still says what it is.
        cls = class_for(value["object"])
        return [] if cls is None else _check_object(value, cls, path, partial)
    out: list[str] = []
    for k, v in value.items():
        if not isinstance(k, str):
            out.append(f"{path}: key {k!r} is not a string")
        out += _check(v, item, f"{path}.{k}", owner, partial)
    return out


def _check_scalar(value: Any, tp: Any, path: str) -> list[str]:
    if tp is Decimal:  # a ``decimal_string`` field: stripe-python loads it as a Decimal
        return [] if _is_decimal_string(value) else [
            f"{path}: {value!r} is not a decimal string"]
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    else:
        return [f"{path}: the checker does not know the type {_show(tp)}"]
    return [] if ok else [f"{path}: {_kind(value)}, expected {_show(tp)}"]


def _is_decimal_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


# ---- stripe-python's annotations ---------------------------------------------------------


_FIELDS: dict[type, dict[str, Any]] = {}


def _fields(cls: type) -> dict[str, Any]:
    """The fields a class declares (its own and inherited; no class variables)."""
    out = _FIELDS.get(cls)
    if out is None:
        out = _FIELDS[cls] = _declared_fields(cls)
    return out


def _declared_fields(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, tp in vars(klass).get("__annotations__", {}).items():
            if name.startswith("_") or typing.get_origin(tp) is typing.ClassVar:
                continue
            if isinstance(tp, str) and tp.startswith("ClassVar"):
                continue
            out[name] = tp
    return out


def _resolve(tp: Any, owner: type) -> Any:
    """A forward reference (``"Discount"``) as the class it names."""
    found = resolve(tp, owner)
    if found is None:
        raise LookupError(f"{owner.__qualname__}: cannot resolve {tp!r}")
    return found


def _is_subclass(tp: Any, base: type) -> bool:
    return isinstance(tp, type) and issubclass(tp, base)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(tp: Any) -> str:
    """A type as stripe-python writes it (``Optional[Customer.Address]``)."""
    if isinstance(tp, type):
        return tp.__qualname__
    text = re.sub(r"\b(?:typing|typing_extensions|decimal)\.", "", str(tp))
    text = re.sub(r"\bstripe(?:\.[a-z_]\w*)*\.", "", text)  # module paths, not classes
    return re.sub(r"ForwardRef\('(\w+)'\)", r"\1", text).replace("NoneType", "None")
