"""Exchange rates for reporting in one currency (METRICS.md §5).

A rate is in units of the reporting currency per unit of the foreign currency
(``FX_RATES=eur=1.08``: 1 EUR = 1.08 USD). Explicit rates are constant over time and win
over observed ones (the exchange rates of the account's own balance transactions). A
currency with no rate raises ``MissingRate``: never a silent 1:1.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal

from reports.errors import BadSetting, MissingRate

# ISO currencies Stripe amounts count in whole units (docs.stripe.com/currencies).
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
# Stripe counts these in thousandths. ISK, HUF and TWD stay two-decimal in the API.
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def minor_digits(currency: str) -> int:
    """How many decimal places a Stripe minor-unit amount of ``currency`` has."""
    cur = currency.lower()
    if cur in ZERO_DECIMAL:
        return 0
    if cur in THREE_DECIMAL:
        return 3
    return 2


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Minor units to an exact major-unit Decimal (1234 usd -> 12.34, 1234 jpy -> 1234)."""
    return Decimal(amount_minor).scaleb(-minor_digits(currency))


_CODE = re.compile(r"[a-z]{3}", re.ASCII)
_RATE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)", re.ASCII)
_FORM = "FX_RATES must look like eur=1.08,gbp=1.27"


def _quoted(part: str, limit: int = 40) -> str:
    """A fragment of the setting for an error message: one line, bounded length."""
    return repr(part if len(part) <= limit else part[:limit] + "…")


def parse_fx_rates(text: str) -> dict[str, Decimal]:
    """``"eur=1.08,gbp=1.27"`` -> ``{"eur": Decimal("1.08"), ...}`` (reporting units per unit).

    Codes are three letters, any case; rates plain decimals above 0 (no exponent, no
    sign); empty parts are skipped (``"eur=1.08,"``). A currency given twice is refused
    rather than one of its rates silently winning. Errors are one ``BadSetting`` line
    saying which part is wrong and why, then the expected form.
    """
    rates: dict[str, Decimal] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        code, sep, value = part.partition("=")
        code, value = code.strip().lower(), value.strip()
        if not sep or not _CODE.fullmatch(code) or not _RATE.fullmatch(value):
            raise BadSetting(f"{_quoted(part)} is not currency=rate; {_FORM}")
        rate = Decimal(value)
        if rate <= 0:
            raise BadSetting(f"{_quoted(part)}: a rate must be greater than 0; {_FORM}")
        if code in rates:
            raise BadSetting(f"{code} is given twice; {_FORM}")
        rates[code] = rate
    return rates


class FxTable:
    """Rates into one reporting currency, from explicit settings and/or observations."""

    def __init__(
        self,
        currency: str,
        explicit: Mapping[str, Decimal] | None = None,
        observed: Iterable[tuple[str, int, Decimal]] = (),
    ) -> None:
        self.currency = currency.lower()
        self._explicit = {k.lower(): Decimal(v) for k, v in (explicit or {}).items()}
        series: dict[str, list[tuple[int, Decimal]]] = {}
        for cur, at, observed_rate in observed:
            rate = Decimal(observed_rate)
            if rate > 0:  # a zero or negative rate is noise, not a conversion
                series.setdefault(cur.lower(), []).append((at, rate))
        self._times: dict[str, list[int]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for cur, points in series.items():
            points.sort(key=lambda p: p[0])
            self._times[cur] = [t for t, _ in points]
            self._rates[cur] = [r for _, r in points]

    def currencies(self) -> set[str]:
        """Every currency this table can convert (the reporting currency included)."""
        return {self.currency, *self._explicit, *self._times}

    def rate(self, currency: str, at: int) -> Decimal:
        """Units of the reporting currency per unit of ``currency`` in force at ``at``.

        Observed: the latest observation at or before ``at``, else the earliest after it
        (history older than the first foreign payment still needs a rate).
        """
        cur = currency.lower()
        if cur == self.currency:
            return Decimal(1)
        if cur in self._explicit:
            return self._explicit[cur]
        times = self._times.get(cur)
        if not times:
            raise MissingRate(cur, self.currency)
        i = bisect.bisect_right(times, at) - 1
        return self._rates[cur][max(i, 0)]

    def convert(self, amount_minor: int, currency: str, at: int) -> int:
        """``amount_minor`` of ``currency`` in minor units of the reporting currency.

        Rounded half-even once, at the end, in the reporting currency's own minor units
        (so JPY -> USD and USD -> JPY both land on whole minor units).
        """
        cur = currency.lower()
        if cur == self.currency:
            return amount_minor
        shift = minor_digits(self.currency) - minor_digits(cur)
        value = (Decimal(amount_minor) * self.rate(cur, at)).scaleb(shift)
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
