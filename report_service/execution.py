"""Run a saved report for a period: query, render, store, mail, and record it all.

An execution goes pending -> running -> completed | failed; each step is committed at once, so
the API shows a run in progress. A completed execution has `result_url` (the API's download
route for its file); a failed one has `error`, a message saying which step failed and why (a
delivery failure keeps `result_url`: the file exists, the mail did not go). Every run sets the
schedule's `last_run_at` to its start and moves `next_run_at` on (`ReportSchedule.advance`).

Entry points:
- `run_report(report_id, period)`: one call for a job (the Dagster schedule job): builds what it
  needs from the settings, runs, returns an `ExecutionOutcome`;
- `run_scheduled_report(report_id, scheduled_at)`: the same for the period a schedule covers
  (`schedule_period`: the previous local day, 7 days or calendar month);
- `ReportExecutor`: the parts injected (the API's run-now route, tests).

Recipients: the schedule's, unless the caller gives a list; no recipients, no mail.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lms_analytics.settings import Settings, get_settings
from report_service.artifacts import ArtifactStore, artifact_store, execution_key
from report_service.db.models import Report, ReportExecution, utcnow
from report_service.db.session import create_db_engine, session_factory
from report_service.delivery.email import Attachment, Mailer, SmtpMailer, report_email
from report_service.domain import ExecutionStatus, Frequency
from report_service.engine.errors import ReportValidationError
from report_service.engine.query import Period, ReportDefinition
from report_service.engine.runner import ReportEngine
from report_service.errors import ReportServiceError
from report_service.renderers import render
from report_service.renderers.base import ReportMeta
from report_service.scheduling import report_zone

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2_000


class ExecutionNotFoundError(ReportServiceError):
    """No such report or execution (it may have been deleted)."""


class ExecutionStateError(ReportServiceError):
    """The execution is not pending: it ran or is running already."""


@dataclass(frozen=True)
class ExecutionOutcome:
    """What a run did, readable after its database session is gone."""

    execution_id: uuid.UUID
    report_id: uuid.UUID
    status: ExecutionStatus
    result_url: str | None
    error: str | None
    rows: int | None
    recipients: tuple[str, ...]
    artifact_key: str | None


@dataclass(frozen=True)
class _ReportSnapshot:
    id: uuid.UUID
    name: str
    description: str
    type: str
    format: str
    definition: ReportDefinition
    recipients: tuple[str, ...]


def result_url(settings: Settings, report_id: uuid.UUID, execution_id: uuid.UUID) -> str:
    """The API route that downloads an execution's file."""
    base = (settings.public_base_url or f"http://{settings.bind_host}:{settings.api_port}").rstrip(
        "/"
    )
    return f"{base}/v1/reports/{report_id}/executions/{execution_id}/result"


def period_columns(period: Period | None) -> dict[str, datetime | None]:
    """The execution columns that record `period` (both NULL: all data)."""
    return {
        "period_start": period.start if period else None,
        "period_end": period.end if period else None,
    }


def schedule_period(frequency: Frequency | str, run_at: datetime, timezone: str) -> Period:
    """What a scheduled run covers: whole local days before the run's day.

    daily: the previous day; weekly: the 7 days before; monthly: the previous calendar month.
    """
    zone = report_zone(timezone)
    day = run_at.astimezone(zone).date()
    frequency = Frequency(frequency)
    if frequency is Frequency.DAILY:
        first, end = day - timedelta(days=1), day
    elif frequency is Frequency.WEEKLY:
        first, end = day - timedelta(days=7), day
    else:
        end = day.replace(day=1)
        first = (end - timedelta(days=1)).replace(day=1)

    def midnight(value: date) -> datetime:
        return datetime.combine(value, time(), tzinfo=zone).astimezone(UTC)

    return Period(midnight(first), midnight(end))


