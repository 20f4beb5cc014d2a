"""When a month's report is due, and whether a report is preliminary or final.

Pure: the instant ``now``, the time zone and the public holidays are passed in (the
holiday calendar comes from the ``holidays`` package at the edge, see
``syncer.app.calendar``). A month ``M`` is reported on the Nth business day of month M+1 at
HH:MM local time: weekends and the given holidays are skipped.

Why the due time also decides "final": a month's numbers keep moving for a few days
after it ends (renewal invoices finalize about an hour after the period starts, failed
payments are retried over the first days, events arrive late). The schedule's business
day is the operator's statement of when the month has settled, so a report computed from
data synced at or after that moment is FINAL and one from earlier data is PRELIMINARY.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from reports.errors import BadSetting
from reports.month import Month, last_complete_month, zone

FINAL = "final"
PRELIMINARY = "preliminary"
NO_HOLIDAYS: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Due:
    """Business day ``business_day`` of the month at ``at`` local time."""

    business_day: int
    at: time


def business_days(year: int, month: int, holidays: Container[date] = NO_HOLIDAYS) -> list[date]:
    """Monday–Friday dates of the month that are not holidays, in order."""
    day = date(year, month, 1)
    out = []
    while day.month == month:
        if day.weekday() < 5 and day not in holidays:
            out.append(day)
        day += timedelta(days=1)
    return out


def due_at(month: str, due: Due, timezone: str, holidays: Container[date] = NO_HOLIDAYS) -> int:
    """The epoch second the report of ``month`` (``YYYY-MM``) is due."""
    sending = Month.parse(month) + 1
    days = business_days(sending.year, sending.month, holidays)
    if due.business_day > len(days):
        raise BadSetting(
            f"REPORT_SCHEDULE asks for business day {due.business_day}, but {sending} has only "
            f"{len(days)}; use a smaller day"
        )
    local = datetime.combine(days[due.business_day - 1], due.at, tzinfo=zone(timezone))
    # A time inside a DST gap (00:30 on a night the clock jumps 00:00 -> 01:00) is read
    # with the offset before the change (zoneinfo's fold=0): it fires at 01:30, an hour
    # late but on the right day, rather than never.
    return int(local.astimezone(UTC).timestamp())


def report_status(
    month: str, data_as_of: int | None, due: Due, timezone: str, holidays: Container[date] = NO_HOLIDAYS
) -> str:
    """FINAL when the data was synced at or after the month's due time, else PRELIMINARY."""
    if data_as_of is None:
        return PRELIMINARY
    return FINAL if data_as_of >= due_at(month, due, timezone, holidays) else PRELIMINARY


def month_due(now: int, due: Due, timezone: str, holidays: Container[date] = NO_HOLIDAYS) -> str | None:
    """The last complete month if its report is due at ``now``, else None (not yet due).

    Only the last complete month: older months are never sent on their own (that is
    ``nrr report --send``'s job), so a daemon that was down for a quarter sends one report.
    """
    month = last_complete_month(now, timezone)
    return month if now >= due_at(month, due, timezone, holidays) else None


def next_due_after(now: int, due: Due, timezone: str, holidays: Container[date] = NO_HOLIDAYS) -> int:
    """The first due instant strictly after ``now`` (for the daemon's schedule and doctor)."""
    month = Month.parse(last_complete_month(now, timezone))
    for _ in range(3):
        at = due_at(str(month), due, timezone, holidays)
        if at > now:
            return at
        month += 1
    raise AssertionError("a due time is always within two months")  # pragma: no cover
