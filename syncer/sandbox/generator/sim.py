"""One simulation run: the state every concern of the generator shares.

The concerns (customers, subscriptions, invoicing, payments…) are functions in their own
modules that take the ``Sim`` first; it holds the account being filled, the clock
(``now``, ``start``), the one random generator every choice comes from, the catalogue,
the event log and the indexes that link objects created at different times.
"""

from __future__ import annotations

import random

from syncer.sandbox.generator.account import Account
from syncer.sandbox.generator.catalog import Catalog
from syncer.sandbox.generator.events import EventLog
from syncer.sandbox.generator.fx import foreign_currency, rate_at
from syncer.sandbox.generator.units import JSON


class Sim:
    """The simulation; also attached to an existing account to apply test edits."""

    def __init__(self, acct: Account, *, now: int, start: int, rng: random.Random,
                 customers: int = 0) -> None:
        self.acct = acct
        self.ids = acct.ids
        self.n_customers = customers
        self.rng = rng
        self.now = now
        self.start = start
        self.currency = acct.currency
        self.fx_currency = foreign_currency(acct.currency)
        self.livemode = acct.livemode
        self.mode = "live" if acct.livemode else "test"
        self.catalog = Catalog()
        self.tax_rate = acct.tax_rate
        self.events = EventLog(now=now)
        self.inpay_by_invoice: dict[str, JSON] = {}
        self.paid_charge: dict[str, JSON] = {}  # invoice id -> its succeeded charge
        self.cn_count: dict[str, int] = {}  # invoice id -> credit notes issued
        self.ii_item: dict[str, str] = {}  # proration invoice item -> subscription item
        self.descriptions: dict[tuple[str, int], str] = {}  # (price key, quantity) -> line's
        self.charge_accounts: dict[str, str] = {}  # Accounts v2 customer of each charge
        self.coupon_deleted_at = self.at(0.45)  # when FOUNDERS25 is deleted
        self.trial_offer = self.ids.long("to")  # the trial offer of the add-ons' own trials

    @classmethod
    def attach(cls, acct: Account, now: int) -> Sim:
        """A simulation continuing ``acct`` at ``now`` (for the test mutation helpers)."""
        rng = random.Random(f"edit-{acct.seed}-{now}-{len(acct.events)}")
        sim = cls(acct, now=now, start=acct.now, rng=rng)
        sim.catalog = Catalog.of_account(acct)
        return sim

    def at(self, fraction: float) -> int:
        """The instant ``fraction`` of the way through the window."""
        return self.start + int((self.now - self.start) * fraction)

    def fx(self, currency: str, t: int) -> float | None:
        """The rate of ``currency`` in the month of ``t``; None for the account's own."""
        if currency == self.currency:
            return None
        return rate_at(self.acct.fx_rates[currency], t)
