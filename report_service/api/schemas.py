"""Request and response bodies. Validation mirrors the database's CHECK constraints.

Field names are the seed's, in snake_case. Updates are PATCHes: the fields sent replace the
stored ones, then the whole result is validated again (`*Fields` models), so cross-field rules
(a weekly schedule needs its day, `sort_by` must be a selected column) hold after any update.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from report_service import domain
from report_service.domain import (
    DataSourceType,
    ExecutionStatus,
    Frequency,
    ReportFormat,
    ReportType,
    SortDirection,
    Visualization,
    WidgetType,
)

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=domain.NAME_MAX_LENGTH),
]
Description = Annotated[str, StringConstraints(max_length=5_000)]
# Metric and dimension names are checked against the report type's catalog by the engine;
# here only their shape: mart column names.
ColumnName = Annotated[
    str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$", min_length=1, max_length=63)
]
Filters = Annotated[
    dict[str, Any],
    Field(
        description='Filters as a JSON object, e.g. {"course_id": "c-1"}; the report engine'
        " validates keys and values for the report type.",
        max_length=100,
    ),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_duplicates(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    duplicates: set[str] = set()
    for value in values:
        (duplicates if value in seen else seen).add(value)
    if duplicates:
        raise ValueError(f"{what} listed more than once: {', '.join(sorted(duplicates))}")
    return values


# --- schedules --------------------------------------------------------------------------------


class ScheduleIn(_Input):
    """When the report runs (times in the report time zone) and who receives it by email."""

    frequency: Frequency
    day_of_week: Annotated[
        int | None,
        Field(
            ge=domain.DAY_OF_WEEK[0],
            le=domain.DAY_OF_WEEK[1],
            validate_default=True,
            description="Weekly schedules only; 0 is Sunday.",
        ),
    ] = None
    day_of_month: Annotated[
        int | None,
        Field(
            ge=domain.DAY_OF_MONTH[0],
            le=domain.DAY_OF_MONTH[1],
            validate_default=True,
            description="Monthly schedules only; past the end of a short month: its last day.",
        ),
    ] = None
    hour: Annotated[int, Field(ge=domain.HOUR[0], le=domain.HOUR[1])] = 0
    minute: Annotated[int, Field(ge=domain.MINUTE[0], le=domain.MINUTE[1])] = 0
    recipients: Annotated[list[EmailStr], Field(max_length=100)] = []
    active: bool = True

    @field_validator("day_of_week", "day_of_month")
    @classmethod
    def _day_matches_frequency(cls, value: int | None, info: ValidationInfo) -> int | None:
        frequency = info.data.get("frequency")
        if frequency is None:  # itself invalid, already reported
            return value
        needed_by = Frequency.WEEKLY if info.field_name == "day_of_week" else Frequency.MONTHLY
        if frequency is needed_by and value is None:
            raise ValueError(f"a {needed_by} schedule needs {info.field_name}")
        if frequency is not needed_by and value is not None:
            raise ValueError(
                f"{info.field_name} is only for {needed_by} schedules; leave it out or null"
            )
        return value

    @field_validator("recipients")
    @classmethod
    def _unique_recipients(cls, recipients: list[str]) -> list[str]:
        return _no_duplicates(recipients, "recipients")


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    report_id: uuid.UUID
    frequency: Frequency
    day_of_week: int | None
    day_of_month: int | None
    hour: int
    minute: int
    recipients: list[str]
    active: bool
    last_run_at: datetime | None
    next_run_at: datetime | None = Field(description="None while the schedule is inactive.")
    created_at: datetime
    updated_at: datetime


# --- reports ----------------------------------------------------------------------------------


class ReportFields(_Input):
    """A report's own fields, validated together."""

    name: Name
    description: Description = ""
    type: ReportType
    filters: Filters = {}
    metrics: Annotated[list[ColumnName], Field(min_length=1, max_length=50)]
    dimensions: Annotated[list[ColumnName], Field(max_length=20)] = []
    sort_by: ColumnName | None = None
    sort_direction: SortDirection = SortDirection.DESC
    limit: Annotated[
        int | None,
        Field(
            ge=domain.REPORT_ROW_LIMIT[0],
            le=domain.REPORT_ROW_LIMIT[1],
            description="At most this many rows; none: all rows.",
        ),
    ] = None
    format: ReportFormat = ReportFormat.CSV

    @field_validator("metrics", "dimensions")
    @classmethod
    def _unique_columns(cls, values: list[str]) -> list[str]:
        return _no_duplicates(values, "columns")

    @field_validator("sort_by")
    @classmethod
    def _sort_by_is_selected(cls, sort_by: str | None, info: ValidationInfo) -> str | None:
        selected = [*info.data.get("metrics", []), *info.data.get("dimensions", [])]
        if sort_by is not None and "metrics" in info.data and sort_by not in selected:
            raise ValueError(
                f"sort_by {sort_by!r} must be one of the report's metrics or dimensions"
            )
        return sort_by


