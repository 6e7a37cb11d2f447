"""Saved report schedules as Dagster schedules, each running its report's partitioned job.

(No `from __future__ import annotations`: Dagster reads the annotations at run time.)

Every report with a ReportSchedule (PostgreSQL, `report_service`) becomes, when the code
location loads:

- an asset `reports/<name>_<id8>` in the group `reports`, downstream of the mart its report type
  reads (so the lineage runs on from the marts to the reports), partitioned by the period the
  report covers: days, weeks starting on the schedule's DayOfWeek, or calendar months, in the
  report time zone (`LMS_ANALYTICS_REPORT_TIMEZONE`). Materializing a partition runs the report
  over that period: query, render, store, mail, and a ReportExecution recording it all. A past
  period is backfilled from the asset's or the job's partitions view in the UI;
- a job `<name>_<id8>_job` selecting that asset;
- a schedule `<name>_<id8>` (named after the report) with the cron built from Frequency,
  DayOfWeek, DayOfMonth, Hour and Minute, in the report time zone, running while the schedule
  is active (a paused one is shown, stopped). Each tick requests the partition that just ended,
  with the run key `<schedule id>:<partition>`: Dagster never launches a run key twice, so a
  schedule delivers a period once however often it is evaluated.

Changes made through the API reach Dagster without a restart: the API asks the webserver to
reload this code location (`report_service.dagster_sync`), and the daemon reloads it every
minute on its own. Until then each tick re-reads its schedule and skips if the report was
deleted, paused or rescheduled, so a stale definition never runs a report it should not.

A failed run is recorded as a failed ReportExecution with its error and retried by the asset's
retry policy (`LMS_ANALYTICS_REPORT_MAX_RETRIES`, `_REPORT_RETRY_DELAY_SECONDS`, doubling).
A re-execution of a period already delivered by a scheduled or backfilled run does not mail it
again unless its run config says `redeliver: true`.
"""

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from lms_analytics.settings import Settings, get_settings
from report_service.db.models import Report, ReportSchedule
from report_service.db.session import create_db_engine, session_factory
from report_service.domain import ExecutionStatus, Frequency, ReportType
from report_service.engine.catalog import CATALOG
from report_service.engine.query import Period
from report_service.execution import executor_for
from report_service.scheduling import cron_expressions, is_run_day, report_zone

log = logging.getLogger(__name__)

REPORTS_GROUP = "reports"
MARTS_DATABASE = "analytics"  # the dbt assets' key prefix of the marts (see dbt_assets.py)
# How far back a report's partitions reach before the report was saved: the period a data team
# may want to backfill when a report is introduced.
BACKFILL_DAYS = 366
CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class ScheduledReport:
    """What the definitions of one report schedule are built from (read from PostgreSQL)."""

    report_id: uuid.UUID
    schedule_id: uuid.UUID
    name: str
    description: str
    type: str
    format: str
    org_id: str
    created_by: str
    created_at: datetime
    frequency: str
    day_of_week: int | None
    day_of_month: int | None
    hour: int
    minute: int
    active: bool
    recipients: tuple[str, ...]

    @classmethod
    def from_rows(cls, report: Report, schedule: ReportSchedule) -> "ScheduledReport":
        return cls(
            report_id=report.id,
            schedule_id=schedule.id,
            name=report.name,
            description=report.description,
            type=report.type,
            format=report.format,
            org_id=report.org_id,
            created_by=report.created_by,
            created_at=report.created_at,
            frequency=schedule.frequency,
            day_of_week=schedule.day_of_week,
            day_of_month=schedule.day_of_month,
            hour=schedule.hour,
            minute=schedule.minute,
            active=schedule.active,
            recipients=tuple(schedule.recipients),
        )

    @property
    def dagster_name(self) -> str:
        """The report's name as a Dagster name, made unique by the start of its id."""
        slug = re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")[:60] or "report"
        return f"{slug}_{self.report_id.hex[:8]}"

    @property
    def timing(self) -> tuple[object, ...]:
        """What decides when it runs: a tick of a definition with other timing is stale."""
        return (self.frequency, self.day_of_week, self.day_of_month, self.hour, self.minute)

    def cron(self) -> str | list[str]:
        """One cron string (shown as such in the UI), or several for a day past the 28th."""
        expressions = cron_expressions(
            frequency=self.frequency,
            hour=self.hour,
            minute=self.minute,
            day_of_week=self.day_of_week,
            day_of_month=self.day_of_month,
        )
        return expressions[0] if len(expressions) == 1 else expressions


