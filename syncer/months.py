"""Calendar arithmetic on epoch seconds (pure), shared by the normalizer and the sandbox."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime


def add_months(ts: int, n: int) -> int:
    """``ts`` moved by ``n`` calendar months, the day clamped to the month's length."""
    d = datetime.fromtimestamp(ts, UTC)
    m0 = d.month - 1 + n
    year, month = d.year + m0 // 12, m0 % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())