class ReportCreate(ReportFields):
    schedule: ScheduleIn | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Weekly course completion",
                    "type": "course",
                    "filters": {"course_id": "course-42"},
                    "metrics": ["enrollments", "completion_rate"],
                    "dimensions": ["course_id"],
                    "sort_by": "completion_rate",
                    "format": "csv",
                    "schedule": {
                        "frequency": "weekly",
                        "day_of_week": 1,
                        "hour": 8,
                        "recipients": ["dean@example.edu"],
                    },
                }
            ]
        }
    )


class ReportUpdate(_Input):
    """Fields to change. `schedule`: an object replaces the schedule, null removes it."""

    name: Name | None = None
    description: Description | None = None
    type: ReportType | None = None
    filters: Filters | None = None
    metrics: Annotated[list[ColumnName], Field(min_length=1, max_length=50)] | None = None
    dimensions: Annotated[list[ColumnName], Field(max_length=20)] | None = None
    sort_by: ColumnName | None = None
    sort_direction: SortDirection | None = None
    limit: Annotated[
        int | None, Field(ge=domain.REPORT_ROW_LIMIT[0], le=domain.REPORT_ROW_LIMIT[1])
    ] = None
    format: ReportFormat | None = None
    schedule: ScheduleIn | None = None


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    org_id: str
    name: str
    description: str
    type: ReportType
    filters: dict[str, Any]
    metrics: list[str]
    dimensions: list[str]
    sort_by: str | None
    sort_direction: SortDirection
    limit: int | None
    schedule: ScheduleOut | None
    format: ReportFormat
    created_by: str
    created_at: datetime
    updated_at: datetime


class ExecutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    report_id: uuid.UUID
    status: ExecutionStatus
    start_time: datetime | None
    end_time: datetime | None
    duration: int | None = Field(description="Seconds.")
    result_url: str | None
    error: str | None
    period_start: datetime | None = Field(description="Start of the period covered (NULL: all).")
    period_end: datetime | None = Field(description="End of the period covered (exclusive).")
    dagster_run_id: str | None = Field(
        description="The Dagster run of a scheduled or backfilled execution (NULL: run now)."
    )
    created_at: datetime
    updated_at: datetime


# --- dashboards -------------------------------------------------------------------------------


class WidgetPositionSchema(BaseModel):
    """Grid cells: x, y from the top left (>= 0); width, height (> 0)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", title="WidgetPosition")

    x: Annotated[int, Field(ge=0, le=10_000)]
    y: Annotated[int, Field(ge=0, le=10_000)]
    width: Annotated[int, Field(gt=0, le=10_000)]
    height: Annotated[int, Field(gt=0, le=10_000)]


class WidgetFields(_Input):
    type: WidgetType
    title: Name
    description: Description = ""
    data_source_type: DataSourceType = Field(
        default=DataSourceType.REPORT,
        description="report: `data_source` is the id of a saved report of your organisation;"
        " query: an ad-hoc query, checked by the report engine.",
    )
    data_source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        max_length=20_000
    )
    visualization: Visualization
    filters: Filters = {}
    position: WidgetPositionSchema

    @field_validator("data_source")
    @classmethod
    def _report_source_is_an_id(cls, data_source: str, info: ValidationInfo) -> str:
        if info.data.get("data_source_type") is DataSourceType.REPORT:
            try:
                return str(uuid.UUID(data_source))
            except ValueError:
                raise ValueError(
                    "must be a report id (UUID) when data_source_type is 'report'"
                ) from None
        return data_source


class WidgetCreate(WidgetFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "chart",
                    "title": "Completions per course",
                    "data_source_type": "report",
                    "data_source": "6f1c1a8e-3b7e-4c55-9d0a-2b8f0c1d2e3f",
                    "visualization": "bar",
                    "position": {"x": 0, "y": 0, "width": 6, "height": 4},
                }
            ]
        }
    )


class WidgetUpdate(_Input):
    type: WidgetType | None = None
    title: Name | None = None
    description: Description | None = None
    data_source_type: DataSourceType | None = None
    data_source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = (
        None
    )
    visualization: Visualization | None = None
    filters: Filters | None = None
    position: WidgetPositionSchema | None = None


class WidgetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    dashboard_id: uuid.UUID
    type: WidgetType
    title: str
    description: str
    data_source_type: DataSourceType
    data_source: str
    report_id: uuid.UUID | None = Field(
        description="The saved report shown; null for a query, or when the report was deleted."
    )
    visualization: Visualization
    filters: dict[str, Any]
    position: WidgetPositionSchema
    created_at: datetime
    updated_at: datetime


class DashboardFields(_Input):
    name: Name
    description: Description = ""
    is_public: bool = Field(
        default=False, description="Public: seen by everyone in the organisation."
    )


class DashboardCreate(DashboardFields):
    layout: Annotated[list[WidgetCreate], Field(max_length=100)] = []


class DashboardUpdate(_Input):
    """Fields to change; widgets are changed through /dashboards/{id}/widgets."""

    name: Name | None = None
    description: Description | None = None
    is_public: bool | None = None


class DashboardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    org_id: str
    name: str
    description: str
    layout: list[WidgetOut]
    created_by: str
    is_public: bool
    created_at: datetime
    updated_at: datetime


# --- lists and errors -------------------------------------------------------------------------

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int = Field(description="Matching items in all pages.")
    limit: int
    offset: int


class ErrorOut(BaseModel):
    detail: str
