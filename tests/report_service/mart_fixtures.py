"""Hand-written mart tables for the report engine tests, in a scratch ClickHouse database.

Columns are the seed's fields in snake_case (client metadata as `client_*`), as the dbt marts
build them; the rows are small enough to compute every expected figure by hand (see the
comments next to the rows and the EXPECTED_* values).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from report_service.domain import ReportType
from report_service.engine import ChartData, Period, ReportData, ReportDefinition, compile_report
from report_service.renderers import ReportMeta

HOSTILE_VALUES = [
    "'; DROP TABLE course_analytics; --",
    "x' OR '1'='1",
    'double "quoted" \\ backslash',
    "tab\tnew\nline\rcarriage",
    "{p0:String} and {row_limit:UInt64}",
    "`backtick` /* comment */ -- rest",
    "ünïcödé ☃ 漢字",
    "%(name)s %s {}",
]


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


COURSE_COLUMNS = """
    id String,
    course_id String,
    total_enrollments UInt64,
    active_enrollments UInt64,
    completed_enrollments UInt64,
    dropped_enrollments UInt64,
    average_completion_rate Nullable(Float64),
    average_time_to_complete Nullable(Int64),
    total_views UInt64,
    unique_views UInt64,
    average_rating Nullable(Float64),
    total_reviews UInt64,
    revenue Nullable(Float64),
    currency String,
    update_count UInt64,
    updated_at DateTime64(3, 'UTC'),
    created_at DateTime64(3, 'UTC')
"""
# course, enrolments (total, active, completed, dropped), completion rate, time to complete,
# views, unique views, rating, reviews, revenue, currency, updated_at
COURSE_ROWS: list[tuple[Any, ...]] = [
    ("c-1", 4, 1, 2, 1, 0.75, 3600, 10, 5, 4.5, 2, 100.0, "USD", at(2)),
    ("c-2", 2, 2, 0, 0, 0.25, None, 4, 3, None, 0, 50.5, "USD", at(5)),
    ("c-3", 0, 0, 0, 0, None, None, 1, 1, 3.0, 1, None, "USD", at(10, month=2)),
    ("c-4", 6, 0, 6, 0, 1.0, 7200, 20, 8, 5.0, 4, 300.0, "EUR", at(6)),
]

SESSION_COLUMNS = """
    id String,
    user_id String,
    start_time DateTime64(3, 'UTC'),
    end_time DateTime64(3, 'UTC'),
    duration Int64,
    page_views UInt64,
    entry_page String,
    exit_page String,
    referrer String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    client_device_type String,
    client_browser String,
    client_operating_system String,
    client_user_agent String,
    client_ip_address String,
    created_at DateTime64(3, 'UTC')
"""
# id, user, start, duration, page views, device, browser, utm_source, referrer
SESSION_ROWS: list[tuple[Any, ...]] = [
    ("s-1", "u-1", at(1, 9), 600, 3, "desktop", "Firefox", "newsletter", ""),
    ("s-2", "u-2", at(1, 23, 30), 300, 1, "mobile", "Safari", "", "https://search.example"),
    ("s-3", "u-1", at(2, 10), 900, 5, "desktop", "Chrome", "newsletter", ""),
    ("s-4", "u-3", at(3, 12), 0, 1, "tablet", "Firefox", "", HOSTILE_VALUES[0]),
]

ACTIVITY_COLUMNS = """
    id String,
    user_id String,
    activity_type String,
    resource_type String,
    resource_id String,
    action String,
    duration Int64,
    client_device_type String,
    client_browser String,
    client_operating_system String,
    client_user_agent String,
    client_ip_address String,
    created_at DateTime64(3, 'UTC')
"""


def _session_row(row: tuple[Any, ...]) -> list[Any]:
    sid, user, start, duration, views, device, browser, utm, referrer = row
    end = datetime.fromtimestamp(start.timestamp() + duration, UTC)
    return [
        sid,
        user,
        start,
        end,
        duration,
        views,
        "https://lms.example/a",
        "https://lms.example/b",
        referrer,
        utm,
        "",
        "",
        device,
        browser,
        "Linux",
        "Mozilla/5.0",
        "10.0.0.1",
        start,
    ]


def _course_row(row: tuple[Any, ...]) -> list[Any]:
    *values, updated_at = row
    return [f"id-{values[0]}", *values, 1, updated_at, at(1, month=1)]


def _activity_rows() -> list[list[Any]]:
    """One activity per hostile resource id (so each must match exactly its own row)."""
    return [
        [
            f"a-{index}",
            f"u-{index}",
            "page_view",
            "page",
            value,
            "view",
            index * 10,
            "desktop",
            "Firefox",
            "Linux",
            "Mozilla/5.0",
            "10.0.0.1",
            at(1 + index),
        ]
        for index, value in enumerate(HOSTILE_VALUES)
    ]


def create_marts(client: Any) -> str:
    """A scratch database holding course_analytics, sessions and user_activities."""
    database = f"rs_marts_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE DATABASE {database}")
    tables = {
        "course_analytics": (COURSE_COLUMNS, "course_id", [_course_row(r) for r in COURSE_ROWS]),
        "sessions": (
            SESSION_COLUMNS,
            "(user_id, start_time, id)",
            [_session_row(r) for r in SESSION_ROWS],
        ),
        "user_activities": (ACTIVITY_COLUMNS, "(user_id, created_at, id)", _activity_rows()),
    }
    for table, (columns, order_by, rows) in tables.items():
        client.command(
            f"CREATE TABLE {database}.{table} ({columns}) ENGINE = MergeTree ORDER BY {order_by}"
        )
        names = [line.split()[0] for line in columns.strip().splitlines()]
        client.insert(f"{database}.{table}", rows, column_names=names)
    return database


def drop_marts(client: Any, database: str) -> None:
    client.command(f"DROP DATABASE IF EXISTS {database}")


# --- report data for the renderers and mail (no ClickHouse needed) ---------------------------

GENERATED = datetime(2024, 3, 8, 7, 30, tzinfo=UTC)
WEEK = Period(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC))
COURSE_ROWS_FOR_FILES = [
    ("c-1", 4, 0.75, 100.0, 3600),
    ('c-2, "quoted"', 2, 0.25, 50.5, None),
    ("line\nbreak ünïcödé", 0, None, None, None),
    ('=HYPERLINK("http://evil")', 6, 1.0, 300.0, 7200),
]


def course_data(rows: list[tuple] = COURSE_ROWS_FOR_FILES, *, chart: bool = True) -> ReportData:
    query = compile_report(
        ReportDefinition(
            "course",
            ["total_enrollments", "average_completion_rate", "revenue", "average_time_to_complete"],
            ["course_id"],
        )
    )
    points = [(row[0], row[1]) for row in rows]
    chart_data = ChartData(query.columns[0], query.columns[1], points, False) if chart else None
    return ReportData(query.columns, rows, ReportType.COURSE, chart_data)


def meta(**overrides: Any) -> ReportMeta:
    values: dict[str, Any] = {
        "name": "Weekly course completion",
        "type": "course",
        "generated_at": GENERATED,
        "description": "Enrolments and completion per course, for the deans.",
        "period": WEEK,
        "report_id": "6f1c1a8e-3b7e-4c55-9d0a-2b8f0c1d2e3f",
        "filters": {"revenue": {"gte": 0}},
    }
    values.update(overrides)
    return ReportMeta(**values)
