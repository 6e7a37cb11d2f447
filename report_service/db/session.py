"""Engines and sessions for the report metadata database (psycopg 3 driver)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from lms_analytics.settings import Settings
from report_service.errors import ConfigurationError


def sqlalchemy_url(dsn: str) -> URL:
    """`postgresql://...` (or `postgres://`, or any `postgresql+driver://`) on psycopg 3."""
    try:
        url = make_url(dsn)
    except ArgumentError:
        raise ConfigurationError(
            "LMS_ANALYTICS_POSTGRES_URL must be a URL like "
            "postgresql://user:password@host:5432/database"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"the report metadata needs PostgreSQL, not {url.get_backend_name()!r}: "
            "set LMS_ANALYTICS_POSTGRES_URL to a postgresql:// URL"
        )
    return url.set(drivername="postgresql+psycopg")


def create_db_engine(settings: Settings, **kwargs: object) -> Engine:
    """An engine on `settings.postgres_dsn`; connections are checked before use."""
    options: dict[str, object] = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
    options.update(kwargs)
    return create_engine(sqlalchemy_url(settings.postgres_dsn), **options)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (the API serialises them then)."""
    return sessionmaker(engine, expire_on_commit=False)
