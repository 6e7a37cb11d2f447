"""When a report schedule runs next: wall-clock times in the report time zone.

Semantics (the Dagster schedules that come later must keep them):
- daily at HH:MM, weekly on `day_of_week` (0 = Sunday) at HH:MM, monthly on `day_of_month`
  at HH:MM, all in the report time zone (`settings.report_timezone`), so 08:00 stays 08:00
  across daylight-saving changes;
- a monthly day past the end of a month runs on that month's last day (31 -> 30 April,
  28/29 February), so "31" means "end of every month" rather than "skip short months";
- a wall-clock time that does not exist (the hour skipped in spring) runs at the same offset
  as before the change, i.e. one hour later on the clock; an ambiguous one runs the first time.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from report_service.domain import Frequency
from report_service.errors import ConfigurationError


def report_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a ConfigurationError saying how to fix it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {name!r} in LMS_ANALYTICS_REPORT_TIMEZONE; "
            "use an IANA name such as UTC or Europe/Berlin"
        ) from None


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _clamped(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def next_run_at(
    *,
    frequency: Frequency | str,
    hour: int,
    minute: int,
    day_of_week: int | None,
    day_of_month: int | None,
    after: datetime,
    zone: ZoneInfo,
) -> datetime:
    """The first run strictly after `after` (aware), in UTC."""
    if after.tzinfo is None:
        raise ValueError("`after` must be timezone-aware")
    local_day = after.astimezone(zone).date()
    frequency = Frequency(frequency)
    candidates: list[date]
    if frequency is Frequency.DAILY:
        candidates = [local_day + timedelta(days=offset) for offset in range(3)]
    elif frequency is Frequency.WEEKLY:
        if day_of_week is None:
            raise ValueError("a weekly schedule needs day_of_week")
        python_weekday = (day_of_week + 6) % 7  # seed: 0 = Sunday; Python: 0 = Monday
        first = local_day + timedelta(days=(python_weekday - local_day.weekday()) % 7)
        candidates = [first, first + timedelta(days=7)]
    else:
        if day_of_month is None:
            raise ValueError("a monthly schedule needs day_of_month")
        candidates = []
        year, month = local_day.year, local_day.month
        for _ in range(3):
            candidates.append(_clamped(year, month, day_of_month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    after_utc = after.astimezone(UTC)  # compare in UTC: same-tzinfo comparisons ignore offsets
    for day in candidates:
        run = _at(day, hour, minute, zone).astimezone(UTC)
        if run > after_utc:
            return run
    raise AssertionError("unreachable: the last candidate is always after `after`")


def is_run_day(
    *,
    frequency: Frequency | str,
    day_of_month: int | None,
    local_day: date,
) -> bool:
    """Whether a schedule runs on `local_day` (a day its cron fired on).

    Cron cannot say "the 31st, or the last day of a shorter month": `cron_expressions` fires
    on both the 28th and the 29th of February for days past the 28th; this tells which one
    is the month's run day. Every other firing is a run day.
    """
    if Frequency(frequency) is not Frequency.MONTHLY or day_of_month is None:
        return True
    return local_day == _clamped(local_day.year, local_day.month, day_of_month)


def cron_expressions(
    *,
    frequency: Frequency | str,
    hour: int,
    minute: int,
    day_of_week: int | None,
    day_of_month: int | None,
) -> list[str]:
    """Cron expressions (in the report time zone) that fire at every run of the schedule.

    Daily and weekly are one expression each (cron's 0 = Sunday, as the seed's DayOfWeek).
    A monthly day past the 28th runs on that day in the months that have it and on the last
    day of the others; February gets both the 28th and the 29th, and `is_run_day` keeps the
    right one (the 29th only in leap years).
    """
    frequency = Frequency(frequency)
    at = f"{minute} {hour}"
    if frequency is Frequency.DAILY:
        return [f"{at} * * *"]
    if frequency is Frequency.WEEKLY:
        if day_of_week is None:
            raise ValueError("a weekly schedule needs day_of_week")
        return [f"{at} * * {day_of_week}"]
    if day_of_month is None:
        raise ValueError("a monthly schedule needs day_of_month")
    if day_of_month <= 28:
        return [f"{at} {day_of_month} * *"]
    months_by_day: dict[str, list[int]] = {}
    for month in range(1, 13):
        if month == 2:
            day = "28,29" if day_of_month >= 29 else str(day_of_month)
        else:
            day = str(min(day_of_month, calendar.monthrange(2001, month)[1]))
        months_by_day.setdefault(day, []).append(month)
    return [
        f"{at} {day} {','.join(str(month) for month in months)} *"
        for day, months in months_by_day.items()
    ]
