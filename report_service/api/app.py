"""The FastAPI application factory of the reports API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from lms_analytics.settings import Settings, get_settings
from report_service.api.deps import get_principal
from report_service.api.routes import (
    dashboard_pages,
    dashboards,
    executions,
    health,
    report_types,
    reports,
    runs,
)
from report_service.auth import Authenticator
from report_service.db.session import create_db_engine, session_factory
from report_service.scheduling import report_zone

log = logging.getLogger(__name__)

# Every route of these routers requires credentials (health and the docs do not).
PROTECTED_ROUTERS = (
    reports.router,
    executions.router,
    runs.router,
    report_types.router,
    dashboards.router,
)

DESCRIPTION = """\
Saved reports, their schedules and executions, and dashboards of the LMS analytics warehouse.

Authenticate with a bearer JWT of the LMS Auth Service (claims `sub`, `role`, `org`, `exp`) or,
for service accounts, an `X-API-Key`. Roles: `viewer` reads, `analyst` and `admin` also create;
a report or dashboard is changed or deleted by its creator or an admin. Everything is scoped to
the caller's organisation. Errors are JSON: `{"detail": ...}`.
"""


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The API on `settings` (default: from the environment). Nothing connects until used."""
    settings = settings or get_settings()
    authenticator = Authenticator(settings)  # bad key settings fail here, not per request
    zone = report_zone(settings.report_timezone)
    owns_engine = engine is None
    engine = engine or create_db_engine(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="LMS Analytics reports API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.authenticator = authenticator
    app.state.report_zone = zone
    app.state.engine = engine
    app.state.sessions = session_factory(engine)

    app.include_router(health.router)
    authenticated = [Depends(get_principal)]  # runs before any parameter or body is looked at
    for router in PROTECTED_ROUTERS:
        app.include_router(router, dependencies=authenticated)
    # The dashboard pages and widget data API check access themselves (cookie, share links).
    dashboard_pages.install(app)

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, error: IntegrityError) -> JSONResponse:
        # The schemas check what the database checks; this is a race (e.g. a report deleted
        # while a widget pointing at it was saved) or a schema/code mismatch.
        constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
        log.warning("integrity error on constraint %s: %s", constraint, error.orig)
        return JSONResponse(
            {"detail": f"the change conflicts with stored data (constraint {constraint})"},
            status_code=409,
        )

    @app.exception_handler(OperationalError)
    async def _unavailable(_: Request, error: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", error.orig)
        return JSONResponse({"detail": "the report database is unavailable"}, status_code=503)

    return app
