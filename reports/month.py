"""Calendar months: the one month arithmetic of the project (reports, normalizer, sandbox).

A ``Month`` is a calendar month, ``YYYY-MM`` as text; ``Month.parse`` validates a
``--month`` value. Its instants depend on the reporting time zone: the month runs from
``start(tz)`` (its first instant) up to, not including, ``end(tz)`` (the next month's
first). The string functions below (``parse_month``, ``add_months``, ...) are the same
arithmetic for callers that carry months as ``YYYY-MM`` text (a report's ``month``).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports.errors import BadMonth, BadSetting

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
# The years a --month may name: from the epoch to one short of the calendar's last (the
# month after it must exist).
FIRST_YEAR, LAST_YEAR = 1970, 9998


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a one-line ``BadSetting`` naming REPORT_TIMEZONE."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSetting(f"REPORT_TIMEZONE must be an IANA time zone like Europe/Paris, got {name!r}") from None


def _shift(year: int, month: int, n: int) -> tuple[int, int]:
    """(year, month) ``n`` calendar months after ``year``-``month`` (``n`` may be negative)."""
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month; ordered, and ``Month + n`` / ``Month - n`` move by whole months."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"a month is 1 to 12, got {self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """A ``--month`` value (``YYYY-MM``, surrounding blanks allowed), else ``BadMonth``."""
        found = _MONTH.fullmatch(text.strip())
        if not found or not FIRST_YEAR <= int(found.group(1)) <= LAST_YEAR:
            raise BadMonth(f"--month must look like 2026-04, got {text!r}")
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def containing(cls, at: int, tz: str) -> Month:
        """The month containing the instant ``at`` (epoch seconds) in ``tz``."""
        local = datetime.fromtimestamp(at, tz=UTC).astimezone(zone(tz))
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __add__(self, n: int) -> Month:
        return Month(*_shift(self.year, self.month, n))

    @overload
    def __sub__(self, other: int) -> Month: ...

    @overload
    def __sub__(self, other: Month) -> int: ...

    def __sub__(self, other: int | Month) -> Month | int:
        """``Month - n``: n months before; ``Month - Month``: how many months apart."""
        if isinstance(other, Month):
            return (self.year - other.year) * 12 + (self.month - other.month)
        return self + -other

    @property
    def days(self) -> int:
        """How many days the month has."""
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    def start(self, tz: str) -> int:
        """Epoch seconds of the month's first instant in ``tz``.

        ``fold=0`` picks the first occurrence of an ambiguous midnight and, for a midnight
        skipped by a DST jump, the instant the day actually begins.
        """
        return int(datetime(self.year, self.month, 1, tzinfo=zone(tz)).timestamp())

    def end(self, tz: str) -> int:
        """Epoch seconds of the next month's first instant in ``tz`` (exclusive end)."""
        return (self + 1).start(tz)

    def bounds(self, tz: str) -> tuple[int, int]:
        """``(start, end)``: the month is ``start <= t < end``."""
        return self.start(tz), self.end(tz)


# --------------------------------------------------------------------------- months as text


def parse_month(text: str) -> str:
    """Validate a ``--month`` value; returns it as ``YYYY-MM``."""
    return str(Month.parse(text))


def parse_quarter(text: str) -> tuple[str, list[str]]:
    """A ``--quarter`` value (``YYYY-Qn``) as ``("2026-Q3", ["2026-07", "2026-08", "2026-09"])``,
    else ``BadMonth``."""
    found = _QUARTER.fullmatch(text.strip().upper())
    if not found or not FIRST_YEAR <= int(found.group(1)) <= LAST_YEAR:
        raise BadMonth(f"--quarter must look like 2026-Q3, got {text!r}")
    year, quarter = int(found.group(1)), int(found.group(2))
    return f"{year}-Q{quarter}", [str(Month(year, 3 * quarter - 2) + k) for k in range(3)]


def quarter_of(month: str) -> tuple[str, list[str]]:
    """The quarter holding ``month``: ``quarter_of("2026-08") == ("2026-Q3", ["2026-07", "2026-08", "2026-09"])``."""
    m = Month.parse(month)
    return parse_quarter(f"{m.year}-Q{(m.month - 1) // 3 + 1}")


def add_months(month: str, n: int) -> str:
    """``add_months("2026-01", -1) == "2025-12"``."""
    return str(Month.parse(month) + n)


def month_range(last: str, count: int) -> list[str]:
    """The ``count`` months ending with ``last``, oldest first (13 for a trend chart)."""
    end = Month.parse(last)
    return [str(end + (k - count + 1)) for k in range(count)]


def months_between(first: str, last: str) -> int:
    """How many months ``last`` is after ``first`` (0 for the same month)."""
    return Month.parse(last) - Month.parse(first)


def month_bounds(month: str, tz: str) -> tuple[int, int]:
    """Epoch seconds of the first instant of ``month`` and of the month after, in ``tz``."""
    return Month.parse(month).bounds(tz)


def month_of(at: int, tz: str) -> str:
    """The month (``YYYY-MM``) containing instant ``at`` in ``tz``."""
    return str(Month.containing(at, tz))


def last_complete_month(now: int, tz: str) -> str:
    """The default ``--month``: the month before the one containing ``now``."""
    return str(Month.containing(now, tz) - 1)


# --------------------------------------------------------------------------- instants


def add_months_to_instant(at: int, n: int) -> int:
    """``at`` (epoch seconds) moved by ``n`` calendar months in UTC, the day clamped to
    the target month's length (31 January + 1 month = 28 or 29 February)."""
    d = datetime.fromtimestamp(at, UTC)
    year, month = _shift(d.year, d.month, n)
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())
