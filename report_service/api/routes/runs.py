"""Run a report now, and download an execution's file.

- `POST /v1/reports/{id}/executions` (analysts, admins): checks the report against the catalog
  (422 listing the allowed names), records a pending execution, answers 202 with it and a
  `Location`, then runs it in the background (query, render, store, mail). Poll
  `GET /v1/reports/{id}/executions/{execution_id}` for its status.
- `GET /v1/reports/{id}/executions/{execution_id}/result` (any role of the organisation): the
  file, as an attachment; this is the execution's `result_url`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator
from sqlalchemy import select

from report_service.api.deps import (
    CurrentPrincipal,
    DbSession,
    not_found,
    report_executor,
    require_writer,
)
from report_service.api.routes.reports import ERRORS, load_report
from report_service.api.schemas import ErrorOut, ExecutionOut
from report_service.artifacts import execution_prefix
from report_service.db.models import ReportExecution, utcnow
from report_service.engine.errors import ReportValidationError
from report_service.engine.query import Period, ReportDefinition
from report_service.execution import period_columns

router = APIRouter(prefix="/v1/reports/{report_id}/executions", tags=["executions"])


class RunRequest(BaseModel):
    """What to run: the period (both ends or neither) and who gets the mail."""

    model_config = ConfigDict(extra="forbid")

    period_start: AwareDatetime | None = Field(
        default=None, description="Start of the period, included (ISO 8601 with offset)."
    )
    period_end: AwareDatetime | None = Field(
        default=None, description="End of the period, excluded. Neither end: all data."
    )
    recipients: Annotated[list[EmailStr], Field(max_length=100)] | None = Field(
        default=None, description="Who gets the mail; default: the schedule's recipients."
    )
    deliver: bool = Field(default=True, description="false: store the file, send no mail.")

    @model_validator(mode="after")
    def _period(self) -> RunRequest:
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("give both period_start and period_end, or neither")
        if self.period_start and self.period_end and self.period_start >= self.period_end:
            raise ValueError("period_end must be after period_start")
        return self

    @property
    def period(self) -> Period | None:
        if self.period_start is None or self.period_end is None:
            return None
        return Period(self.period_start, self.period_end)


RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: {"description": "The request, or the saved report, asks for what its type lacks."},
}


@router.post(
    "",
    response_model=ExecutionOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=RUN_ERRORS,
)
def run_now(
    report_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    body: Annotated[RunRequest | None, Body()] = None,
) -> ReportExecution:
    """Run the report now for the period given (default: all data) and mail it to the
    schedule's recipients (or `recipients`). Answers at once; the run continues in the
    background."""
    body = body or RunRequest()
    report = load_report(session, principal, report_id)
    require_writer(principal, "run reports")
    executor = report_executor(request)
    try:
        executor.engine.compile(ReportDefinition.from_report(report), body.period)
    except ReportValidationError as error:
        raise RequestValidationError([error.to_detail()]) from None
    now = utcnow()
    execution = ReportExecution(
        report_id=report.id, created_at=now, updated_at=now, **period_columns(body.period)
    )
    session.add(execution)
    session.commit()
    background.add_task(
        executor.execute,
        execution.id,
        body.period,
        recipients=body.recipients,
        deliver=body.deliver,
    )
    response.headers["Location"] = f"/v1/reports/{report.id}/executions/{execution.id}"
    return execution


@router.get(
    "/{execution_id}/result",
    response_class=Response,
    responses={
        **ERRORS,
        200: {
            "description": "The report file.",
            "content": {"text/csv": {}, "application/json": {}, "application/pdf": {}},
        },
        404: {"model": ErrorOut, "description": "No such execution, or it has no file."},
    },
)
def download_result(
    report_id: uuid.UUID,
    execution_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
) -> Response:
    """The execution's file (`result_url`)."""
    report = load_report(session, principal, report_id)
    execution = session.scalar(
        select(ReportExecution).where(
            ReportExecution.id == execution_id, ReportExecution.report_id == report.id
        )
    )
    if execution is None:
        not_found("execution", execution_id)
    if execution.result_url is None:
        not_found(f"result of execution (status {execution.status})", execution_id)
    store = report_executor(request).store
    artifacts = store.find(execution_prefix(report.id, execution.id))
    if not artifacts:
        not_found("stored file of execution", execution_id)
    artifact = artifacts[-1]
    path = store.local_path(artifact.key)
    if path is not None:
        return FileResponse(path, media_type=artifact.media_type, filename=artifact.filename)
    return StreamingResponse(
        store.open(artifact.key),
        media_type=artifact.media_type,
        headers={"Content-Disposition": f'attachment; filename="{artifact.filename}"'},
    )
