"""Exchange rates for reporting in one currency (METRICS.md §5).

A rate is in units of the reporting currency per unit of the foreign currency
(``FX_RATES=eur=1.08``: 1 EUR = 1.08 USD). Explicit rates are constant over time and win
over observed ones (the exchange rates of the account's own balance transactions). A
currency with no rate raises ``MissingRate``: never a silent 1:1.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

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


def parse_fx_rates(text: str) -> dict[str, Decimal]:
    """``"eur=1.08,gbp=1.27"`` -> ``{"eur": Decimal("1.08"), ...}``; one-line error if malformed."""
    rates: dict[str, Decimal] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        code, sep, value = part.partition("=")
        code = code.strip().lower()
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            rate = Decimal(0)
        if not sep or len(code) != 3 or not code.isalpha() or not rate.is_finite() or rate <= 0:
            raise BadSetting(f"FX_RATES must look like eur=1.08,gbp=1.27; cannot read '{part}'")
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
