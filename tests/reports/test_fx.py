"""Exchange rates: explicit and observed, conversion in minor units, no silent 1:1."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reports.errors import BadSetting, MissingRate
from reports.fx import FxTable, minor_digits, parse_fx_rates, to_major

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def test_reporting_currency_is_one_and_untouched() -> None:
    fx = FxTable("USD")
    assert fx.rate("usd", T0) == 1
    assert fx.convert(12345, "USD", T0) == 12345


def test_explicit_rate_is_constant_over_time() -> None:
    fx = FxTable("usd", {"EUR": Decimal("1.08")})
    assert fx.rate("eur", 0) == fx.rate("eur", T0 * 2) == Decimal("1.08")
    assert fx.convert(10000, "eur", T0) == 10800


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (T0 - 10, Decimal("1.10")),  # before the first observation: the earliest after
        (T0, Decimal("1.10")),  # exactly at an observation
        (T0 + 5, Decimal("1.10")),
        (T0 + 100, Decimal("1.20")),
        (T0 + 10**6, Decimal("1.30")),  # after the last one: the latest
    ],
)
def test_observed_rate_in_force_is_latest_at_or_before(at: int, expected: Decimal) -> None:
    fx = FxTable("usd", observed=[("eur", T0 + 200, Decimal("1.30")), ("EUR", T0, Decimal("1.10")),
                                  ("eur", T0 + 100, Decimal("1.20"))])
    assert fx.rate("eur", at) == expected


def test_explicit_rate_wins_over_observed() -> None:
    fx = FxTable("usd", {"eur": Decimal("1.5")}, [("eur", T0, Decimal("1.1"))])
    assert fx.rate("eur", T0) == Decimal("1.5")


def test_missing_rate_names_the_currency_and_the_fix() -> None:
    fx = FxTable("usd", {"eur": Decimal("1.08")})
    with pytest.raises(MissingRate) as err:
        fx.convert(100, "gbp", T0)
    assert str(err.value).startswith("no exchange rate for GBP to USD; set FX_RATES, e.g. FX_RATES=gbp=1.27")
    assert "\n" not in str(err.value)
    assert err.value.exit_code == 78


@pytest.mark.parametrize(
    ("amount", "currency", "reporting", "rate", "expected"),
    [
        (1000, "jpy", "usd", "0.0067", 670),  # ¥1,000 -> $6.70
        (1, "jpy", "usd", "0.0067", 1),  # 0.67 cent rounds to 1
        (10000, "usd", "jpy", "150.25", 15025),  # $100 -> ¥15,025
        (1, "usd", "jpy", "150.5", 2),  # $0.01 -> ¥1.505 -> ¥2
        (12345, "kwd", "usd", "3.25", 4012),  # 12.345 KWD -> $40.12125 -> 4012 cents
        (5, "eur", "usd", "1.5", 8),  # 7.5 cents -> 8 (half-even)
        (7, "eur", "usd", "1.5", 10),  # 10.5 cents -> 10 (half-even)
        (10000, "isk", "usd", "0.0072", 72),  # ISK is two-decimal in Stripe's API
    ],
)
def test_convert_minor_units_round_half_even(
    amount: int, currency: str, reporting: str, rate: str, expected: int
) -> None:
    fx = FxTable(reporting, {currency: Decimal(rate)})
    assert fx.convert(amount, currency, T0) == expected


def test_minor_digits_and_major_units() -> None:
    assert [minor_digits(c) for c in ("usd", "JPY", "kwd", "isk")] == [2, 0, 3, 2]
    assert to_major(123456, "usd") == Decimal("1234.56")
    assert to_major(1234, "jpy") == Decimal(1234)
    assert str(to_major(-5, "usd")) == "-0.05"


def test_parse_fx_rates() -> None:
    assert parse_fx_rates("eur=1.08, GBP=1.27,") == {"eur": Decimal("1.08"), "gbp": Decimal("1.27")}
    assert parse_fx_rates("") == {}


@pytest.mark.parametrize("text", ["eur", "eur=abc", "eur=-1", "euro=1.1", "eur=0", "eur=nan"])
def test_parse_fx_rates_rejects_malformed(text: str) -> None:
    with pytest.raises(BadSetting, match="FX_RATES must look like eur=1.08,gbp=1.27"):
        parse_fx_rates(text)
