"""The database itself refuses bad rows (CHECKs, NOT NULLs, keys) and applies ON DELETE rules.

Rows go in with plain SQL, as a future writer that bypasses the API would send them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from lms_analytics.settings import Settings
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


@pytest.fixture
def conn(api_settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection in one transaction, rolled back after the test."""
    with psycopg.connect(api_settings.postgres_dsn) as connection:
        yield connection
        connection.rollback()


def insert(conn: psycopg.Connection, table: str, **values: Any) -> uuid.UUID:
    values = {k: Jsonb(v) if isinstance(v, dict) else v for k, v in values.items()}
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    row = conn.execute(statement, list(values.values())).fetchone()
    assert row is not None
    return row[0]


def report(conn: psycopg.Connection, **values: Any) -> uuid.UUID:
    row = {
        "org_id": "org-a",
        "name": "R",
        "type": "course",
        "metrics": ["enrollments"],
        "created_by": "alice",
        **values,
    }
    return insert(conn, "reports", **row)


def schedule(conn: psycopg.Connection, **values: Any) -> uuid.UUID:
    row = {"report_id": report(conn), "frequency": "daily", **values}
    return insert(conn, "report_schedules", **row)


def execution(conn: psycopg.Connection, **values: Any) -> uuid.UUID:
    return insert(conn, "report_executions", **{"report_id": report(conn), **values})


def dashboard(conn: psycopg.Connection, **values: Any) -> uuid.UUID:
    row = {"org_id": "org-a", "name": "D", "created_by": "alice", **values}
    return insert(conn, "dashboards", **row)


def widget(conn: psycopg.Connection, **values: Any) -> uuid.UUID:
    row = {
        "dashboard_id": dashboard(conn),
        "type": "chart",
        "title": "W",
        "data_source_type": "query",
        "data_source": "enrollments by course",
        "visualization": "bar",
        "position_x": 0,
        "position_y": 0,
        "position_width": 4,
        "position_height": 3,
        **values,
    }
    return insert(conn, "dashboard_widgets", **row)


WRITERS = {
    "reports": report,
    "report_schedules": schedule,
    "report_executions": execution,
    "dashboards": dashboard,
    "dashboard_widgets": widget,
}

BAD_ROWS = [
    ("reports", {"type": "student"}, "type"),
    ("reports", {"format": "xlsx"}, "format"),
    ("reports", {"sort_direction": "up"}, "sort_direction"),
    ("reports", {"limit": 0}, "limit_range"),
    ("reports", {"limit": 1_000_001}, "limit_range"),
    ("reports", {"metrics": []}, "metrics_not_empty"),
    ("reports", {"sort_by": "dropouts"}, "sort_by_selected"),
    ("reports", {"name": "   "}, "name_not_blank"),
    ("reports", {"filters": Jsonb([1, 2])}, "filters_object"),
    ("report_schedules", {"frequency": "hourly"}, "frequency"),
    ("report_schedules", {"frequency": "weekly", "day_of_week": 7}, "day_of_week_range"),
    ("report_schedules", {"frequency": "weekly", "day_of_week": -1}, "day_of_week_range"),
    ("report_schedules", {"frequency": "monthly", "day_of_month": 0}, "day_of_month_range"),
    ("report_schedules", {"frequency": "monthly", "day_of_month": 32}, "day_of_month_range"),
    ("report_schedules", {"hour": 24}, "hour_range"),
    ("report_schedules", {"hour": -1}, "hour_range"),
    ("report_schedules", {"minute": 60}, "minute_range"),
    ("report_schedules", {"frequency": "weekly"}, "day_of_week_for_weekly"),
    ("report_schedules", {"day_of_week": 1}, "day_of_week_for_weekly"),
    ("report_schedules", {"frequency": "monthly"}, "day_of_month_for_monthly"),
    ("report_schedules", {"day_of_month": 1}, "day_of_month_for_monthly"),
    ("report_executions", {"status": "done"}, "status"),
    ("report_executions", {"duration": -1}, "duration_not_negative"),
    (
        "report_executions",
        {"start_time": "2026-01-02T00:00Z", "end_time": "2026-01-01T00:00Z"},
        "end_after_start",
    ),
    ("dashboards", {"name": ""}, "name_not_blank"),
    ("dashboard_widgets", {"type": "map"}, "type"),
    ("dashboard_widgets", {"visualization": "scatter"}, "visualization"),
    ("dashboard_widgets", {"position_x": -1}, "position_x_not_negative"),
    ("dashboard_widgets", {"position_y": -1}, "position_y_not_negative"),
    ("dashboard_widgets", {"position_width": 0}, "position_width_positive"),
    ("dashboard_widgets", {"position_height": 0}, "position_height_positive"),
    ("dashboard_widgets", {"data_source_type": "sql"}, "data_source_type"),
    ("dashboard_widgets", {"data_source": " "}, "data_source_not_blank"),
    ("dashboard_widgets", {"title": ""}, "title_not_blank"),
    ("dashboard_widgets", {"filters": Jsonb("x")}, "filters_object"),
]


