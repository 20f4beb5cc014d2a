"""A customer's profile: what it does over the window, scripted or drawn at random."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncer.sandbox.generator.units import JSON


@dataclass
class Profile:
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
    setups: Setups | None = None  # the rarer real-account setups this customer has


@dataclass
class Setups:
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


NO_SETUPS = Setups()
