"""PostgreSQL metadata of saved reports and dashboards (SQLAlchemy 2 typed models).

Every field of the seed's Report, ReportSchedule, ReportExecution, Dashboard, DashboardWidget and
WidgetPosition is a column here, in snake_case; `org_id` scopes every row to an organisation.

ON DELETE rules:
- a report's schedule and executions are deleted with it (CASCADE);
- a dashboard's widgets are deleted with it (CASCADE);
- a widget showing a saved report keeps existing when that report is deleted: its `report_id`
  becomes NULL (SET NULL) while `data_source` keeps the old id, so the dashboard shows "source
  deleted" instead of blocking the report's owner (RESTRICT would let anyone's dashboard, even
  a private one its owner cannot see, veto the deletion of a report).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    WriteOnlyMapped,
    composite,
    mapped_column,
    relationship,
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
from report_service.scheduling import next_run_at

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_of(column: str, values: Iterable[StrEnum]) -> str:
    """SQL for `column IN ('a', 'b')` from an enum's values (they hold no quotes)."""
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


def between(column: str, bounds: tuple[int, int], *, nullable: bool = False) -> str:
    condition = f"{column} BETWEEN {bounds[0]} AND {bounds[1]}"
    return f"{column} IS NULL OR {condition}" if nullable else condition


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class _Timestamps:
    """created_at/updated_at: set by Python on ORM writes, by PostgreSQL on raw inserts."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=text("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=text("now()")
    )


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        primary_key=True,
        default=uuid.uuid4,
        server_default=text("gen_random_uuid()"),
    )


class Report(_Timestamps, Base):
    """A saved report configuration (seed: Report)."""

    __tablename__ = "reports"

    id: Mapped[uuid.UUID] = _uuid_pk()
    org_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    type: Mapped[str] = mapped_column(Text)
    filters: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    metrics: Mapped[list[str]] = mapped_column(ARRAY(Text))
    dimensions: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'::text[]")
    )
    sort_by: Mapped[str | None] = mapped_column(Text)
    sort_direction: Mapped[str] = mapped_column(
        Text, default=SortDirection.DESC.value, server_default=SortDirection.DESC.value
    )
    # `limit` is a reserved word: SQLAlchemy quotes it; raw SQL must write "limit".
    limit: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(
        Text, default=ReportFormat.CSV.value, server_default=ReportFormat.CSV.value
    )
    created_by: Mapped[str] = mapped_column(Text)

    schedule: Mapped[ReportSchedule | None] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )
    executions: WriteOnlyMapped[ReportExecution] = relationship(
        back_populates="report", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("btrim(name) <> ''", name="name_not_blank"),
        CheckConstraint(one_of("type", ReportType), name="type"),
        CheckConstraint("jsonb_typeof(filters) = 'object'", name="filters_object"),
        CheckConstraint("cardinality(metrics) >= 1", name="metrics_not_empty"),
        CheckConstraint(
            "sort_by IS NULL OR sort_by = ANY(metrics || dimensions)", name="sort_by_selected"
        ),
        CheckConstraint(one_of("sort_direction", SortDirection), name="sort_direction"),
        CheckConstraint(
            between('"limit"', domain.REPORT_ROW_LIMIT, nullable=True), name="limit_range"
        ),
        CheckConstraint(one_of("format", ReportFormat), name="format"),
        Index("ix_reports_org_id_created_at", "org_id", text("created_at DESC")),
        Index("ix_reports_org_id_created_by", "org_id", "created_by"),
    )


class ReportSchedule(_Timestamps, Base):
    """When a report runs and who receives it (seed: ReportSchedule); one per report."""

    __tablename__ = "report_schedules"

    id: Mapped[uuid.UUID] = _uuid_pk()
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), unique=True
    )
    frequency: Mapped[str] = mapped_column(Text)
    day_of_week: Mapped[int | None] = mapped_column(SmallInteger)
    day_of_month: Mapped[int | None] = mapped_column(SmallInteger)
    hour: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    minute: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    recipients: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'::text[]")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    report: Mapped[Report] = relationship(back_populates="schedule")

    __table_args__ = (
        CheckConstraint(one_of("frequency", Frequency), name="frequency"),
        CheckConstraint(
            between("day_of_week", domain.DAY_OF_WEEK, nullable=True), name="day_of_week_range"
        ),
        CheckConstraint(
            between("day_of_month", domain.DAY_OF_MONTH, nullable=True),
            name="day_of_month_range",
        ),
        CheckConstraint(between("hour", domain.HOUR), name="hour_range"),
        CheckConstraint(between("minute", domain.MINUTE), name="minute_range"),
        # The day fields belong to their frequency: set for it, NULL otherwise.
        CheckConstraint(
            "(frequency = 'weekly') = (day_of_week IS NOT NULL)", name="day_of_week_for_weekly"
        ),
        CheckConstraint(
            "(frequency = 'monthly') = (day_of_month IS NOT NULL)",
            name="day_of_month_for_monthly",
        ),
        # The scheduler's lookup: active schedules that are due.
        Index("ix_report_schedules_due", "next_run_at", postgresql_where=text("active")),
    )

    def advance(self, after: datetime, zone: ZoneInfo) -> None:
        """Set `next_run_at` to the first run after `after` (None while inactive)."""
        self.next_run_at = (
            next_run_at(
                frequency=self.frequency,
                hour=self.hour,
                minute=self.minute,
                day_of_week=self.day_of_week,
                day_of_month=self.day_of_month,
                after=after,
                zone=zone,
            )
            if self.active
            else None
        )


class ReportExecution(_Timestamps, Base):
    """One run of a report (seed: ReportExecution). Written by the report engine."""

    __tablename__ = "report_executions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(
        Text, default=ExecutionStatus.PENDING.value, server_default=ExecutionStatus.PENDING.value
    )
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration: Mapped[int | None] = mapped_column(Integer)  # seconds
    result_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # The period the run covered ([start, end), NULL: all data) and the Dagster run behind a
    # scheduled or backfilled execution (NULL for run-now).
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dagster_run_id: Mapped[str | None] = mapped_column(Text)

    report: Mapped[Report] = relationship(back_populates="executions")

    __table_args__ = (
        CheckConstraint(one_of("status", ExecutionStatus), name="status"),
        CheckConstraint("duration IS NULL OR duration >= 0", name="duration_not_negative"),
        CheckConstraint(
            "start_time IS NULL OR end_time IS NULL OR end_time >= start_time",
            name="end_after_start",
        ),
        CheckConstraint(
            "(period_start IS NULL) = (period_end IS NULL) AND "
            "(period_start IS NULL OR period_end > period_start)",
            name="period_bounds",
        ),
        Index("ix_report_executions_report_id_created_at", "report_id", text("created_at DESC")),
        Index(
            "ix_report_executions_completed_period",
            "report_id",
            "period_start",
            "period_end",
            postgresql_where=text("status = 'completed'"),
        ),
    )

    def mark_running(self, now: datetime | None = None) -> None:
        self.status = ExecutionStatus.RUNNING.value
        self.start_time = now or utcnow()

    def _finish(self, status: ExecutionStatus, now: datetime | None) -> None:
        self.status = status.value
        self.end_time = now or utcnow()
        if self.start_time is None:
            self.start_time = self.end_time
        self.duration = round((self.end_time - self.start_time).total_seconds())

    def mark_completed(self, result_url: str, now: datetime | None = None) -> None:
        self.result_url = result_url
        self.error = None
        self._finish(ExecutionStatus.COMPLETED, now)

    def mark_failed(self, error: str, now: datetime | None = None) -> None:
        self.error = error
        self._finish(ExecutionStatus.FAILED, now)


class Dashboard(_Timestamps, Base):
    """A dashboard (seed: Dashboard); its `layout` is its widgets, top to bottom."""

    __tablename__ = "dashboards"

    id: Mapped[uuid.UUID] = _uuid_pk()
    org_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    layout: Mapped[list[DashboardWidget]] = relationship(
        back_populates="dashboard",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by=lambda: (
            DashboardWidget.position_y,
            DashboardWidget.position_x,
            DashboardWidget.created_at,
            DashboardWidget.id,
        ),
    )

    __table_args__ = (
        CheckConstraint("btrim(name) <> ''", name="name_not_blank"),
        # The listing: the caller's own dashboards plus the organisation's public ones.
        Index("ix_dashboards_org_id_created_by", "org_id", "created_by"),
        Index("ix_dashboards_org_id_public", "org_id", postgresql_where=text("is_public")),
    )

    def visible_to(self, org_id: str, subject: str) -> bool:
        return self.org_id == org_id and (self.is_public or self.created_by == subject)


@dataclass
class WidgetPosition:
    """Seed: WidgetPosition, stored as the widget's position_* columns."""

    x: int
    y: int
    width: int
    height: int


