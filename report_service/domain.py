"""The vocabulary of saved reports and dashboards, shared by the database checks and the API.

The SQLAlchemy models build their CHECK constraints from these values and the API schemas
validate against them, so a request the database would refuse is answered with a 422 first.
(Migrations spell the values out: a change here needs a new migration.)
"""

from __future__ import annotations

from enum import StrEnum


class ReportType(StrEnum):
    """What a report is about: one per analytics mart of the seed (metadata, not a catalog)."""

    USER = "user"
    COURSE = "course"
    MODULE = "module"
    LESSON = "lesson"
    QUIZ = "quiz"
    QUESTION = "question"
    ASSIGNMENT = "assignment"
    ORGANIZATION = "organization"
    SESSIONS = "sessions"
    PAGE_VIEWS = "page_views"
    ACTIVITIES = "activities"


class ReportFormat(StrEnum):
    CSV = "csv"
    PDF = "pdf"
    JSON = "json"


class SortDirection(StrEnum):
    ASC = "asc"
    DESC = "desc"


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class WidgetType(StrEnum):
    CHART = "chart"
    METRIC = "metric"
    TABLE = "table"


class Visualization(StrEnum):
    BAR = "bar"
    LINE = "line"
    AREA = "area"
    PIE = "pie"
    TABLE = "table"
    METRIC = "metric"


class DataSourceType(StrEnum):
    """A widget shows a saved report (`data_source` is its id) or an ad-hoc query."""

    REPORT = "report"
    QUERY = "query"


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    VIEWER = "viewer"


# Ranges, inclusive. Day of week: 0 is Sunday, as in the seed.
DAY_OF_WEEK = (0, 6)
DAY_OF_MONTH = (1, 31)
HOUR = (0, 23)
MINUTE = (0, 59)
REPORT_ROW_LIMIT = (1, 1_000_000)
NAME_MAX_LENGTH = 200
