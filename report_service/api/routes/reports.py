"""/v1/reports: saved reports with their embedded schedule.

Every report of the caller's organisation is readable by its members; analysts and admins
create; the creator or an admin changes and deletes. Reports of other organisations are 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from report_service.api.deps import (
    CurrentPrincipal,
    DbSession,
    ReportZone,
    check_report_definition,
    not_found,
    require_modifier,
    require_writer,
    validate_merged,
)
from report_service.api.pagination import PageParams, fetch_page
from report_service.api.schemas import (
    ErrorOut,
    Page,
    ReportCreate,
    ReportFields,
    ReportOut,
    ReportUpdate,
    ScheduleIn,
)
from report_service.auth import Principal
from report_service.dagster_sync import reload_dagster_code_locations
from report_service.db.models import Report, ReportSchedule, utcnow
from report_service.domain import ReportType

router = APIRouter(prefix="/v1/reports", tags=["reports"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or invalid credentials."},
    403: {"model": ErrorOut, "description": "The caller's role or ownership does not allow it."},
    404: {"model": ErrorOut, "description": "No such report in the caller's organisation."},
}


def load_report(
    session: Session, principal: Principal, report_id: uuid.UUID, *, for_update: bool = False
) -> Report:
    """The report in the caller's org (404 otherwise); locked for a change if asked, so that
    concurrent PATCHes are validated one after the other."""
    statement = select(Report).where(Report.id == report_id, Report.org_id == principal.org)
    if for_update:
        statement = statement.with_for_update()
    report = session.scalar(statement)
    if report is None:
        not_found("report", report_id)
    return report


def _sync_dagster(request: Request, background: BackgroundTasks) -> None:
    """After the response: let the Dagster UI show the changed schedules (best effort)."""
    background.add_task(reload_dagster_code_locations, request.app.state.settings)


def _apply_schedule(
    report: Report, schedule: ScheduleIn | None, now: datetime, zone: ZoneInfo
) -> None:
    """Replace the report's schedule (keeping its id and last run) or remove it."""
    if schedule is None:
        report.schedule = None
        return
    if report.schedule is None:
        report.schedule = ReportSchedule(created_at=now)
    target = report.schedule
    for field, value in schedule.model_dump(mode="json").items():
        setattr(target, field, value)
    target.updated_at = now
    target.advance(now, zone)


@router.get("", response_model=Page[ReportOut], responses=ERRORS)
def list_reports(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    type: Annotated[ReportType | None, Query(description="Only reports of this type.")] = None,
    created_by: Annotated[str | None, Query(description="Only reports by this user.")] = None,
) -> dict[str, Any]:
    """The organisation's reports, newest first."""
    statement = select(Report).where(Report.org_id == principal.org)
    if type is not None:
        statement = statement.where(Report.type == type.value)
    if created_by is not None:
        statement = statement.where(Report.created_by == created_by)
    statement = statement.order_by(Report.created_at.desc(), Report.id)
    return fetch_page(session, statement, page)


@router.post("", response_model=ReportOut, status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_report(
    body: ReportCreate,
    principal: CurrentPrincipal,
    session: DbSession,
    zone: ReportZone,
    response: Response,
    request: Request,
    background: BackgroundTasks,
) -> Report:
    """Save a report, with its schedule if given (its next run is computed). A schedule
    shows up in Dagster as a schedule of its own, named after the report."""
    require_writer(principal, "create reports")
    check_report_definition(request, body)
    now = utcnow()
    report = Report(
        org_id=principal.org,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
        **body.model_dump(mode="json", exclude={"schedule"}),
    )
    _apply_schedule(report, body.schedule, now, zone)
    session.add(report)
    session.commit()
    if report.schedule is not None:
        _sync_dagster(request, background)
    response.headers["Location"] = f"{router.prefix}/{report.id}"
    return report


@router.get("/{report_id}", response_model=ReportOut, responses=ERRORS)
def get_report(report_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession) -> Report:
    return load_report(session, principal, report_id)


@router.patch("/{report_id}", response_model=ReportOut, responses=ERRORS)
def update_report(
    report_id: uuid.UUID,
    body: ReportUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    zone: ReportZone,
    request: Request,
    background: BackgroundTasks,
) -> Report:
    """Change the fields sent; `schedule` replaces the schedule, `"schedule": null` drops it
    (`"active": false` in it pauses the schedule)."""
    report = load_report(session, principal, report_id, for_update=True)
    require_modifier(principal, "report", report.created_by)
    changes = body.model_dump(mode="json", exclude_unset=True)
    schedule_sent = "schedule" in changes
    changes.pop("schedule", None)
    stored = {field: getattr(report, field) for field in ReportFields.model_fields}
    merged = validate_merged(ReportFields, {**stored, **changes})
    check_report_definition(request, merged)
    for field, value in merged.model_dump(mode="json").items():
        setattr(report, field, value)
    now = utcnow()
    had_schedule = report.schedule is not None
    if schedule_sent:
        _apply_schedule(report, body.schedule, now, zone)
    report.updated_at = now
    session.commit()
    if had_schedule or report.schedule is not None:  # its name, type or timing may show
        _sync_dagster(request, background)
    return report


@router.delete("/{report_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_report(
    report_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
    background: BackgroundTasks,
) -> None:
    """Delete the report with its schedule and executions; widgets showing it remain, with
    `report_id` null (their dashboards show the source as deleted)."""
    report = load_report(session, principal, report_id, for_update=True)
    require_modifier(principal, "report", report.created_by)
    had_schedule = report.schedule is not None
    session.delete(report)
    session.commit()
    if had_schedule:
        _sync_dagster(request, background)
