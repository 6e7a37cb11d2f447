"""Hand-made marts for the dashboard tests (API and browser): a small school in March 2024.

A scratch ClickHouse database with `course_analytics`, `quiz_analytics` and `user_activities`
in the dbt marts' column layout; figures are small enough to check by hand:
- revenue (USD) 1200 + 800 + 450 + 960 + 300 = 3710; enrolments 40 + 25 + 18 + 12 + 30 = 125;
- economics-150 was last updated in February (a March date range leaves it out);
- distinct active users per day, 1..7 March: 3, 5, 4, 6, 8, 7, 9 (two activities each).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

COLUMN_NAME = re.compile(r"([a-z_][a-z0-9_]*) (?=[A-Z])")


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


COURSE_COLUMNS = """
    id String, course_id String, total_enrollments UInt64, active_enrollments UInt64,
    completed_enrollments UInt64, dropped_enrollments UInt64,
    average_completion_rate Nullable(Float64), average_time_to_complete Nullable(Int64),
    total_views UInt64, unique_views UInt64, average_rating Nullable(Float64),
    total_reviews UInt64, revenue Nullable(Float64), currency String, update_count UInt64,
    updated_at DateTime64(3, 'UTC'), created_at DateTime64(3, 'UTC')
"""
# course, total, active, completed, dropped, completion rate, rating, revenue, updated_at
COURSES: list[tuple[Any, ...]] = [
    ("algebra-101", 40, 12, 24, 4, 0.72, 4.4, 1200.0, at(3)),
    ("biology-201", 25, 10, 11, 4, 0.55, 4.1, 800.0, at(5)),
    ("chemistry-110", 18, 9, 6, 3, 0.41, 3.6, 450.0, at(12)),
    ("design-301", 12, 3, 8, 1, 0.83, 4.8, 960.0, at(20)),
    ("economics-150", 30, 20, 5, 5, 0.33, 3.9, 300.0, at(25, month=2)),
]

QUIZ_COLUMNS = """
    id String, course_id String, module_id String, lesson_id String, quiz_id String,
    total_attempts UInt64, unique_attempts UInt64, average_score Nullable(Float64),
    pass_rate Nullable(Float64), average_time_to_complete Nullable(Float64),
    most_missed_questions Array(String), updated_at DateTime64(3, 'UTC'),
    created_at DateTime64(3, 'UTC')
"""
# course, quiz, attempts, unique, score, pass rate, updated_at
QUIZZES: list[tuple[Any, ...]] = [
    ("algebra-101", "quiz-algebra-1", 50, 30, 71.5, 0.8, at(4)),
    ("algebra-101", "quiz-algebra-2", 40, 28, 64.0, 0.65, at(6)),
    ("biology-201", "quiz-biology-1", 30, 20, 58.0, 0.5, at(8)),
    ("chemistry-110", "quiz-chem-1", 20, 15, 45.0, 0.35, at(9)),
]

ACTIVITY_COLUMNS = """
    id String, user_id String, activity_type String, resource_type String,
    resource_id String, action String, duration Int64, client_device_type String,
    client_browser String, client_operating_system String, client_user_agent String,
    client_ip_address String, created_at DateTime64(3, 'UTC')
"""
ACTIVE_USERS_PER_DAY = {1: 3, 2: 5, 3: 4, 4: 6, 5: 8, 6: 7, 7: 9}

TOTAL_REVENUE = 3710.0
TOTAL_ENROLMENTS = 125


def _course_rows() -> list[list[Any]]:
    return [
        [f"id-{c}", c, total, active, done, dropped, rate, 3600, 100, 50, rating, 10, revenue,
         "USD", 1, updated, at(1, month=1)]
        for c, total, active, done, dropped, rate, rating, revenue, updated in COURSES
    ]  # fmt: skip


def _quiz_rows() -> list[list[Any]]:
    return [
        [f"id-{q}", c, "m-1", "l-1", q, n, u, score, rate, 300.0, [], updated, at(1, month=1)]
        for c, q, n, u, score, rate, updated in QUIZZES
    ]


def _activity_rows() -> list[list[Any]]:
    rows = []
    for day, users in ACTIVE_USERS_PER_DAY.items():
        for user in range(users):
            for hour in (9, 15):  # two activities per user and day
                rows.append(
                    [f"a-{day}-{user}-{hour}", f"u-{user}", "page_view", "course",
                     "algebra-101", "view", 60, "desktop", "Firefox", "Linux", "Mozilla/5.0",
                     "10.0.0.1", at(day, hour)]
                )  # fmt: skip
    return rows


def create_dashboard_marts(client: Any) -> str:
    database = f"dash_marts_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE DATABASE {database}")
    tables = {
        "course_analytics": (COURSE_COLUMNS, "course_id", _course_rows()),
        "quiz_analytics": (QUIZ_COLUMNS, "(course_id, quiz_id)", _quiz_rows()),
        "user_activities": (ACTIVITY_COLUMNS, "(user_id, created_at, id)", _activity_rows()),
    }
    for table, (columns, order_by, rows) in tables.items():
        client.command(
            f"CREATE TABLE {database}.{table} ({columns}) ENGINE = MergeTree ORDER BY {order_by}"
        )
        names = COLUMN_NAME.findall(columns)
        client.insert(f"{database}.{table}", rows, column_names=names)
    return database


def drop_dashboard_marts(client: Any, database: str) -> None:
    client.command(f"DROP DATABASE IF EXISTS {database}")


@dataclass(frozen=True)
class Served:
    """The reports API served over the dashboard marts (the browser tests' `served` fixture)."""

    settings: Any
    base_url: str
    app: Any
    marts: str
