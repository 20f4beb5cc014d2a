"""The catalogue: products, prices (flat, per-seat, tiered, metered, one-time; monthly,
quarterly and annual), coupons and their promotion codes."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncer.sandbox.generator.account import Account
from syncer.sandbox.generator.fx import foreign_currency
from syncer.sandbox.generator.units import DAY, HOUR, JSON, MINUTE

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


@dataclass(slots=True)
class Price:
    """A price of the catalogue and what embeds it."""

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


def plan_of(price: JSON) -> JSON:
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


@dataclass(eq=False)
class Catalog:
    """The catalogue by key (``pro_m``, ``LAUNCH20``…) and by id."""

    prices: dict[str, Price] = field(default_factory=dict)
    products: dict[str, JSON] = field(default_factory=dict)
    coupons: dict[str, JSON] = field(default_factory=dict)
    promos: dict[str, JSON] = field(default_factory=dict)
    addon_keys: list[str] = field(default_factory=list)
    product_by_id: dict[str, JSON] = field(default_factory=dict)
    price_by_id: dict[str, Price] = field(default_factory=dict)

    @classmethod
    def of_account(cls, acct: Account) -> Catalog:
        """The catalogue of an account already generated (for the test edits)."""
        catalog = cls()
        for prod in acct.products:
            catalog.products[str(prod["metadata"].get("catalogue_key", prod["id"]))] = prod
            catalog.product_by_id[prod["id"]] = prod
        for price in acct.prices:
            key = str(price.get("lookup_key") or price["id"])
            public = {k: v for k, v in price.items() if k != "tiers"}
            catalog.prices[key] = Price(key, price, public, plan_of(price))
            catalog.price_by_id[price["id"]] = catalog.prices[key]
        catalog.coupons = {c["id"]: c for c in acct.coupons}
        return catalog

    def product_name(self, price: Price) -> str:
        return str(self.product_by_id[price.obj["product"]]["name"])

    def build(self, acct: Account, *, start: int, now: int) -> None:
        """Create the catalogue's objects in ``acct``, 20 days before ``start``."""
        c, fx_currency = acct.currency, foreign_currency(acct.currency)
        t0 = start - 20 * DAY
        for key, name, unit in _PRODUCTS:
            self._add_product(acct, key, name, unit, t0)
        for i, (name, _) in enumerate(_ADDONS):
            self._add_product(acct, f"addon{i}", f"Add-on: {name}", None, t0 + HOUR)
        for key, prod, nick, amount, interval, count in _PLAN_PRICES:
            active = key != "starter_legacy"
            self._add_price(acct, key, prod, nick, c, t0, amount=amount,
                            recurring=(interval, count, "licensed"), active=active)
        for i, (name, amount) in enumerate(_ADDONS):
            key = f"addon{i}_m"
            self._add_price(acct, key, f"addon{i}", f"{name} monthly", c, t0 + HOUR,
                            amount=amount, recurring=("month", 1, "licensed"))
            self.addon_keys.append(key)
        for key, prod, nick, amount in _FOREIGN_PRICES:
            self._add_price(acct, key, prod, nick, fx_currency, t0 + 2 * HOUR, amount=amount,
                            recurring=("month", 1, "licensed"))
        self._add_price(acct, "storage_m", "storage", "Storage graduated", c, t0,
                        recurring=("month", 1, "licensed"), tiers=("graduated", (
                            (5, 1000, 2000), (20, 800, 0), (None, 500, 0))))
        self._add_price(acct, "team_m", "team", "Team members volume", c, t0,
                        recurring=("month", 1, "licensed"), tiers=("volume", (
                            (10, 1200, 0), (50, 1000, 0), (None, 800, 0))))
        self._add_price(acct, "api_m", "api", "API requests metered", c, t0,
                        amount=1, recurring=("month", 1, "metered"))
        self._add_price(acct, "setup_fee", "onboarding", "Onboarding fee", c, t0, amount=50000)
        self._add_price(acct, "consulting", "consulting", "Consulting hour", c, t0, amount=15000)
        for key, prod in (("starter", "starter_m"), ("pro", "pro_m"), ("business", "business_m"),
                          ("seats", "seat_m"), ("support", "support_m"), ("team", "team_m"),
                          ("storage", "storage_m"), ("api", "api_m"),
                          ("onboarding", "setup_fee"), ("consulting", "consulting")):
            self.products[key]["default_price"] = self.prices[prod].id
        for i in range(len(_ADDONS)):
            self.products[f"addon{i}"]["default_price"] = self.prices[f"addon{i}_m"].id
        self._add_coupons(acct, t0, start=start, now=now)

    def _add_product(self, acct: Account, key: str, name: str, unit: str | None, t: int) -> None:
        """A product of the catalogue, known by ``key``."""
        obj: JSON = {
            "id": acct.ids.short("prod"),
            "object": "product",
            "active": True,
            "created": t,
            "default_price": None,
            "description": None,
            "images": [],
            "livemode": acct.livemode,
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
        self.product_by_id[obj["id"]] = obj
        acct.products.append(obj)

    def _add_price(
        self,
        acct: Account,
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
        """A price of ``product``: one-time, or ``recurring`` (interval, count, usage type)."""
        pid = acct.ids.long("price")
        meter = acct.ids.long("mtr") if recurring and recurring[2] == "metered" else None
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
            "livemode": acct.livemode,
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
        plan = plan_of(obj)
        self.prices[key] = Price(key, obj, public, plan)
        self.price_by_id[pid] = self.prices[key]
        acct.prices.append(obj)

    def _add_coupons(self, acct: Account, t: int, *, start: int, now: int) -> None:
        """Every coupon, and a promotion code for each."""
        for cid, name, terms in _coupon_terms(acct.currency, start):
            obj = _coupon(acct, cid, name, t)
            obj.update(terms)
            if obj["redeem_by"] is not None:
                obj["valid"] = obj["redeem_by"] > now
            self.coupons[cid] = obj
            acct.coupons.append(obj)
            promo = _promotion_code(acct, obj, t + MINUTE)
            self.promos[cid] = promo
            acct.promotion_codes.append(promo)


def _coupon_terms(currency: str, start: int) -> tuple[tuple[str, str, JSON], ...]:
    """The coupons: id, name and terms."""
    return (
        ("LAUNCH20", "Launch 20% off", {"percent_off": 20.0, "duration": "forever"}),
        ("ANNUAL15", "Annual 15% off", {"percent_off": 15.0, "duration": "forever"}),
        ("SAVE50X3", "50 off for 3 months", {
            "amount_off": 5000, "currency": currency, "duration": "repeating",
            "duration_in_months": 3}),
        ("WELCOME50", "Welcome: 50% off the first invoice",
         {"percent_off": 50.0, "duration": "once"}),
        ("BF2024", "Black Friday 2024", {
            "percent_off": 30.0, "duration": "once", "redeem_by": start + 30 * DAY}),
        # for item-level discounts
        ("SEATS10", "10% off seats", {"percent_off": 10.0, "duration": "forever"}),
        ("ADDON5", "5 off an add-on for 6 months", {
            "amount_off": 500, "currency": currency, "duration": "repeating",
            "duration_in_months": 6}),
        # for customer-level discounts
        ("LOYAL10", "Loyalty 10% off", {"percent_off": 10.0, "duration": "forever"}),
        ("PARTNER25", "Partner 25% off for 6 months", {
            "percent_off": 25.0, "duration": "repeating", "duration_in_months": 6}),
        # deleted halfway through the window; its discounts keep applying
        ("FOUNDERS25", "Founders 25% off", {"percent_off": 25.0, "duration": "forever"}),
    )


def _coupon(acct: Account, cid: str, name: str, t: int) -> JSON:
    """A coupon with no terms yet (they are added to it)."""
    return {
        "id": cid,
        "object": "coupon",
        "amount_off": None,
        "created": t,
        "currency": None,
        "duration": "once",
        "duration_in_months": None,
        "livemode": acct.livemode,
        "max_redemptions": None,
        "metadata": {},
        "name": name,
        "percent_off": None,
        "redeem_by": None,
        "times_redeemed": 0,
        "valid": True,
    }


def _promotion_code(acct: Account, coupon: JSON, t: int) -> JSON:
    """The promotion code of a coupon, its code the coupon's id."""
    cid = coupon["id"]
    return {
        "id": acct.ids.long("promo"),
        "object": "promotion_code",
        "active": coupon["valid"],
        "code": cid,
        "created": t,
        "customer": None,
        "customer_account": None,
        "expires_at": coupon["redeem_by"],
        "livemode": acct.livemode,
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
