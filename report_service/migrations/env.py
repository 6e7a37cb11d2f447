"""Alembic environment of the report metadata schema.

Run through `report_service.db.migrate` (which hands over a connection), or by the `alembic`
command with `-c report_service/alembic.ini` (the URL then comes from the settings).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from report_service.db.models import Base
from report_service.db.session import sqlalchemy_url

VERSION_TABLE = "alembic_version_report_service"

config = context.config
target_metadata = Base.metadata
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name)  # the `alembic` command; the CLI has its own logging


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from lms_analytics.settings import get_settings

    return sqlalchemy_url(get_settings().postgres_dsn).render_as_string(hide_password=False)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run_on(connection)
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
