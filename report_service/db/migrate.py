"""Apply the Alembic migrations of the report metadata (no alembic.ini needed).

`upgrade(settings)` is what `lms-analytics db upgrade`, the stack and the demo call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from lms_analytics.settings import Settings
from lms_analytics.stack.environment import redact_url
from report_service.db.session import sqlalchemy_url
from report_service.errors import DatabaseError

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "report_service:migrations"
VERSION_TABLE = "alembic_version_report_service"  # the same as in migrations/env.py


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    url = sqlalchemy_url(settings.postgres_dsn).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def _connection(settings: Settings) -> Iterator[Connection]:
    """One connection in one transaction: all migrations apply, or none (transactional DDL)."""
    engine = create_engine(sqlalchemy_url(settings.postgres_dsn), poolclass=NullPool)
    try:
        try:
            connection = engine.connect()
        except OperationalError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            raise DatabaseError(
                f"cannot reach PostgreSQL at {redact_url(settings.postgres_dsn)} ({reason}). "
                "Start the local stack with `lms-analytics stack up`, or set "
                "LMS_ANALYTICS_POSTGRES_URL."
            ) from None
        with connection, connection.begin():
            yield connection
    finally:
        engine.dispose()


def _run(settings: Settings, action: str, revision: str) -> None:
    config = alembic_config(settings)
    with _connection(settings) as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate the report metadata schema up to `revision` (default: the latest)."""
    log.info("upgrading report metadata at %s to %s", redact_url(settings.postgres_dsn), revision)
    _run(settings, "upgrade", revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Migrate down to `revision` (`-1` for one step, `base` for an empty schema)."""
    log.info("downgrading report metadata at %s to %s", redact_url(settings.postgres_dsn), revision)
    _run(settings, "downgrade", revision)


def current_revision(settings: Settings) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    with _connection(settings) as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def check_up_to_date(settings: Settings) -> None:
    """Raise DatabaseError unless the schema is at the latest revision."""
    current, head = current_revision(settings), head_revision(settings)
    if current != head:
        raise DatabaseError(
            f"the report metadata schema is at revision {current or 'none'}, this code needs "
            f"{head}: run `lms-analytics db upgrade`."
        )