@pytest.mark.parametrize(
    ("table", "values", "check"),
    BAD_ROWS,
    ids=[f"{table}-{check}-{'-'.join(map(str, v.values()))}" for table, v, check in BAD_ROWS],
)
def test_check_constraint_rejects_bad_row(
    conn: psycopg.Connection, table: str, values: dict[str, Any], check: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as raised:
        WRITERS[table](conn, **values)
    assert isinstance(raised.value, psycopg.IntegrityError)
    assert raised.value.diag.constraint_name == f"ck_{table}_{check}"


def test_widget_report_source_must_match_its_report_id(conn: psycopg.Connection) -> None:
    report_id = report(conn)
    with pytest.raises(psycopg.errors.CheckViolation) as raised:
        widget(conn, data_source_type="report", data_source=str(uuid.uuid4()), report_id=report_id)
    assert raised.value.diag.constraint_name == "ck_dashboard_widgets_report_source"


def test_query_widget_cannot_point_at_a_report(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as raised:
        widget(conn, data_source_type="query", report_id=report(conn))
    assert raised.value.diag.constraint_name == "ck_dashboard_widgets_report_source"


@pytest.mark.parametrize(
    ("table", "column", "values"),
    [
        ("reports", "type", list(ReportType)),
        ("reports", "format", list(ReportFormat)),
        ("reports", "sort_direction", list(SortDirection)),
        ("report_executions", "status", list(ExecutionStatus)),
        ("dashboard_widgets", "type", list(WidgetType)),
        ("dashboard_widgets", "visualization", list(Visualization)),
    ],
)
def test_every_value_the_api_accepts_the_database_accepts(
    conn: psycopg.Connection, table: str, column: str, values: list[str]
) -> None:
    for value in values:
        WRITERS[table](conn, **{column: str(value)})


def test_every_schedule_shape_the_api_accepts_the_database_accepts(
    conn: psycopg.Connection,
) -> None:
    schedule(conn, frequency=Frequency.DAILY.value, hour=0, minute=0)
    schedule(conn, frequency=Frequency.WEEKLY.value, day_of_week=0, hour=23, minute=59)
    schedule(conn, frequency=Frequency.WEEKLY.value, day_of_week=6)
    schedule(conn, frequency=Frequency.MONTHLY.value, day_of_month=1)
    schedule(conn, frequency=Frequency.MONTHLY.value, day_of_month=31)
    report_id = report(conn)
    widget(
        conn,
        data_source_type=DataSourceType.REPORT.value,
        data_source=str(report_id),
        report_id=report_id,
    )


@pytest.mark.parametrize(
    ("table", "column"),
    [("reports", "created_by"), ("reports", "org_id"), ("dashboards", "created_by")],
)
def test_owner_and_organisation_are_required(
    conn: psycopg.Connection, table: str, column: str
) -> None:
    with pytest.raises(psycopg.errors.NotNullViolation):
        WRITERS[table](conn, **{column: None})


def test_a_report_has_at_most_one_schedule(conn: psycopg.Connection) -> None:
    report_id = report(conn)
    insert(conn, "report_schedules", report_id=report_id, frequency="daily")
    with pytest.raises(psycopg.errors.UniqueViolation) as raised:
        insert(conn, "report_schedules", report_id=report_id, frequency="daily")
    assert raised.value.diag.constraint_name == "uq_report_schedules_report_id"


def test_rows_must_point_at_existing_parents(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        insert(conn, "report_executions", report_id=uuid.uuid4())


def _count(conn: psycopg.Connection, query: str, *params: Any) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def test_deleting_a_report_deletes_its_schedule_and_executions_and_unlinks_widgets(
    conn: psycopg.Connection,
) -> None:
    report_id = report(conn)
    insert(conn, "report_schedules", report_id=report_id, frequency="daily")
    insert(conn, "report_executions", report_id=report_id, status="completed")
    widget_id = widget(
        conn, data_source_type="report", data_source=str(report_id), report_id=report_id
    )

    conn.execute("DELETE FROM reports WHERE id = %s", (report_id,))

    assert (
        _count(conn, "SELECT count(*) FROM report_schedules WHERE report_id = %s", report_id) == 0
    )
    assert (
        _count(conn, "SELECT count(*) FROM report_executions WHERE report_id = %s", report_id) == 0
    )
    row = conn.execute(
        "SELECT report_id, data_source FROM dashboard_widgets WHERE id = %s", (widget_id,)
    ).fetchone()
    assert row == (None, str(report_id))  # the widget stays and remembers its source


def test_deleting_a_dashboard_deletes_its_widgets(conn: psycopg.Connection) -> None:
    dashboard_id = dashboard(conn)
    widget(conn, dashboard_id=dashboard_id)
    widget(conn, dashboard_id=dashboard_id)

    conn.execute("DELETE FROM dashboards WHERE id = %s", (dashboard_id,))

    assert (
        _count(conn, "SELECT count(*) FROM dashboard_widgets WHERE dashboard_id = %s", dashboard_id)
        == 0
    )


def test_lookups_have_their_indexes(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    ).fetchall()
    definitions = dict(rows)
    expected = {
        "ix_report_executions_report_id_created_at": "(report_id, created_at DESC)",
        "ix_report_schedules_due": "(next_run_at) WHERE active",
        "ix_dashboards_org_id_created_by": "(org_id, created_by)",
        "ix_dashboards_org_id_public": "(org_id) WHERE is_public",
        "ix_dashboard_widgets_dashboard_id": "(dashboard_id)",
        "ix_dashboard_widgets_report_id": "(report_id)",
        "ix_reports_org_id_created_at": "(org_id, created_at DESC)",
    }
    for name, columns in expected.items():
        assert definitions[name].endswith(columns), definitions[name]