class ReportExecutor:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        engine: ReportEngine | None = None,
        store: ArtifactStore | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.engine = engine or ReportEngine.from_settings(settings)
        self.store = store or artifact_store(settings)
        self.mailer = mailer or SmtpMailer.from_settings(settings)
        self.clock = clock
        self.zone = report_zone(settings.report_timezone)

    # --- the steps ----------------------------------------------------------------------

    def create_execution(
        self,
        report_id: uuid.UUID,
        period: Period | None = None,
        *,
        dagster_run_id: str | None = None,
    ) -> uuid.UUID:
        """A pending execution of the report over `period` (committed)."""
        with self.sessions() as session:
            if session.get(Report, report_id) is None:
                raise ExecutionNotFoundError(f"report {report_id} does not exist")
            now = self.clock()
            execution = ReportExecution(
                report_id=report_id,
                created_at=now,
                updated_at=now,
                dagster_run_id=dagster_run_id,
                **period_columns(period),
            )
            session.add(execution)
            session.commit()
            return execution.id

    def delivered_execution(self, report_id: uuid.UUID, period: Period) -> uuid.UUID | None:
        """A completed scheduled (or backfilled) execution of the report over `period`."""
        with self.sessions() as session:
            return session.scalar(
                select(ReportExecution.id)
                .where(
                    ReportExecution.report_id == report_id,
                    ReportExecution.status == ExecutionStatus.COMPLETED.value,
                    ReportExecution.period_start == period.start,
                    ReportExecution.period_end == period.end,
                    ReportExecution.dagster_run_id.is_not(None),
                )
                .order_by(ReportExecution.created_at)
                .limit(1)
            )

    def execute(
        self,
        execution_id: uuid.UUID,
        period: Period | None,
        *,
        recipients: Sequence[str] | None = None,
        deliver: bool = True,
    ) -> ExecutionOutcome:
        """Run a pending execution to its end; failures are recorded, not raised."""
        snapshot = self._start(execution_id)
        to = tuple(snapshot.recipients if recipients is None else recipients) if deliver else ()
        key: str | None = None
        url: str | None = None
        rows: int | None = None
        error: str | None = None
        stage = "query"
        try:
            data = self.engine.run(snapshot.definition, period, chart=snapshot.format == "pdf")
            rows = len(data.rows)
            stage = "render"
            meta = ReportMeta(
                name=snapshot.name,
                type=snapshot.type,
                generated_at=self.clock(),
                description=snapshot.description,
                period=period,
                timezone=self.zone.key,
                report_id=str(snapshot.id),
                execution_id=str(execution_id),
                filters=dict(snapshot.definition.filters),
                sort_by=snapshot.definition.sort_by,
                sort_direction=snapshot.definition.sort_direction,
                limit=snapshot.definition.limit,
            )
            rendered = render(snapshot.format, data, meta)
            stage = "store"
            filename = rendered.filename(meta)
            key = execution_key(snapshot.id, execution_id, filename)
            self.store.put(key, rendered.content)
            url = result_url(self.settings, snapshot.id, execution_id)
            if to:
                stage = "delivery"
                message = report_email(
                    sender=self.settings.smtp_sender,
                    recipients=to,
                    meta=meta,
                    data=data,
                    attachment=Attachment(filename, rendered.content, rendered.media_type),
                    result_url=url,
                )
                self.mailer.send(message)
        except ReportValidationError as failure:
            error = f"invalid report: {failure}"
        except ReportServiceError as failure:
            error = f"{stage} failed: {failure}"
        except Exception as failure:
            log.exception("report execution %s failed at %s", execution_id, stage)
            error = f"{stage} failed: {type(failure).__name__}: {failure}"
        if error is not None:
            log.warning("report execution %s failed: %s", execution_id, error)
            error = error[:MAX_ERROR_LENGTH]
        status = self._finish(execution_id, url, error)
        return ExecutionOutcome(
            execution_id=execution_id,
            report_id=snapshot.id,
            status=status,
            result_url=url,
            error=error,
            rows=rows,
            recipients=to,
            artifact_key=key,
        )

    def run(
        self,
        report_id: uuid.UUID,
        period: Period | None,
        *,
        recipients: Sequence[str] | None = None,
        deliver: bool = True,
        dagster_run_id: str | None = None,
    ) -> ExecutionOutcome:
        execution_id = self.create_execution(report_id, period, dagster_run_id=dagster_run_id)
        return self.execute(execution_id, period, recipients=recipients, deliver=deliver)

    # --- bookkeeping ------------------------------------------------------------------------

    def _start(self, execution_id: uuid.UUID) -> _ReportSnapshot:
        with self.sessions() as session:
            execution = session.scalar(
                select(ReportExecution).where(ReportExecution.id == execution_id).with_for_update()
            )
            if execution is None:
                raise ExecutionNotFoundError(f"execution {execution_id} does not exist")
            if execution.status != ExecutionStatus.PENDING.value:
                raise ExecutionStateError(
                    f"execution {execution_id} is {execution.status}, not pending"
                )
            report = execution.report
            schedule = report.schedule
            snapshot = _ReportSnapshot(
                id=report.id,
                name=report.name,
                description=report.description,
                type=report.type,
                format=report.format,
                definition=ReportDefinition.from_report(report),
                recipients=tuple(schedule.recipients) if schedule is not None else (),
            )
            now = self.clock()
            execution.mark_running(now)
            execution.updated_at = now
            if schedule is not None:
                schedule.last_run_at = now
            session.commit()
        return snapshot

    def _finish(
        self, execution_id: uuid.UUID, url: str | None, error: str | None
    ) -> ExecutionStatus:
        with self.sessions() as session:
            execution = session.get(ReportExecution, execution_id, with_for_update=True)
            if execution is None:  # the report was deleted while it ran
                log.warning("execution %s vanished before it finished", execution_id)
                return ExecutionStatus.FAILED if error else ExecutionStatus.COMPLETED
            now = self.clock()
            if error is None:
                assert url is not None
                execution.mark_completed(url, now)
            else:
                execution.result_url = url
                execution.mark_failed(error, now)
            execution.updated_at = now
            schedule = execution.report.schedule
            if schedule is not None:
                schedule.advance(now, self.zone)
            session.commit()
            return ExecutionStatus(execution.status)


