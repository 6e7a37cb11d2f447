"""Constants and request bodies shared by the report service tests (and their conftest)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from lms_analytics.settings import Settings

SECRET = "test-secret-of-at-least-thirty-two-bytes"
SERVICE_KEY = "svc-key-0123456789"
SERVICE_VIEWER_KEY = "svc-viewer-key-0123456789"


Headers = dict[str, str]


@contextlib.contextmanager
def scratch_marts(
    settings: Settings,
    create: Callable[[Any], str],
    drop: Callable[[Any, str], None],
) -> Iterator[str]:
    """Hand-written marts (`create(client)` -> database) in the stack's ClickHouse, then dropped."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(**settings.clickhouse_client_kwargs())
    database = create(client)
    try:
        yield database
    finally:
        drop(client, database)
        client.close()


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Course completion",
        "description": "Completion per course",
        "type": "course",
        "filters": {"course_id": "course-1"},
        "metrics": ["total_enrollments", "average_completion_rate"],
        "dimensions": ["course_id"],
        "sort_by": "average_completion_rate",
        "sort_direction": "asc",
        "limit": 100,
        "format": "json",
    }
    body.update(overrides)
    return body


def widget_body(data_source: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "chart",
        "title": "Completions",
        "data_source_type": "report",
        "data_source": data_source,
        "visualization": "bar",
        "filters": {},
        "position": {"x": 0, "y": 0, "width": 6, "height": 4},
    }
    body.update(overrides)
    return body


def settings_for(base: Settings, **overrides: Any) -> Settings:
    """`base` with some fields changed (a new object: no cached DSN is carried over)."""
    return Settings(**{**base.model_dump(), **overrides})
