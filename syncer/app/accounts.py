"""Which Stripe accounts a report is about: the key's own account (the platform), one of
the connected accounts synced (``STRIPE_ACCOUNTS``), or all of them together.

Every account synced has its own facts (normalized apart, under its own id); a report
of ``all`` reads each one's and consolidates them (``reports.consolidate``), customers
matched across accounts by ``ACCOUNT_MATCH_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import RowMapping, select

from syncer.app.settings import Settings
from syncer.db.meta import StripeAccount
from syncer.db.store import Store
from syncer.errors import ConfigError, GiveUp

PLATFORM = "platform"
ALL = "all"


class NoData(GiveUp):
    """Nothing synced or normalized yet for what was asked."""


@dataclass(frozen=True)
class AccountRef:
    account: str
    livemode: bool
    name: str | None
    default_currency: str | None


@dataclass(frozen=True)
class Scope:
    """What one report covers: one account, or several consolidated (``name`` ``all``)."""

    name: str  # the account id, or ``all``; the deliveries ledger's account column
    accounts: tuple[AccountRef, ...]  # the platform first

    @property
    def first(self) -> AccountRef:
        return self.accounts[0]

    @property
    def consolidated(self) -> bool:
        return self.name == ALL


def platform_account(store: Store) -> AccountRef:
    """The key's own account (the one reports are about unless asked otherwise)."""
    at = StripeAccount.__table__  # type: ignore[attr-defined]
    with store.reading() as conn:
        row = conn.execute(
            select(at).order_by(at.c.is_platform.desc(), at.c.livemode.desc()).limit(1)
        ).mappings().first()
    if row is None:
        raise NoData("nothing has been synced yet; run `nrr sync` first")
    return _ref(row)


def synced_accounts(settings: Settings, store: Store) -> tuple[AccountRef, ...]:
    """The platform account, then each ``STRIPE_ACCOUNTS`` account already synced, in
    that order (one not synced yet is left out until a sync brings it)."""
    platform = platform_account(store)
    at = StripeAccount.__table__  # type: ignore[attr-defined]
    with store.reading() as conn:
        rows = {r["account"]: r for r in conn.execute(
            select(at).where(at.c.livemode == platform.livemode, at.c.account.in_(settings.stripe_accounts))
        ).mappings()}
    return (platform, *(_ref(rows[a]) for a in settings.stripe_accounts if a in rows and a != platform.account))


def scope_of(settings: Settings, store: Store, account: str | None) -> Scope:
    """``--account``'s value (default ``REPORT_ACCOUNT``): ``platform``, ``all`` or an
    account id of ``STRIPE_ACCOUNTS``, else a one-line error naming the accounts there are."""
    wanted = (account or settings.report_account).strip()
    accounts = synced_accounts(settings, store)
    if wanted.lower() == PLATFORM:
        return Scope(accounts[0].account, accounts[:1])
    if wanted.lower() == ALL:
        return Scope(ALL, accounts)
    for ref in accounts:
        if ref.account == wanted:
            return Scope(ref.account, (ref,))
    known = ", ".join([PLATFORM, ALL, *(r.account for r in accounts[1:])])
    hint = "" if wanted in settings.stripe_accounts else " (add it to STRIPE_ACCOUNTS and sync)"
    raise ConfigError(f"account {wanted!r} is not synced{hint}; use one of {known}")


def _ref(row: RowMapping) -> AccountRef:
    return AccountRef(row["account"], bool(row["livemode"]), row["name"], row["default_currency"])