@contextmanager
def executor_for(settings: Settings, **parts: Any) -> Iterator[ReportExecutor]:
    """An executor on its own small connection pool, disposed of at the end (for jobs)."""
    database = create_db_engine(settings, pool_size=1, max_overflow=1)
    try:
        yield ReportExecutor(settings, session_factory(database), **parts)
    finally:
        database.dispose()


def run_report(
    report_id: uuid.UUID | str,
    period: Period | None,
    *,
    settings: Settings | None = None,
    recipients: Sequence[str] | None = None,
    deliver: bool = True,
    **parts: Any,
) -> ExecutionOutcome:
    """Run the saved report over `period` ([start, end), aware; None: all data), store its
    file, mail it (to the schedule's recipients unless `recipients` is given) and record the
    execution. Check `outcome.status`: failures are recorded, not raised (a missing report
    raises ExecutionNotFoundError). `parts`: `engine`, `store`, `mailer` to use instead of the
    ones the settings describe."""
    with executor_for(settings or get_settings(), **parts) as executor:
        return executor.run(
            uuid.UUID(str(report_id)), period, recipients=recipients, deliver=deliver
        )


def run_scheduled_report(
    report_id: uuid.UUID | str,
    scheduled_at: datetime,
    *,
    settings: Settings | None = None,
    **parts: Any,
) -> ExecutionOutcome:
    """A schedule's run at `scheduled_at`: its period by `schedule_period`, its recipients."""
    settings = settings or get_settings()
    with executor_for(settings, **parts) as executor:
        with executor.sessions() as session:
            report = session.get(Report, uuid.UUID(str(report_id)))
            if report is None or report.schedule is None:
                raise ExecutionNotFoundError(f"report {report_id} has no schedule")
            frequency = report.schedule.frequency
        period = schedule_period(frequency, scheduled_at, settings.report_timezone)
        return executor.run(uuid.UUID(str(report_id)), period)
