"""Errors sorted by what the caller should do about them.

Every error that reaches a user is an ``NrrError``: its ``str()`` is one line that says
what went wrong and what to fix, and never contains a secret. Third-party exceptions
(stripe, SQLAlchemy, smtplib, ...) are mapped to these at the module that calls them.

- ``RetryLater``: the world is temporarily unhappy (Stripe 5xx after our own retries,
  the database is down). The daemon tries again on its next tick; nothing was lost.
- ``GiveUp``: retrying cannot help until a person changes something (a bad key, a
  missing permission, a malformed setting).
"""

from __future__ import annotations

from reports.errors import OneLineError


class NrrError(OneLineError):
    """Base of every error stripe-nrr reports to a user; ``str()`` is one line."""


class RetryLater(NrrError):
    """Transient: the same call may succeed later without anyone changing anything."""

    exit_code = 75  # EX_TEMPFAIL


class GiveUp(NrrError):
    """Permanent: a person has to change a setting, a key or a permission first."""

    exit_code = 2


class ConfigError(GiveUp):
    """A setting is missing or malformed."""

    exit_code = 78  # EX_CONFIG


class StripeAuthError(GiveUp):
    """Stripe answered 401: the key is wrong, revoked or expired."""


class StripeAccountInaccessible(GiveUp):
    """The key cannot act for a connected account (``STRIPE_ACCOUNTS``)."""


class StripePermissionError(GiveUp):
    """A restricted key lacks the permission one resource needs."""

    def __init__(self, resource: str, permission: str, detail: str = "") -> None:
        self.resource = resource
        self.permission = permission
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"the Stripe key may not read {resource}{extra}; "
            f"grant the restricted key '{permission}' permission or use a secret key"
        )


class StripeRequestError(GiveUp):
    """Stripe rejected a request as invalid (4xx other than 401/403/404/409/429)."""


class StripeNotFound(GiveUp):
    """Stripe answered 404 for an object or endpoint."""


class StripeUnavailable(RetryLater):
    """Stripe kept failing (429, 5xx, timeouts, malformed bodies) past the retry budget."""


class MalformedResponse(RetryLater):
    """Stripe's answer could not be parsed or lacked a field every object has."""


class DatabaseUnavailable(RetryLater):
    """The database could not be reached or was locked past the timeout."""


class AnotherSyncRunning(RetryLater):
    """Another process is syncing into the same database; this one did not start."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder  # who holds the sync lock, for logs: "pid 12 on host x, started …"


class MigrationFailed(GiveUp):
    """The schema could not be brought to the newest revision for a reason other than the
    database being unreachable: it holds something the migrations do not expect."""


class EventsExpired(NrrError):
    """The events cursor is older than Stripe keeps events: re-list instead."""
