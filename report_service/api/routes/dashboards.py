"""/v1/dashboards and /v1/dashboards/{id}/widgets.

Visibility: a public dashboard is seen by everyone in its organisation, a private one only by
its creator (others get 403: it exists, they lack the right to see it). Dashboards of other
organisations are 404. Analysts and admins create; changes and deletions are for the creator or
an admin, among those who can see the dashboard (so a private dashboard only by its creator).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from report_service.api.deps import (
    CurrentPrincipal,
    DbSession,
    forbidden,
    invalid,
    not_found,
    require_modifier,
    require_writer,
    validate_merged,
)
from report_service.api.pagination import PageParams, fetch_page
from report_service.api.schemas import (
    DashboardCreate,
    DashboardFields,
    DashboardOut,
    DashboardUpdate,
    ErrorOut,
    Page,
    WidgetCreate,
    WidgetFields,
    WidgetOut,
    WidgetUpdate,
)
from report_service.auth import Principal
from report_service.db.models import Dashboard, DashboardWidget, Report, WidgetPosition, utcnow
from report_service.domain import DataSourceType

router = APIRouter(prefix="/v1/dashboards", tags=["dashboards"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or invalid credentials."},
    403: {
        "model": ErrorOut,
        "description": "A private dashboard of someone else, or the caller's role or "
        "ownership does not allow the change.",
    },
    404: {"model": ErrorOut, "description": "No such dashboard in the caller's organisation."},
}


def load_dashboard(
    session: Session, principal: Principal, dashboard_id: uuid.UUID, *, for_update: bool = False
) -> Dashboard:
    """The dashboard if the caller may see it: 404 in another org, 403 if private to another."""
    statement = select(Dashboard).where(
        Dashboard.id == dashboard_id, Dashboard.org_id == principal.org
    )
    if for_update:  # changes to a dashboard and its widgets go one at a time
        statement = statement.with_for_update()
    dashboard = session.scalar(statement)
    if dashboard is None:
        not_found("dashboard", dashboard_id)
    if not dashboard.visible_to(principal.org, principal.subject):
        forbidden(f"dashboard {dashboard_id} is private to its creator")
    return dashboard


def load_dashboard_for_change(
    session: Session, principal: Principal, dashboard_id: uuid.UUID
) -> Dashboard:
    dashboard = load_dashboard(session, principal, dashboard_id, for_update=True)
    require_modifier(principal, "dashboard", dashboard.created_by)
    return dashboard


def _widget_columns(
    session: Session,
    principal: Principal,
    fields: WidgetFields,
    where: tuple[str | int, ...],
    *,
    check_source: bool = True,
) -> dict[str, Any]:
    """Column values of a validated widget; a new report source must be a report of the org.

    Without `check_source` (an update that leaves the source alone) `report_id` is not set, so
    a widget whose report was deleted can still be moved or renamed.
    """
    values = fields.model_dump(mode="json", exclude={"position"})
    values["position"] = WidgetPosition(**fields.position.model_dump())
    if not check_source:
        return values
    values["report_id"] = None
    if fields.data_source_type is DataSourceType.REPORT:
        report_id = uuid.UUID(fields.data_source)
        found = session.scalar(
            select(Report.id).where(Report.id == report_id, Report.org_id == principal.org)
        )
        if found is None:
            invalid(
                (*where, "data_source"),
                f"report {report_id} does not exist in your organisation",
                fields.data_source,
            )
        values["report_id"] = report_id
    return values


def _stored_widget_fields(widget: DashboardWidget) -> dict[str, Any]:
    values = {field: getattr(widget, field) for field in WidgetFields.model_fields}
    values["position"] = vars(widget.position)
    return values


# --- dashboards -------------------------------------------------------------------------------


@router.get("", response_model=Page[DashboardOut], responses=ERRORS)
def list_dashboards(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    created_by: Annotated[str | None, Query(description="Only dashboards by this user.")] = None,
) -> dict[str, Any]:
    """The organisation's public dashboards and the caller's own, newest first."""
    statement = select(Dashboard).where(
        Dashboard.org_id == principal.org,
        or_(Dashboard.is_public, Dashboard.created_by == principal.subject),
    )
    if created_by is not None:
        statement = statement.where(Dashboard.created_by == created_by)
    statement = statement.order_by(Dashboard.created_at.desc(), Dashboard.id)
    return fetch_page(session, statement, page)


@router.post("", response_model=DashboardOut, status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_dashboard(
    body: DashboardCreate, principal: CurrentPrincipal, session: DbSession, response: Response
) -> Dashboard:
    """Create a dashboard, with its widgets (`layout`) if given."""
    require_writer(principal, "create dashboards")
    now = utcnow()
    dashboard = Dashboard(
        org_id=principal.org,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
        **body.model_dump(mode="json", exclude={"layout"}),
    )
    for index, widget in enumerate(body.layout):
        columns = _widget_columns(session, principal, widget, ("layout", index))
        dashboard.layout.append(DashboardWidget(created_at=now, updated_at=now, **columns))
    session.add(dashboard)
    session.commit()
    session.refresh(dashboard)  # the layout in grid order, as every later read returns it
    response.headers["Location"] = f"{router.prefix}/{dashboard.id}"
    return dashboard


@router.get("/{dashboard_id}", response_model=DashboardOut, responses=ERRORS)
def get_dashboard(
    dashboard_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> Dashboard:
    return load_dashboard(session, principal, dashboard_id)


@router.patch("/{dashboard_id}", response_model=DashboardOut, responses=ERRORS)
def update_dashboard(
    dashboard_id: uuid.UUID, body: DashboardUpdate, principal: CurrentPrincipal, session: DbSession
) -> Dashboard:
    dashboard = load_dashboard_for_change(session, principal, dashboard_id)
    stored = {field: getattr(dashboard, field) for field in DashboardFields.model_fields}
    changes = body.model_dump(mode="json", exclude_unset=True)
    merged = validate_merged(DashboardFields, {**stored, **changes})
    for field, value in merged.model_dump(mode="json").items():
        setattr(dashboard, field, value)
    dashboard.updated_at = utcnow()
    session.commit()
    return dashboard


@router.delete("/{dashboard_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_dashboard(
    dashboard_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> None:
    """Delete the dashboard and its widgets (the reports they show stay)."""
    dashboard = load_dashboard_for_change(session, principal, dashboard_id)
    session.delete(dashboard)
    session.commit()


# --- widgets ----------------------------------------------------------------------------------

WIDGETS = "/{dashboard_id}/widgets"


def _load_widget(dashboard: Dashboard, widget_id: uuid.UUID) -> DashboardWidget:
    for widget in dashboard.layout:
        if widget.id == widget_id:
            return widget
    not_found("widget", widget_id)


@router.get(WIDGETS, response_model=list[WidgetOut], tags=["widgets"], responses=ERRORS)
def list_widgets(
    dashboard_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> list[DashboardWidget]:
    """The dashboard's widgets, top to bottom, left to right."""
    return load_dashboard(session, principal, dashboard_id).layout