def report_asset_key(report: ScheduledReport) -> dg.AssetKey:
    return dg.AssetKey([REPORTS_GROUP, report.dagster_name])


def mart_asset_key(report_type: str) -> dg.AssetKey:
    return dg.AssetKey([MARTS_DATABASE, CATALOG[ReportType(report_type)].table])


def report_partitions(report: ScheduledReport, timezone: str) -> dg.PartitionsDefinition:
    """The periods a report covers: whole local days, weeks (from its DayOfWeek) or months."""
    first_day = report.created_at.astimezone(report_zone(timezone)) - timedelta(BACKFILL_DAYS)
    start = first_day.strftime("%Y-%m-%d")
    frequency = Frequency(report.frequency)
    if frequency is Frequency.DAILY:
        return dg.DailyPartitionsDefinition(start_date=start, timezone=timezone)
    if frequency is Frequency.WEEKLY:
        # Dagster's day_offset counts from Sunday = 0, as the seed's DayOfWeek does.
        return dg.WeeklyPartitionsDefinition(
            start_date=start, day_offset=report.day_of_week or 0, timezone=timezone
        )
    return dg.MonthlyPartitionsDefinition(
        start_date=first_day.replace(day=1).strftime("%Y-%m-%d"), timezone=timezone
    )


# --- reading the schedules --------------------------------------------------------------------


