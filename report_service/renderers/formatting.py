"""Values as people read them (PDF tables, chart labels, mail) and as files store them.

Files (CSV, JSON) keep full precision: ISO 8601 UTC datetimes with `Z`, numbers unrounded.
People get units: rates as percentages, seconds as durations, counts with thousands separators,
datetimes in the report time zone.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from report_service.engine.catalog import FieldKind, Unit
from report_service.engine.query import Period, ResultColumn

EN_DASH = "\u2013"
MISSING = EN_DASH


def iso_datetime(value: datetime) -> str:
    """UTC, ISO 8601, `Z` suffix; microseconds only when present."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def machine_value(value: Any) -> Any:
    """A JSON-ready value: datetimes and dates as ISO text, Decimals as numbers."""
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [machine_value(item) for item in value]
    return value


def duration_text(seconds: float) -> str:
    total = round(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


def human_value(column: ResultColumn, value: Any, zone: ZoneInfo) -> str:
    """`value` of `column` for a person."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        if column.unit is Unit.RATE:
            return f"{number * 100:.1f}%"
        if column.unit is Unit.SECONDS:
            return duration_text(number)
        if column.unit in (Unit.MONEY, Unit.SCORE):
            return f"{number:,.2f}"
        if column.kind is FieldKind.INTEGER and number.is_integer():
            return f"{int(number):,}"
        return f"{number:,.2f}"
    return str(value)


def period_text(period: Period | None, zone: ZoneInfo) -> str:
    """`2024-03-01 - 2024-03-07` (en dash) for whole local days, the end day included."""
    if period is None:
        return "all data"
    start, end = period.start.astimezone(zone), period.end.astimezone(zone)
    if start.time() == time() and end.time() == time():
        last_day = (end - timedelta(days=1)).date()
        if last_day == start.date():
            return start.date().isoformat()
        return f"{start.date().isoformat()} {EN_DASH} {last_day.isoformat()}"
    return f"{start:%Y-%m-%d %H:%M} {EN_DASH} {end:%Y-%m-%d %H:%M} ({zone.key})"


OPERATOR_SYMBOLS = {
    "eq": "=",
    "neq": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "in": "in",
    "between": "between",
    "contains": "contains",
}


def filters_text(filters: dict[str, Any]) -> str:
    """`course_id in c-1, c-2; revenue ≥ 100` for the report's filters."""
    if not filters:
        return "none"
    parts: list[str] = []
    for name in sorted(filters):
        given = filters[name]
        pairs = (
            given.items()
            if isinstance(given, dict)
            else [("in" if isinstance(given, list) else "eq", given)]
        )
        for operator, value in pairs:
            shown = (
                " and ".join(_compact(v) for v in value)
                if operator == "between" and isinstance(value, list)
                else _compact(value)
            )
            parts.append(f"{name} {OPERATOR_SYMBOLS.get(str(operator), operator)} {shown}")
    return "; ".join(parts)


def _compact(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_compact(item) for item in value)
    if isinstance(value, str):
        return value
    return json.dumps(value)
