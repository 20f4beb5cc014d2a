"""What every module of the generator speaks in: JSON objects and seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

MINUTE = 60
HOUR = 3600
DAY = 86400


def month_floor(ts: int) -> int:
    d = datetime.fromtimestamp(ts, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp())