@router.post(
    WIDGETS,
    response_model=WidgetOut,
    status_code=status.HTTP_201_CREATED,
    tags=["widgets"],
    responses=ERRORS,
)
def create_widget(
    dashboard_id: uuid.UUID,
    body: WidgetCreate,
    principal: CurrentPrincipal,
    session: DbSession,
    response: Response,
) -> DashboardWidget:
    dashboard = load_dashboard_for_change(session, principal, dashboard_id)
    now = utcnow()
    widget = DashboardWidget(
        created_at=now, updated_at=now, **_widget_columns(session, principal, body, ())
    )
    dashboard.layout.append(widget)
    dashboard.updated_at = now
    session.commit()
    response.headers["Location"] = f"{router.prefix}/{dashboard.id}/widgets/{widget.id}"
    return widget


@router.get(WIDGETS + "/{widget_id}", response_model=WidgetOut, tags=["widgets"], responses=ERRORS)
def get_widget(
    dashboard_id: uuid.UUID, widget_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> DashboardWidget:
    return _load_widget(load_dashboard(session, principal, dashboard_id), widget_id)


@router.patch(
    WIDGETS + "/{widget_id}", response_model=WidgetOut, tags=["widgets"], responses=ERRORS
)
def update_widget(
    dashboard_id: uuid.UUID,
    widget_id: uuid.UUID,
    body: WidgetUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
) -> DashboardWidget:
    dashboard = load_dashboard_for_change(session, principal, dashboard_id)
    widget = _load_widget(dashboard, widget_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    merged = validate_merged(WidgetFields, {**_stored_widget_fields(widget), **changes})
    source_changed = bool(changes.keys() & {"data_source", "data_source_type"})
    columns = _widget_columns(session, principal, merged, (), check_source=source_changed)
    for field, value in columns.items():
        setattr(widget, field, value)
    widget.updated_at = dashboard.updated_at = utcnow()
    session.commit()
    return widget


@router.delete(
    WIDGETS + "/{widget_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["widgets"],
    responses=ERRORS,
)
def delete_widget(
    dashboard_id: uuid.UUID, widget_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> None:
    dashboard = load_dashboard_for_change(session, principal, dashboard_id)
    dashboard.layout.remove(_load_widget(dashboard, widget_id))
    dashboard.updated_at = utcnow()
    session.commit()
