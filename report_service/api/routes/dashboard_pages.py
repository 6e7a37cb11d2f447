"""The dashboard web pages: /dashboards (index), /dashboards/{id}, the login handoff, static.

Access rules and credentials: `report_service.dashboards.access`. A page the viewer may not
see is an HTML page saying why (401 sign-in needed, 403 forbidden, 404 not found), never a
stack trace or a JSON body.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.exc import OperationalError

from lms_analytics.settings import Settings
from report_service.api.routes import widget_data
from report_service.auth import AuthenticationError
from report_service.dashboards import pages
from report_service.dashboards.access import (
    SHARE_PARAMETER,
    DashboardAccessError,
    Viewer,
    authorize,
    credentials_principal,
    end_session,
    share_url,
    signed_in,
    start_session,
)
from report_service.dashboards.filters import DashboardFilterError, DashboardFilters
from report_service.db.models import Dashboard, DashboardWidget

router = APIRouter(tags=["dashboard pages"], include_in_schema=False)
log = logging.getLogger(__name__)

GRID_COLUMNS = 12
ROW_HEIGHT_PX = 84
MIN_REFRESH_SECONDS = 10
MAX_FORM_BYTES = 16_384


def install(app: FastAPI) -> None:
    """Add the pages, the widget data API and the static files to `app`."""
    app.include_router(router)
    app.include_router(widget_data.router)
    app.mount(pages.STATIC_PREFIX, pages.static_app(), name="dashboard-static")
    pages.library_problem()  # logs an error at start when the charting library is missing


def _safe_next(target: str | None) -> str:
    """Only same-site paths (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboards"


def _unavailable(error: OperationalError) -> HTMLResponse:
    log.error("dashboards: the report database is unavailable: %s", error.orig)
    return pages.error_page(
        503, "Unavailable", "The report database cannot be reached; try again in a minute."
    )


def _denied(request: Request, denied: DashboardAccessError) -> HTMLResponse:
    login = None
    if denied.status == 401:
        login = "/dashboards/login?" + urlencode({"next": request.url.path})
    response = pages.error_page(denied.status, denied.title, denied.message, login_url=login)
    if denied.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


# --- login handoff ----------------------------------------------------------------------------


@router.get("/dashboards/login")
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return pages.render("login.html", next=_safe_next(next), error=None)


@router.post("/dashboards/session")
async def start(request: Request) -> Response:
    """Form POST (`token`, `next`) or `Authorization: Bearer`: keep the JWT in the cookie."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return pages.error_page(413, "Too large", "The sign-in form is too large.")
    form = {key: values[0] for key, values in parse_qs(body.decode(errors="replace")).items()}
    header = request.headers.get("authorization", "")
    token = form.get("token", "").strip()
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    target = _safe_next(form.get("next") or request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    try:
        if not token:
            raise AuthenticationError("paste the access token the LMS gave you")
        start_session(response, request.app.state.settings, token, request.app.state.authenticator)
    except AuthenticationError as error:
        return pages.render("login.html", 401, next=target, error=str(error))
    return response


@router.post("/dashboards/logout")
def logout() -> Response:
    response = RedirectResponse("/dashboards/login", status_code=303)
    end_session(response)
    return response


# --- pages ------------------------------------------------------------------------------------


@router.get("/dashboards")
def index(request: Request) -> HTMLResponse:
    """The organisation's public dashboards and the viewer's own, newest first."""
    try:
        return _index(request)
    except OperationalError as error:
        return _unavailable(error)


def _index(request: Request) -> HTMLResponse:
    try:
        principal = signed_in(request)
    except DashboardAccessError as denied:
        return _denied(request, denied)
    with request.app.state.sessions() as session:
        dashboards = session.scalars(
            select(Dashboard)
            .where(
                Dashboard.org_id == principal.org,
                or_(Dashboard.is_public, Dashboard.created_by == principal.subject),
            )
            .order_by(Dashboard.updated_at.desc(), Dashboard.id)
        ).all()
    return pages.render(
        "index.html", dashboards=dashboards, viewer=Viewer(principal), page_title="Dashboards"
    )


def _widget_view(widget: DashboardWidget, data_url: str) -> dict[str, Any]:
    position = widget.position
    return {
        "id": str(widget.id),
        "title": widget.title,
        "description": widget.description,
        "type": widget.type,
        "visualization": widget.visualization,
        "x": position.x,
        "y": position.y,
        "width": position.width,
        "height": position.height,
        "data_url": data_url,
    }


@router.get("/dashboards/{dashboard_id}")
def dashboard_page(
    request: Request,
    dashboard_id: str,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    course: str | None = None,
    organisation: str | None = None,
    share: str | None = None,
    refresh: int | None = None,
) -> HTMLResponse:
    try:
        return _dashboard_page(
            request, dashboard_id, start, end, course, organisation, share, refresh
        )
    except OperationalError as error:
        return _unavailable(error)


def _dashboard_page(
    request: Request,
    dashboard_id: str,
    start: str | None,
    end: str | None,
    course: str | None,
    organisation: str | None,
    share: str | None,
    refresh: int | None,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    try:
        parsed_id = uuid.UUID(dashboard_id)
    except ValueError:
        return pages.error_page(404, "Not found", f"There is no dashboard {dashboard_id!r}.")
    with request.app.state.sessions() as session:
        try:
            dashboard, viewer = authorize(session, request, parsed_id, share)
        except DashboardAccessError as denied:
            return _denied(request, denied)
        widgets = list(dashboard.layout)
    status_code, filter_error = 200, None
    try:
        filters = DashboardFilters.parse(start, end, course, organisation)
    except DashboardFilterError as invalid:
        status_code, filter_error, filters = 400, str(invalid), DashboardFilters()
    query = filters.query()
    if share:
        query[SHARE_PARAMETER] = share
    suffix = ("?" + urlencode(query)) if query else ""
    base = f"/api/dashboards/{dashboard.id}/widgets"
    views = [_widget_view(w, f"{base}/{w.id}/data{suffix}") for w in widgets]
    columns = max([GRID_COLUMNS, *(v["x"] + v["width"] for v in views)])
    refresh_seconds = settings.dashboard_refresh_seconds if refresh is None else refresh
    if refresh_seconds:
        refresh_seconds = max(MIN_REFRESH_SECONDS, refresh_seconds)
    problem = pages.library_problem()
    can_share = viewer.principal is not None and dashboard.is_public
    config = {
        "dashboard_id": str(dashboard.id),
        "refresh_seconds": refresh_seconds,
        "library_problem": problem,
        "widgets": views,
    }
    return pages.render(
        "dashboard.html",
        status_code,
        page_title=dashboard.name,
        dashboard=dashboard,
        widgets=views,
        columns=columns,
        row_height=ROW_HEIGHT_PX,
        filters=filters,
        filter_error=filter_error,
        viewer=viewer,
        share=share,
        share_url=share_url(settings, dashboard.id) if can_share else None,
        refresh_seconds=refresh_seconds,
        library_problem=problem,
        library_version=pages.library_version(),
        config=config,
        signed_in=credentials_principal_safe(request),
    )


def credentials_principal_safe(request: Request) -> bool:
    try:
        return credentials_principal(request) is not None
    except AuthenticationError:
        return False
