"""Errors raised by the pure reporting core.

``reports`` never imports ``syncer``, so it cannot raise ``syncer.errors.NrrError``;
these mirror its contract instead: ``str()`` is one line saying what is wrong and what to
do, and ``exit_code`` tells the CLI how to exit (78 = a setting to fix, 2 = a usage
mistake, 1 = a bug or inconsistent data).
"""

from __future__ import annotations


class OneLineError(Exception):
    """An error a user reads: ``str()`` is one line, ``exit_code`` says how to exit.

    The base of both ``ReportError`` here and ``syncer.errors.NrrError`` (``syncer`` may
    import ``reports``, never the other way round).
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        # Collapse newlines and runs of spaces so the CLI can print it as one line.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ReportError(OneLineError):
    """Base of every reporting error."""


class BadMonth(ReportError):
    """A ``--month`` value that is not ``YYYY-MM``."""

    exit_code = 2


class BadSetting(ReportError):
    """A metric setting (time zone, FX_RATES, discount mode, ...) that cannot be used."""

    exit_code = 78  # EX_CONFIG


class MissingRate(BadSetting):
    """A currency with no exchange rate to the reporting currency (never a silent 1:1)."""

    def __init__(self, currency: str, reporting: str) -> None:
        self.currency = currency.lower()
        self.reporting = reporting.lower()
        cur, rep = self.currency.upper(), self.reporting.upper()
        super().__init__(
            f"no exchange rate for {cur} to {rep}; set FX_RATES, "
            f"e.g. FX_RATES={self.currency}=1.27 (meaning 1 {cur} = 1.27 {rep})"
        )


class ReconciliationError(ReportError):
    """A month whose roll-forward does not add up to the cent (a bug, never ignored)."""

    def __init__(self, month: str, difference: int, customers: list[str]) -> None:
        self.month = month
        self.difference = difference
        self.customers = customers
        shown = ", ".join(customers[:10]) + (f" and {len(customers) - 10} more" if len(customers) > 10 else "")
        super().__init__(
            f"the MRR roll-forward for {month} is off by {difference} minor units"
            f" (customers: {shown or 'none identified'}); please report this bug"
        )
