"""/v1/reports/{id}/executions: runs of a report, read-only (the report engine writes them)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from report_service.api.deps import CurrentPrincipal, DbSession, not_found
from report_service.api.pagination import PageParams, fetch_page
from report_service.api.routes.reports import ERRORS, load_report
from report_service.api.schemas import ExecutionOut, Page
from report_service.db.models import ReportExecution
from report_service.domain import ExecutionStatus

router = APIRouter(prefix="/v1/reports/{report_id}/executions", tags=["executions"])


@router.get("", response_model=Page[ExecutionOut], responses=ERRORS)
def list_executions(
    report_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    status: Annotated[ExecutionStatus | None, Query(description="Only this status.")] = None,
) -> dict[str, Any]:
    """The report's executions, newest first."""
    report = load_report(session, principal, report_id)
    statement = select(ReportExecution).where(ReportExecution.report_id == report.id)
    if status is not None:
        statement = statement.where(ReportExecution.status == status.value)
    statement = statement.order_by(ReportExecution.created_at.desc(), ReportExecution.id)
    return fetch_page(session, statement, page)


@router.get("/{execution_id}", response_model=ExecutionOut, responses=ERRORS)
def get_execution(
    report_id: uuid.UUID,
    execution_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
) -> ReportExecution:
    report = load_report(session, principal, report_id)
    execution = session.scalar(
        select(ReportExecution).where(
            ReportExecution.id == execution_id, ReportExecution.report_id == report.id
        )
    )
    if execution is None:
        not_found("execution", execution_id)
    return execution