class DashboardWidget(_Timestamps, Base):
    """A widget on a dashboard (seed: DashboardWidget).

    `data_source` is the seed's "report ID or query", told apart by `data_source_type`. For a
    report, `report_id` is the same id as a foreign key; it becomes NULL when the report is
    deleted (the widget then shows that its source is gone).
    """

    __tablename__ = "dashboard_widgets"

    id: Mapped[uuid.UUID] = _uuid_pk()
    dashboard_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dashboards.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    data_source_type: Mapped[str] = mapped_column(Text)
    data_source: Mapped[str] = mapped_column(Text)
    report_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL")
    )
    visualization: Mapped[str] = mapped_column(Text)
    filters: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    position_x: Mapped[int] = mapped_column(Integer)
    position_y: Mapped[int] = mapped_column(Integer)
    position_width: Mapped[int] = mapped_column(Integer)
    position_height: Mapped[int] = mapped_column(Integer)
    position: Mapped[WidgetPosition] = composite(
        "position_x", "position_y", "position_width", "position_height"
    )

    dashboard: Mapped[Dashboard] = relationship(back_populates="layout")

    __table_args__ = (
        CheckConstraint(one_of("type", WidgetType), name="type"),
        CheckConstraint("btrim(title) <> ''", name="title_not_blank"),
        CheckConstraint(one_of("data_source_type", DataSourceType), name="data_source_type"),
        CheckConstraint("btrim(data_source) <> ''", name="data_source_not_blank"),
        CheckConstraint(
            "(data_source_type = 'query' AND report_id IS NULL) OR (data_source_type = 'report'"
            " AND (report_id IS NULL OR data_source = report_id::text))",
            name="report_source",
        ),
        CheckConstraint(one_of("visualization", Visualization), name="visualization"),
        CheckConstraint("jsonb_typeof(filters) = 'object'", name="filters_object"),
        CheckConstraint("position_x >= 0", name="position_x_not_negative"),
        CheckConstraint("position_y >= 0", name="position_y_not_negative"),
        CheckConstraint("position_width > 0", name="position_width_positive"),
        CheckConstraint("position_height > 0", name="position_height_positive"),
        Index("ix_dashboard_widgets_dashboard_id", "dashboard_id"),
        Index(
            "ix_dashboard_widgets_report_id", "report_id"
        ),  # ON DELETE SET NULL looks widgets up by report
    )


__all__ = [
    "Base",
    "Dashboard",
    "DashboardWidget",
    "Report",
    "ReportExecution",
    "ReportSchedule",
    "WidgetPosition",
]
