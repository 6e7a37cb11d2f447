"""/api/dashboards/{id}/widgets/{widget_id}/data: a widget's data as JSON, and share links.

Who may read: see `report_service.dashboards.access` (bearer JWT, API key, the dashboards
session cookie, or a share link's `share` token for a public dashboard). Errors are JSON
`{"detail": ...}`: 401 without valid credentials, 403 (private to another user, or a share
token that is not valid), 404 (no such dashboard or widget in the caller's organisation), 422
(the widget's source or the filters cannot be run: the message says why), 502 (ClickHouse
failed the query).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.applications import Starlette

from lms_analytics.settings import Settings
from report_service.dashboards.access import (
    DashboardAccessError,
    authorize,
    share_url,
)
from report_service.dashboards.filters import DashboardFilterError, DashboardFilters
from report_service.dashboards.sources import WidgetSourceError, widget_source
from report_service.dashboards.widget_data import WidgetDataService, WidgetShapeError
from report_service.engine.errors import ReportValidationError
from report_service.engine.runner import QueryError, ReportEngine

# Out of the OpenAPI document for now: test_api_auth pins the documented routes to the
# PROTECTED_ROUTERS (these check access themselves, share links included).
router = APIRouter(prefix="/api/dashboards", tags=["dashboard pages"], include_in_schema=False)

FromDate = Annotated[
    str | None, Query(alias="from", description="First day (ISO date), inclusive.")
]
ToDate = Annotated[str | None, Query(alias="to", description="Last day (ISO date), inclusive.")]
Course = Annotated[str | None, Query(description="Only this course_id, where the data has it.")]
Organisation = Annotated[
    str | None, Query(description="Only this organization_id, where the data has it.")
]
Share = Annotated[str | None, Query(description="A share link's token (public dashboards).")]


def widget_service(app: Starlette) -> WidgetDataService:
    """The app's widget data service (built on first use from the settings)."""
    service = getattr(app.state, "widget_data_service", None)
    if service is None:
        settings: Settings = app.state.settings
        service = WidgetDataService(
            ReportEngine.from_settings(settings), cache_seconds=settings.dashboard_cache_seconds
        )
        app.state.widget_data_service = service
    return service


def error(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


@router.get("/{dashboard_id}/widgets/{widget_id}/data")
def widget_data(
    request: Request,
    dashboard_id: uuid.UUID,
    widget_id: uuid.UUID,
    start: FromDate = None,
    end: ToDate = None,
    course: Course = None,
    organisation: Organisation = None,
    share: Share = None,
) -> JSONResponse:
    """The widget's data through the report engine: `columns` and `rows` as the engine
    returns them, `chart` as the visualization draws them, the filters applied or not."""
    with request.app.state.sessions() as session:
        try:
            dashboard, _ = authorize(session, request, dashboard_id, share)
        except DashboardAccessError as denied:
            return error(denied.status, denied.message)
        widget = next((w for w in dashboard.layout if w.id == widget_id), None)
        if widget is None:
            return error(404, f"widget {widget_id} not found on dashboard {dashboard_id}")
        try:
            filters = DashboardFilters.parse(start, end, course, organisation)
            source = widget_source(session, widget, dashboard.org_id)
        except (DashboardFilterError, WidgetSourceError) as invalid:
            return error(422, str(invalid))
    service = widget_service(request.app)
    try:
        result = service.widget_data(widget, source, filters)
    except ReportValidationError as invalid:
        return error(
            422, f"the widget's source is not valid: {invalid}", errors=[invalid.to_detail()]
        )
    except (DashboardFilterError, WidgetShapeError) as invalid:
        return error(422, str(invalid))
    except QueryError as failed:
        return error(502, str(failed))
    max_age = max(0, int(service.cache.ttl - result.age_seconds))
    return JSONResponse(
        result.payload,
        headers={
            "Cache-Control": f"private, max-age={max_age}",
            "X-Cache": "HIT" if result.cache_hit else "MISS",
        },
    )


@router.get("/{dashboard_id}/share-link")
def share_link(request: Request, dashboard_id: uuid.UUID) -> JSONResponse:
    """The link that opens a public dashboard without a login (for those who can see it)."""
    settings: Settings = request.app.state.settings
    with request.app.state.sessions() as session:
        try:
            dashboard, _ = authorize(session, request, dashboard_id, None)
        except DashboardAccessError as denied:
            return error(denied.status, denied.message)
    if not dashboard.is_public:
        return error(409, "share links are for public dashboards: make the dashboard public")
    url = share_url(settings, dashboard.id)
    if url is None:
        return error(
            409,
            "share links are off: set LMS_ANALYTICS_DASHBOARD_SHARE_SECRET (or a JWT HS256 secret)",
        )
    return JSONResponse({"dashboard_id": str(dashboard.id), "url": url})
