"""The report schedule rule: business days, holidays, time zones across DST, which month
is due, and when a report is final."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from reports.errors import BadSetting
from reports.schedule import (
    FINAL,
    PRELIMINARY,
    Due,
    business_days,
    due_at,
    month_due,
    next_due_after,
    report_status,
)
from syncer.app.calendar import holidays_for

THIRD_AT_9 = Due(3, time(9, 0))


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def test_business_days_skip_weekends_and_holidays() -> None:
    # November 2026 starts on a Sunday.
    days = business_days(2026, 11)
    assert days[:3] == [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
    assert len(days) == 21
    us = holidays_for("US", range(2026, 2027))
    assert date(2026, 11, 26) in us  # Thanksgiving
    assert date(2026, 11, 26) not in business_days(2026, 11, us)


def test_due_is_the_nth_business_day_of_the_next_month_in_local_time() -> None:
    # October 2026 is due on 2026-11-04 09:00 in Paris (CET, UTC+1, after the DST change).
    assert due_at("2026-10", THIRD_AT_9, "Europe/Paris") == utc(2026, 11, 4, 8, 0)
    # March 2026 is due in April, in CEST (UTC+2): the offset follows the date, not "now".
    assert due_at("2026-03", THIRD_AT_9, "Europe/Paris") == utc(2026, 4, 3, 7, 0)
    # December rolls into January of the next year; 1 January is a holiday in the US.
    us = holidays_for("US", range(2026, 2028))
    assert due_at("2026-12", Due(1, time(9)), "America/New_York", us) == utc(2027, 1, 4, 14, 0)
    assert due_at("2026-12", Due(1, time(9)), "America/New_York") == utc(2027, 1, 1, 14, 0)


def test_holidays_of_a_subdivision_count_too() -> None:
    # César Chávez Day (31 March) is a California state holiday, not a federal one.
    assert date(2027, 3, 31) in holidays_for("US-CA", range(2027, 2028))
    assert date(2027, 3, 31) not in holidays_for("US", range(2027, 2028))


def test_a_time_in_the_dst_gap_fires_an_hour_later_instead_of_never() -> None:
    # Egypt moves its clocks on the last Friday of April at 00:00 -> 01:00, and Friday is a
    # business day: on 2027-04-30 (business day 22 of April 2027), 00:30 does not exist.
    at = due_at("2027-03", Due(22, time(0, 30)), "Africa/Cairo")
    assert at == utc(2027, 4, 29, 22, 30)  # 01:30 local (UTC+3): late, but still that day


def test_too_large_a_business_day_is_a_setting_error() -> None:
    with pytest.raises(BadSetting, match="REPORT_SCHEDULE"):
        due_at("2026-01", Due(23, time(9)), "UTC")  # February 2026 has 20 business days


def test_the_due_month_is_the_last_complete_month_once_its_time_has_come() -> None:
    assert month_due(utc(2026, 11, 4, 8, 59), THIRD_AT_9, "UTC") is None
    assert month_due(utc(2026, 11, 4, 9, 0), THIRD_AT_9, "UTC") == "2026-10"
    assert month_due(utc(2026, 11, 30, 23, 0), THIRD_AT_9, "UTC") == "2026-10"
    # Local midnight decides the month: at 23:30 UTC on 30 November it is already
    # December in Tokyo, and November's report is not due until its 3rd business day.
    assert month_due(utc(2026, 11, 30, 23, 30), THIRD_AT_9, "Asia/Tokyo") is None


def test_next_due_after() -> None:
    assert next_due_after(utc(2026, 11, 1), THIRD_AT_9, "UTC") == utc(2026, 11, 4, 9)
    assert next_due_after(utc(2026, 11, 4, 9), THIRD_AT_9, "UTC") == utc(2026, 12, 3, 9)


def test_status_is_final_once_the_data_reaches_the_due_time() -> None:
    due = utc(2026, 11, 4, 9)
    assert report_status("2026-10", None, THIRD_AT_9, "UTC") == PRELIMINARY
    assert report_status("2026-10", utc(2026, 10, 20), THIRD_AT_9, "UTC") == PRELIMINARY  # mid-month
    assert report_status("2026-10", utc(2026, 11, 1), THIRD_AT_9, "UTC") == PRELIMINARY  # not settled
    assert report_status("2026-10", due - 1, THIRD_AT_9, "UTC") == PRELIMINARY
    assert report_status("2026-10", due, THIRD_AT_9, "UTC") == FINAL
    assert report_status("2026-10", utc(2027, 6, 1), THIRD_AT_9, "UTC") == FINAL
