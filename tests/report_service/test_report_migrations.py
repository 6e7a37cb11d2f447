"""Alembic migrations of the report metadata: up to head, down to base, up again; the CLI."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from typer.testing import CliRunner

from lms_analytics.settings import Settings
from lms_analytics.stack.environment import settings_environment
from report_service.cli import db_app
from report_service.db import downgrade, upgrade
from report_service.db.migrate import (
    VERSION_TABLE,
    check_up_to_date,
    current_revision,
    head_revision,
)
from report_service.db.models import Base
from report_service.db.session import sqlalchemy_url
from report_service.errors import DatabaseError

TABLES = {"reports", "report_schedules", "report_executions", "dashboards", "dashboard_widgets"}


def _tables(settings: Settings) -> set[str]:
    with psycopg.connect(settings.postgres_dsn) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def _differences(settings: Settings) -> list[object]:
    engine = create_engine(sqlalchemy_url(settings.postgres_dsn))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def empty_db(fresh_database: Callable[[str], Settings]) -> Settings:
    return fresh_database("migrations")


def test_upgrade_down_to_base_and_up_again_leaves_the_models_schema(empty_db: Settings) -> None:
    assert current_revision(empty_db) is None
    with pytest.raises(DatabaseError, match="lms-analytics db upgrade"):
        check_up_to_date(empty_db)

    upgrade(empty_db)
    assert _tables(empty_db) == TABLES | {VERSION_TABLE}
    assert current_revision(empty_db) == head_revision(empty_db)
    assert _differences(empty_db) == []  # the migrations build exactly what the models say
    check_up_to_date(empty_db)

    downgrade(empty_db, "base")
    assert _tables(empty_db) == {VERSION_TABLE}
    assert current_revision(empty_db) is None

    upgrade(empty_db)
    assert _tables(empty_db) == TABLES | {VERSION_TABLE}
    assert _differences(empty_db) == []


def test_db_cli_upgrades_and_downgrades_the_configured_database(
    fresh_database: Callable[[str], Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = fresh_database("cli")
    for key, value in settings_environment(settings).items():
        if value is not None:
            monkeypatch.setenv(key, value)
    runner = CliRunner()

    result = runner.invoke(db_app, ["upgrade"])
    assert result.exit_code == 0, result.output
    assert f"is at revision {head_revision(settings)}" in result.output
    assert _tables(settings) >= TABLES

    result = runner.invoke(db_app, ["downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert _tables(settings) == {VERSION_TABLE}

    result = runner.invoke(db_app, ["current"])
    assert f"current: base, latest: {head_revision(settings)}" in result.output


def test_unreachable_database_is_one_actionable_error(settings_factory: Callable) -> None:
    settings = settings_factory(postgres_url="postgresql://postgres@127.0.0.1:9/nowhere")
    with pytest.raises(DatabaseError, match=r"cannot reach PostgreSQL at .*lms-analytics stack up"):
        upgrade(settings)
