"""Customers: the ``customer`` object (a card on file; some are Accounts v2 accounts
billed as customers, with no Customer object), its state at ``now``, its deletion after a
churn.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncer.sandbox.generator.ids import b62
from syncer.sandbox.generator.probabilities import P_DELETE_CHURNED
from syncer.sandbox.generator.profiles import NO_SETUPS, Profile
from syncer.sandbox.generator.setups import attach_setups
from syncer.sandbox.generator.sim import Sim
from syncer.sandbox.generator.state import Cust, Sub
from syncer.sandbox.generator.units import DAY, JSON

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


def create_customer(sim: Sim, p: Profile, name: str | None = None,
                    email: str | None = None) -> Cust:
    """A customer signing up at ``p.signup``, a card on file (``customer.created``)."""
    rng = sim.rng
    if name is None:
        name = f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)} {rng.choice(_NAME_C)}".strip()
    slug = name.split()[0].lower() if name.split() else "customer"
    setups = p.setups or NO_SETUPS
    cid = sim.ids.long("acct") if setups.account_v2 else sim.ids.short("cus")
    email = email or f"billing+{p.idx}@{slug}.example.com"
    country = "DE" if p.currency != sim.currency else "US"
    brand = rng.choice(("visa", "visa", "mastercard", "amex"))
    last4 = f"{rng.randrange(10000):04d}"
    pm = sim.ids.long("pm")
    obj = _customer_object(sim, p, cid, name, email, country, pm)
    pm_details = _card_payment(sim, brand, country, last4)
    billing = {"address": obj["address"], "email": email, "name": name, "phone": None,
               "tax_id": None}
    cust = Cust(p.idx, cid, obj, p.currency, pm, pm_details, billing,
                taxed=p.currency != sim.currency)
    attach_setups(sim, cust, setups)
    if cust.customer is None:  # an Accounts v2 account: no Customer object
        return cust
    sim.acct.customers.append(obj)
    sim.events.emit(p.signup, "customer.created", obj)
    return cust


def finish_customer(sim: Sim, cust: Cust, p: Profile) -> None:
    """The customer object as at ``now``; deleted if its profile says so."""
    if cust.customer is None:
        return
    obj = cust.obj
    if cust.discount is not None:
        obj["discount"] = cust.discount.obj if cust.discount.active(sim.now) else None
    obj["balance"] = cust.balance
    obj["delinquent"] = cust.open_failed > 0
    obj["next_invoice_sequence"] = cust.seq + 1
    if obj["currency"] is None and cust.seq:
        obj["currency"] = cust.currency
    if p.delete_at is not None and p.delete_at <= sim.now:
        sim.acct.customers.pop()  # always the last customer appended
        sim.acct.deleted.setdefault("customers", {})[cust.id] = obj
        sim.events.emit(p.delete_at, "customer.deleted", obj)


def deletion_time(sim: Sim, cust: Cust, sub: Sub) -> int | None:
    """When a churned customer is deleted, if it is (some are, months later)."""
    if not sub.ended or sub.ended_at is None or cust.customer is None or cust.clock:
        return None
    if cust.discount is not None or sim.rng.random() >= P_DELETE_CHURNED:
        return None
    t = sub.ended_at + sim.rng.randint(7, 240) * DAY
    return t if t < sim.now else None


def cust_from(sim: Sim, obj: JSON) -> Cust:
    """Simulation state of an existing customer (a copy of its object is edited)."""
    obj = dict(obj)
    currency = obj["currency"] or sim.currency
    pm = obj["invoice_settings"]["default_payment_method"] or sim.ids.long("pm")
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
    return Cust(-1, obj["id"], obj, currency, pm, pm_details, billing,
                taxed=currency != sim.currency, balance=int(obj["balance"]),
                seq=int(obj["next_invoice_sequence"]) - 1)


def _customer_object(sim: Sim, p: Profile, cid: str, name: str, email: str, country: str,
                     pm: str) -> JSON:
    """The ``customer`` object at signup."""
    return {
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
        "invoice_prefix": b62(sim.rng.getrandbits(40), 8).upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": pm,
                             "footer": None, "rendering_options": None},
        "livemode": sim.livemode,
        "metadata": dict(p.metadata),
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _card_payment(sim: Sim, brand: str, country: str, last4: str) -> JSON:
    """The ``payment_method_details`` of the customer's card, as its charges carry them."""
    rng = sim.rng
    return {
        "card": {
            "amount_authorized": None,
            "brand": brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": country,
            "exp_month": rng.randint(1, 12),
            "exp_year": datetime.fromtimestamp(sim.now, UTC).year + rng.randint(1, 5),
            "fingerprint": b62(rng.getrandbits(64), 16),
            "funding": "credit",
            "last4": last4,
            "network": brand,
            "three_d_secure": None,
            "wallet": None,
            **_CARD_CHARGE_DETAILS,
        },
        "type": "card",
    }
