"""Dashboard filters: a date range, a course and an organisation, applied to every widget.

- Date range (`from`, `to`: ISO dates, both inclusive, in the report time zone): the report
  engine's period, i.e. the widget's date field in [from 00:00, to + 1 day 00:00). For event
  tables (sessions, page views, activities) that is when things happened; for the analytics
  marts (one row per course, quiz, ...) it is `updated_at`: rows with activity in the range,
  whose figures stay cumulative (the catalog's rule). The widget says which.
- Course (`course`): `course_id = <value>` where the widget's report type has a `course_id`
  field (course, module, lesson, quiz, assignment).
- Organisation (`organisation`): `organization_id = <value>` where the report type has that
  field; in the catalog only the organisation report does (the other marts carry no
  organisation id). Where a filter cannot apply the widget shows it as "not applied" with the
  reason instead of pretending.

A dashboard filter narrows the widget's own filters: it is ANDed with what the saved report or
query already filters on that field (a report of course A filtered by course B shows nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from report_service.engine.catalog import ReportTypeSpec
from report_service.engine.query import Period, ReportDefinition
from report_service.errors import ReportServiceError

MAX_VALUE_LENGTH = 200
FIELDS = {"course": "course_id", "organisation": "organization_id"}
LABELS = {"course": "Course", "organisation": "Organisation", "period": "Date range"}
EARLIEST = date(1970, 1, 1)


class DashboardFilterError(ReportServiceError):
    """A dashboard filter value that cannot be used (a bad date, an inverted range)."""


@dataclass(frozen=True)
class DashboardFilters:
    start: date | None = None
    end: date | None = None  # inclusive
    course: str | None = None
    organisation: str | None = None

    @classmethod
    def parse(
        cls,
        start: str | None = None,
        end: str | None = None,
        course: str | None = None,
        organisation: str | None = None,
    ) -> DashboardFilters:
        first, last = _date("from", start), _date("to", end)
        if first and last and first > last:
            raise DashboardFilterError(f"the date range starts ({first}) after it ends ({last})")
        return cls(first, last, _text("course", course), _text("organisation", organisation))

    @property
    def active(self) -> bool:
        return any((self.start, self.end, self.course, self.organisation))

    def query(self) -> dict[str, str]:
        """As URL query parameters (what the page passes on to the widget data API)."""
        values = {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "course": self.course,
            "organisation": self.organisation,
        }
        return {key: value for key, value in values.items() if value}

    def period(self, zone: ZoneInfo, today: date | None = None) -> Period | None:
        if not (self.start or self.end):
            return None
        first = self.start or EARLIEST
        last = self.end or (today or datetime.now(zone).date())
        last = max(last, first)

        def midnight(day: date) -> datetime:
            return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)

        return Period(midnight(first), midnight(last + timedelta(days=1)))


def _date(name: str, value: str | None) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DashboardFilterError(
            f"'{name}' must be a date like 2024-03-01, got {value!r}"
        ) from None


def _text(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_VALUE_LENGTH:
        raise DashboardFilterError(f"'{name}' is longer than {MAX_VALUE_LENGTH} characters")
    return value.strip()


@dataclass(frozen=True)
class FilterNote:
    filter: str  # course, organisation, period
    applied: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "filter": self.filter,
            "label": LABELS[self.filter],
            "applied": self.applied,
            "detail": self.detail,
        }


def apply_filters(
    definition: ReportDefinition,
    spec: ReportTypeSpec,
    filters: DashboardFilters,
    zone: ZoneInfo,
) -> tuple[ReportDefinition, Period | None, list[FilterNote]]:
    """`definition` narrowed by the dashboard filters, its period, and what was (not) applied."""
    notes: list[FilterNote] = []
    merged: dict[str, Any] = dict(definition.filters)
    for name, field in FIELDS.items():
        value = getattr(filters, name)
        if value is None:
            continue
        if field in spec.filters:
            merged[field] = narrow(merged.get(field), value)
            notes.append(FilterNote(name, True, f"{field} = {value}"))
        else:
            notes.append(
                FilterNote(
                    name,
                    False,
                    f"{spec.type.value} data has no {field} field, so this widget shows "
                    f"every {LABELS[name].lower()}",
                )
            )
    period = filters.period(zone)
    if period is not None:
        what = (
            "rows updated in the range (figures are cumulative)"
            if spec.date_field == "updated_at"
            else f"{spec.date_field} in the range"
        )
        notes.append(FilterNote("period", True, what))
    return dataclasses.replace(definition, filters=merged), period, notes


def narrow(current: Any, value: str) -> Any:
    """`current` (a filter of the engine's syntax, or None) ANDed with `= value`."""
    if current is None:
        return value
    operators: dict[str, Any]
    if isinstance(current, Mapping):
        operators = dict(current)
    elif isinstance(current, list):
        operators = {"in": current}
    else:
        operators = {"eq": current}
    if operators.get("eq") == value:
        return operators
    if "eq" not in operators:
        operators["eq"] = value
    elif "in" not in operators:
        operators["in"] = [value]
    else:  # `= other` and `in [...]` already: no room for a third condition on the field
        raise DashboardFilterError(
            f"the dashboard filter {value!r} cannot be combined with this widget's own filter "
            f"({operators}); nothing would match both"
        )
    return operators


def _operators(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        return {"in": value}
    return {"eq": value}


def with_widget_filters(
    definition: ReportDefinition, widget_filters: Mapping[str, Any]
) -> ReportDefinition:
    """The source's definition with the widget's own filters (`DashboardWidget.filters`, the
    engine's filter syntax) ANDed in; the engine checks their names and values."""
    if not widget_filters:
        return definition
    merged: dict[str, Any] = dict(definition.filters)
    for field, value in widget_filters.items():
        if field not in merged:
            merged[field] = value
            continue
        operators = _operators(merged[field])
        for operator, operand in _operators(value).items():
            if operator in operators and operators[operator] != operand:
                raise DashboardFilterError(
                    f"the widget's filter on {field!r} ({operator} {operand!r}) contradicts its "
                    f"source's ({operator} {operators[operator]!r})"
                )
            operators[operator] = operand
        merged[field] = operators
    return dataclasses.replace(definition, filters=merged)