def load_scheduled_reports(
    settings: Settings, report_id: uuid.UUID | None = None
) -> list[ScheduledReport]:
    """Every report that has a schedule (active or paused), or just `report_id`'s."""
    database = create_db_engine(
        settings,
        pool_size=1,
        max_overflow=0,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    try:
        statement = select(Report, ReportSchedule).join(
            ReportSchedule, ReportSchedule.report_id == Report.id
        )
        if report_id is not None:
            statement = statement.where(Report.id == report_id)
        with session_factory(database)() as session:
            rows = session.execute(statement.order_by(Report.created_at, Report.id)).all()
            return [ScheduledReport.from_rows(report, schedule) for report, schedule in rows]
    finally:
        database.dispose()


# --- the definitions of one report ------------------------------------------------------------


class ReportRunConfig(dg.Config):
    redeliver: bool = False
    """Mail the period again even if a scheduled or backfilled run delivered it already."""


def _report_asset(
    report: ScheduledReport, partitions: dg.PartitionsDefinition, settings: Settings
) -> dg.AssetsDefinition:
    report_id = report.report_id

    @dg.asset(
        key=report_asset_key(report),
        deps=[mart_asset_key(report.type)],
        partitions_def=partitions,
        group_name=REPORTS_GROUP,
        kinds={report.format, "email"},
        description=(
            f"{report.name}: the saved {report.type} report as {report.format.upper()}, one "
            f"materialization per {Frequency(report.frequency).value} period, mailed to its "
            f"{len(report.recipients)} recipient(s). {report.description}".strip()
        ),
        metadata={
            "report_id": str(report_id),
            "organisation": report.org_id,
            "created_by": report.created_by,
            "format": report.format,
            "recipients": ", ".join(report.recipients) or "(none)",
        },
        retry_policy=dg.RetryPolicy(
            max_retries=settings.report_max_retries,
            delay=settings.report_retry_delay_seconds,
            backoff=dg.Backoff.EXPONENTIAL,
        ),
    )
    def _run_report(context: dg.AssetExecutionContext, config: ReportRunConfig):
        window = context.partition_time_window
        period = Period(window.start.astimezone(UTC), window.end.astimezone(UTC))
        with executor_for(get_settings()) as executor:
            delivered = executor.delivered_execution(report_id, period)
            if delivered is not None and not config.redeliver:
                context.log.info(
                    f"period {period} was delivered by execution {delivered}; not mailing it "
                    "again (run config `redeliver: true` does)"
                )
                return dg.MaterializeResult(
                    metadata={
                        "execution_id": str(delivered),
                        "status": "already delivered",
                        "period": str(period),
                    }
                )
            outcome = executor.run(report_id, period, dagster_run_id=context.run.run_id)
        metadata = {
            "execution_id": str(outcome.execution_id),
            "status": outcome.status.value,
            "period": str(period),
            "recipients": ", ".join(outcome.recipients) or "(none)",
        }
        if outcome.rows is not None:  # none when the query itself failed
            metadata["rows"] = outcome.rows
        if outcome.status is not ExecutionStatus.COMPLETED:
            raise dg.Failure(
                description=f"report execution {outcome.execution_id} failed: {outcome.error}",
                metadata=metadata,
            )
        context.log.info(
            f"execution {outcome.execution_id}: {outcome.rows} rows over {period}, "
            f"mailed to {len(outcome.recipients)} recipient(s)"
        )
        return dg.MaterializeResult(
            metadata={**metadata, "result_url": dg.MetadataValue.url(outcome.result_url or "")}
        )

    return _run_report


def _report_schedule(
    report: ScheduledReport,
    asset: dg.AssetsDefinition,
    partitions: dg.PartitionsDefinition,
    settings: Settings,
) -> dg.ScheduleDefinition:
    """The report's schedule, with its job (Definitions take the job from the schedule)."""
    timezone = settings.report_timezone
    zone = report_zone(timezone)
    job = dg.define_asset_job(
        f"{report.dagster_name}_job",
        selection=dg.AssetSelection.assets(asset),
        description=f'Run the report "{report.name}" for one period (a partition).',
        tags={"lms_analytics/report_id": str(report.report_id)},
    )

    @dg.schedule(
        name=report.dagster_name,
        job=job,
        cron_schedule=report.cron(),
        execution_timezone=timezone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if report.active else dg.DefaultScheduleStatus.STOPPED
        ),
        description=(
            f'Runs the report "{report.name}" {report.frequency} at '
            f"{report.hour:02d}:{report.minute:02d} ({timezone}) over the period that just ended."
        ),
        tags={"lms_analytics/report_id": str(report.report_id)},
    )
    def _tick(context: dg.ScheduleEvaluationContext):
        scheduled_at = context.scheduled_execution_time or datetime.now(UTC)
        current = load_scheduled_reports(get_settings(), report.report_id)
        if not current:
            return dg.SkipReason("the report or its schedule was deleted")
        if not current[0].active:
            return dg.SkipReason("the schedule is paused")
        if current[0].timing != report.timing:
            return dg.SkipReason(
                "the schedule changed since this code location loaded; the reloaded one runs it"
            )
        local_day = scheduled_at.astimezone(zone).date()
        if not is_run_day(
            frequency=report.frequency, day_of_month=report.day_of_month, local_day=local_day
        ):
            return dg.SkipReason(f"{local_day} is not this month's run day")
        with dg.partition_loading_context(effective_dt=scheduled_at):
            partition_key = partitions.get_last_partition_key()
        if partition_key is None:
            return dg.SkipReason("no complete period yet")
        return dg.RunRequest(
            run_key=f"{report.schedule_id}:{partition_key}",
            partition_key=partition_key,
            tags={"lms_analytics/report_id": str(report.report_id)},
        )

    return _tick


def report_definitions(reports: list[ScheduledReport], settings: Settings) -> dg.Definitions:
    """The asset, job and schedule of each scheduled report."""
    assets, schedules = [], []
    for report in reports:
        partitions = report_partitions(report, settings.report_timezone)
        asset = _report_asset(report, partitions, settings)
        assets.append(asset)
        schedules.append(_report_schedule(report, asset, partitions, settings))
    return dg.Definitions(assets=assets, schedules=schedules)


def scheduled_report_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The definitions of every saved report schedule, or none if PostgreSQL is unreachable.

    A code location that fails to load hides every asset from the UI, so a database outage
    (or a stack not started yet) costs only the report schedules, with a warning.
    """
    settings = settings or get_settings()
    try:
        reports = load_scheduled_reports(settings)
    except SQLAlchemyError as error:
        log.warning(
            "report schedules not loaded (the report database is unreachable: %s); the "
            "code location loads without them and picks them up at its next reload",
            str(error).splitlines()[0],
        )
        return dg.Definitions()
    return report_definitions(reports, settings)
