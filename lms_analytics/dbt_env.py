"""The environment dbt runs with: `dbt_project/profiles.yml` reads its connection from it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from lms_analytics.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def dbt_environment(settings: Settings, target: str | None = None) -> dict[str, str]:
    """Variables for the `lms_analytics` profile, from the project's settings."""
    parts = urlsplit(settings.clickhouse_http_url)
    secure = parts.scheme == "https"
    env = {
        "LMS_ANALYTICS_DBT_CLICKHOUSE_HOST": parts.hostname or "127.0.0.1",
        "LMS_ANALYTICS_DBT_CLICKHOUSE_PORT": str(parts.port or (8443 if secure else 8123)),
        "LMS_ANALYTICS_DBT_CLICKHOUSE_SECURE": "True" if secure else "False",
        "LMS_ANALYTICS_CLICKHOUSE_USER": settings.clickhouse_user,
        "LMS_ANALYTICS_CLICKHOUSE_PASSWORD": settings.clickhouse_password,
    }
    if target is not None:
        env["LMS_ANALYTICS_DBT_TARGET"] = target
    return env
