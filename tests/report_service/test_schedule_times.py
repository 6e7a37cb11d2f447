"""Next run times of report schedules: wall-clock times in the report time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from report_service.errors import ConfigurationError
from report_service.scheduling import next_run_at, report_zone

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def _next(after: datetime, zone: ZoneInfo = UTC_ZONE, **schedule: object) -> datetime:
    values = {"hour": 8, "minute": 30, "day_of_week": None, "day_of_month": None, **schedule}
    return next_run_at(after=after, zone=zone, **values)  # type: ignore[arg-type]


def test_daily_runs_today_when_the_time_is_still_ahead() -> None:
    after = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    assert _next(after, frequency="daily") == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)


def test_daily_runs_tomorrow_when_the_time_has_passed_or_is_now() -> None:
    assert _next(datetime(2026, 3, 10, 8, 30, tzinfo=UTC), frequency="daily") == datetime(
        2026, 3, 11, 8, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("day_of_week", "expected_day"),
    [(0, 15), (1, 16), (2, 10), (6, 14)],  # 2026-03-10 is a Tuesday; 0 is Sunday
)
def test_weekly_day_of_week_counts_from_sunday(day_of_week: int, expected_day: int) -> None:
    after = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    assert _next(after, frequency="weekly", day_of_week=day_of_week) == datetime(
        2026, 3, expected_day, 8, 30, tzinfo=UTC
    )


def test_weekly_on_todays_weekday_after_the_time_runs_next_week() -> None:
    after = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert _next(after, frequency="weekly", day_of_week=2) == datetime(
        2026, 3, 17, 8, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 28, 8, 30, tzinfo=UTC)),
        (datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 2, 29, 8, 30, tzinfo=UTC)),
        (datetime(2026, 4, 30, 9, 0, tzinfo=UTC), datetime(2026, 5, 31, 8, 30, tzinfo=UTC)),
        (datetime(2026, 12, 31, 9, 0, tzinfo=UTC), datetime(2027, 1, 31, 8, 30, tzinfo=UTC)),
    ],
)
def test_monthly_day_past_the_month_end_runs_on_its_last_day(
    after: datetime, expected: datetime
) -> None:
    assert _next(after, frequency="monthly", day_of_month=31) == expected


def test_wall_clock_time_is_kept_across_daylight_saving_change() -> None:
    # Berlin: UTC+1 until 29 March 2026, UTC+2 after.
    before = _next(datetime(2026, 3, 27, 12, 0, tzinfo=UTC), BERLIN, frequency="daily")
    after = _next(datetime(2026, 3, 30, 12, 0, tzinfo=UTC), BERLIN, frequency="daily")
    assert before == datetime(2026, 3, 28, 7, 30, tzinfo=UTC)
    assert after == datetime(2026, 3, 31, 6, 30, tzinfo=UTC)


def test_unknown_time_zone_is_a_configuration_error_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="LMS_ANALYTICS_REPORT_TIMEZONE"):
        report_zone("Mars/Olympus_Mons")
