"""Saved report schedules in Dagster: one schedule per report with its cron and time zone, ticks
that request the period that just ended under an idempotent run key, and runs of the
partitioned report job that store the file, mail it (real SMTP sink) and record the execution
(real PostgreSQL, real ClickHouse engine)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import pytest
from fastapi.testclient import TestClient
from rs_helpers import Headers, settings_for

from lms_analytics.settings import Settings
from lms_analytics.smtp_sink import read_mailbox
from lms_analytics.stack.environment import settings_environment
from lms_analytics.stack.smtp import mail_dir
from orchestration.report_schedules import (
    load_scheduled_reports,
    report_definitions,
    scheduled_report_definitions,
)
from report_service import renderers
from report_service.api.app import create_app
from report_service.auth import issue_dev_token
from report_service.db.migrate import upgrade
from report_service.domain import ReportFormat

BERLIN = ZoneInfo("Europe/Berlin")
RECIPIENTS = ["dean@example.edu"]


@pytest.fixture(scope="module")
def settings(fresh_database: Callable[[str], Settings], marts: str) -> Settings:
    """A migrated database of its own, the scratch marts, reports in Berlin time, no retry
    delay (a failing run is retried at once)."""
    base = fresh_database("schedules")
    upgrade(base)
    return settings_for(
        base,
        analytics_database=marts,
        report_timezone="Europe/Berlin",
        report_max_retries=1,
        report_retry_delay_seconds=0,
    )


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """What the Dagster code location reads at run time (`get_settings()`): these settings."""
    for key, value in settings_environment(settings).items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    return settings


@pytest.fixture(autouse=True)
def instance() -> Iterator[dg.DagsterInstance]:
    """An instance for each test; Dagster resolves definitions against the current one."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def auth(settings: Settings) -> Headers:
    org = f"org-{uuid.uuid4().hex[:8]}"
    return {"Authorization": f"Bearer {issue_dev_token(settings, 'alice', 'analyst', org)}"}


def save_report(api: TestClient, auth: Headers, schedule: dict[str, Any], **fields: Any) -> Any:
    body = {
        "name": "Daily sessions per learner",
        "description": "Sessions and page views per learner.",
        "type": "sessions",
        "metrics": ["count", "page_views"],
        "dimensions": ["user_id"],
        "sort_by": "user_id",
        "sort_direction": "asc",
        "format": "csv",
        "schedule": {"recipients": RECIPIENTS, **schedule},
        **fields,
    }
    response = api.post("/v1/reports", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def backdate(settings: Settings, report_id: str, created_at: str = "2024-01-01T00:00:00Z") -> None:
    """The report was saved long ago: its partitions reach back to the fixture marts (2024)."""
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as connection:
        connection.execute(
            "UPDATE reports SET created_at = %s WHERE id = %s", (created_at, report_id)
        )


def definitions_of(settings: Settings, report_id: str) -> dg.Definitions:
    """What the code location builds for this report (as a reload does)."""
    reports = [r for r in load_scheduled_reports(settings) if str(r.report_id) == report_id]
    assert len(reports) == 1
    return report_definitions(reports, settings)


def only_schedule(definitions: dg.Definitions) -> dg.ScheduleDefinition:
    schedules = list(definitions.schedules or [])
    assert len(schedules) == 1
    return schedules[0]


def tick(definitions: dg.Definitions, at: datetime) -> Any:
    """Evaluate the report's schedule as the daemon does at `at`."""
    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.get(),
        scheduled_execution_time=at,
        repository_def=definitions.get_repository_def(),
    )
    return only_schedule(definitions).evaluate_tick(context)


def mail_for(settings: Settings, execution_id: str) -> list[Any]:
    return [
        message
        for message in read_mailbox(mail_dir(settings))
        if message["X-LMS-Report-Execution"] == execution_id
    ]


def executions(settings: Settings, report_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.postgres_dsn, row_factory=psycopg.rows.dict_row) as connection:
        return connection.execute(
            "SELECT * FROM report_executions WHERE report_id = %s ORDER BY created_at",
            (report_id,),
        ).fetchall()


# --- definitions from saved schedules ---------------------------------------------------------


def test_a_schedule_saved_through_the_api_is_a_dagster_schedule_named_after_its_report(
    api: TestClient, auth: Headers, settings: Settings
) -> None:
    report = save_report(
        api,
        auth,
        {"frequency": "weekly", "day_of_week": 1, "hour": 8, "minute": 30},
        name="Weekly course report",
        type="course",
        metrics=["total_enrollments"],
        dimensions=["course_id"],
        sort_by="total_enrollments",
    )

    definitions = definitions_of(settings, report["id"])

    schedule = only_schedule(definitions)
    assert schedule.name == f"weekly_course_report_{uuid.UUID(report['id']).hex[:8]}"
    assert schedule.cron_schedule == "30 8 * * 1"  # Monday (seed and cron: 0 = Sunday)
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.default_status is dg.DefaultScheduleStatus.RUNNING
    job = definitions.resolve_job_def(f"{schedule.name}_job")
    partitions = job.partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    assert partitions.timezone == "Europe/Berlin"
    week = partitions.time_window_for_partition_key("2026-11-23")
    assert (week.start.isoformat(), week.end.isoformat()) == (
        "2026-11-23T00:00:00+01:00",
        "2026-11-30T00:00:00+01:00",
    )
    graph = definitions.resolve_asset_graph()
    key = dg.AssetKey(["reports", schedule.name])
    assert graph.get(key).parent_keys == {dg.AssetKey(["analytics", "course_analytics"])}
    assert graph.get(key).group_name == "reports"


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ({"frequency": "daily", "hour": 6, "minute": 5}, "5 6 * * *"),
        ({"frequency": "monthly", "day_of_month": 15, "hour": 7}, "0 7 15 * *"),
        (
            {"frequency": "monthly", "day_of_month": 31, "hour": 7},
            ["0 7 31 1,3,5,7,8,10,12 *", "0 7 28,29 2 *", "0 7 30 4,6,9,11 *"],
        ),
    ],
)
def test_cron_follows_frequency_day_hour_and_minute(
    api: TestClient, auth: Headers, settings: Settings, schedule: dict, cron: str | list[str]
) -> None:
    report = save_report(api, auth, schedule)
    assert only_schedule(definitions_of(settings, report["id"])).cron_schedule == cron


def test_the_code_location_loads_without_report_schedules_when_postgres_is_down(
    settings: Settings,
) -> None:
    unreachable = settings_for(settings, postgres_url="postgresql://postgres@127.0.0.1:9/none")
    definitions = scheduled_report_definitions(unreachable)
    assert list(definitions.schedules or []) == []


# --- ticks ------------------------------------------------------------------------------------


def test_a_weekly_tick_requests_the_week_that_just_ended_under_an_idempotent_run_key(
    api: TestClient, auth: Headers, settings: Settings, environment: Settings
) -> None:
    report = save_report(api, auth, {"frequency": "weekly", "day_of_week": 1, "hour": 8})
    schedule_id = api.get(f"/v1/reports/{report['id']}", headers=auth).json()["schedule"]["id"]
    definitions = definitions_of(settings, report["id"])

    result = tick(definitions, datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN))  # a Monday

    [request] = result.run_requests
    assert request.partition_key == "2026-11-23"  # Monday 23rd to Sunday 29th, Berlin time
    assert request.run_key == f"{schedule_id}:2026-11-23"
    again = tick(definitions, datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN))
    assert again.run_requests[0].run_key == request.run_key


@pytest.mark.parametrize(
    ("schedule", "at", "partition"),
    [
        ({"frequency": "daily", "hour": 0}, datetime(2026, 3, 29, 0, 0), "2026-03-28"),
        ({"frequency": "daily", "hour": 7}, datetime(2026, 12, 6, 7, 0), "2026-12-05"),
        ({"frequency": "monthly", "day_of_month": 1}, datetime(2026, 12, 1, 0, 0), "2026-11-01"),
        ({"frequency": "monthly", "day_of_month": 31}, datetime(2026, 4, 30, 0, 0), "2026-03-01"),
        ({"frequency": "monthly", "day_of_month": 31}, datetime(2028, 2, 29, 0, 0), "2028-01-01"),
    ],
)
def test_each_tick_requests_the_period_that_just_ended(
    api: TestClient,
    auth: Headers,
    settings: Settings,
    environment: Settings,
    schedule: dict,
    at: datetime,
    partition: str,
) -> None:
    report = save_report(api, auth, schedule)
    result = tick(definitions_of(settings, report["id"]), at.replace(tzinfo=BERLIN))
    assert [request.partition_key for request in result.run_requests] == [partition]


def test_february_28th_of_a_leap_year_is_not_the_run_day_of_a_31st_schedule(
    api: TestClient, auth: Headers, settings: Settings, environment: Settings
) -> None:
    report = save_report(api, auth, {"frequency": "monthly", "day_of_month": 31})
    result = tick(
        definitions_of(settings, report["id"]), datetime(2028, 2, 28, 0, 0, tzinfo=BERLIN)
    )
    assert result.run_requests == []
    assert "not this month's run day" in result.skip_message


def test_a_paused_changed_or_deleted_schedule_skips_the_ticks_of_its_old_definition(
    api: TestClient, auth: Headers, settings: Settings, environment: Settings
) -> None:
    report = save_report(api, auth, {"frequency": "daily", "hour": 6})
    loaded = definitions_of(settings, report["id"])
    at = datetime(2026, 12, 6, 6, 0, tzinfo=BERLIN)
    path = f"/v1/reports/{report['id']}"

    paused = {"frequency": "daily", "hour": 6, "active": False, "recipients": RECIPIENTS}
    assert api.patch(path, json={"schedule": paused}, headers=auth).status_code == 200
    assert "paused" in tick(loaded, at).skip_message
    reloaded = definitions_of(settings, report["id"])
    assert only_schedule(reloaded).default_status is dg.DefaultScheduleStatus.STOPPED

    later = {"frequency": "daily", "hour": 9, "recipients": RECIPIENTS}
    assert api.patch(path, json={"schedule": later}, headers=auth).status_code == 200
    assert "changed" in tick(loaded, at).skip_message
    reloaded = definitions_of(settings, report["id"])
    assert only_schedule(reloaded).cron_schedule == "0 9 * * *"
    assert only_schedule(reloaded).default_status is dg.DefaultScheduleStatus.RUNNING
    assert tick(reloaded, at.replace(hour=9)).run_requests[0].partition_key == "2026-12-05"

    assert api.delete(path, headers=auth).status_code == 204
    assert "deleted" in tick(reloaded, at.replace(hour=9)).skip_message
    assert not [r for r in load_scheduled_reports(settings) if str(r.report_id) == report["id"]]


# --- runs of the partitioned report job -------------------------------------------------------


def op_name(settings: Settings, report_id: str) -> str:
    [asset] = definitions_of(settings, report_id).assets or []
    return asset.op.name


def run_partition(
    settings: Settings, report_id: str, partition: str, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    definitions = definitions_of(settings, report_id)
    job = definitions.resolve_job_def(f"{only_schedule(definitions).name}_job")
    return job.execute_in_process(
        partition_key=partition,
        instance=dg.DagsterInstance.get(),
        run_config=run_config,
        raise_on_error=False,
    )


def test_running_a_partition_stores_the_file_mails_it_and_completes_the_execution(
    api: TestClient, auth: Headers, settings: Settings, environment: Settings
) -> None:
    report = save_report(api, auth, {"frequency": "daily", "hour": 6})
    backdate(settings, report["id"])

    result = run_partition(settings, report["id"], "2024-03-02")

    assert result.success
    [execution] = executions(settings, report["id"])
    assert execution["status"] == "completed" and execution["error"] is None
    assert execution["dagster_run_id"] == result.run_id
    # 2 March in Berlin: 1 March 23:00 UTC to 2 March 23:00 UTC
    assert execution["period_start"] == datetime(2024, 3, 1, 23, 0, tzinfo=UTC)
    assert execution["period_end"] == datetime(2024, 3, 2, 23, 0, tzinfo=UTC)
    assert execution["result_url"].endswith(
        f"/v1/reports/{report['id']}/executions/{execution['id']}/result"
    )
    # sessions starting that local day: s-2 (u-2, 1 page view, 23:30 UTC on the 1st) and
    # s-3 (u-1, 5 page views); s-1 (09:00 UTC on the 1st) belongs to the 1st
    [message] = mail_for(settings, str(execution["id"]))
    assert message["To"] == "dean@example.edu"
    [attachment] = list(message.iter_attachments())
    rows = list(csv.reader(io.StringIO(attachment.get_content())))
    assert [row[:3] for row in rows[1:]] == [["u-1", "1", "5"], ["u-2", "1", "1"]]
    [stored] = (settings.artifacts_path / "reports" / report["id"] / str(execution["id"])).iterdir()
    assert stored.read_bytes() == attachment.get_content().encode()
    schedule = api.get(f"/v1/reports/{report['id']}", headers=auth).json()["schedule"]
    assert schedule["last_run_at"] is not None
    assert schedule["next_run_at"] > schedule["last_run_at"]
    [materialization] = result.get_asset_materialization_events()
    assert materialization.materialization.metadata["rows"].value == 2


def test_a_period_delivered_once_is_not_mailed_again_unless_asked(
    api: TestClient, auth: Headers, settings: Settings, environment: Settings
) -> None:
    report = save_report(api, auth, {"frequency": "daily", "hour": 6})
    backdate(settings, report["id"])
    assert run_partition(settings, report["id"], "2024-03-01").success

    again = run_partition(settings, report["id"], "2024-03-01")

    assert again.success
    [first] = executions(settings, report["id"])
    assert len(mail_for(settings, str(first["id"]))) == 1
    redelivered = run_partition(
        settings,
        report["id"],
        "2024-03-01",
        {"ops": {op_name(settings, report["id"]): {"config": {"redeliver": True}}}},
    )
    assert redelivered.success
    first, second = executions(settings, report["id"])
    assert second["status"] == "completed" and len(mail_for(settings, str(second["id"]))) == 1


def test_a_failing_render_is_recorded_with_its_error_and_retried_by_policy(
    api: TestClient,
    auth: Headers,
    settings: Settings,
    environment: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("the renderer broke")

    monkeypatch.setitem(renderers.RENDERERS, ReportFormat.CSV, broken)
    report = save_report(api, auth, {"frequency": "daily", "hour": 6})
    backdate(settings, report["id"])

    result = run_partition(settings, report["id"], "2024-03-01")

    assert not result.success
    attempts = executions(settings, report["id"])
    assert len(attempts) == 1 + settings.report_max_retries  # the first try and one retry
    assert {attempt["status"] for attempt in attempts} == {"failed"}
    assert {attempt["error"] for attempt in attempts} == {
        "render failed: RuntimeError: the renderer broke"
    }
    assert {attempt["dagster_run_id"] for attempt in attempts} == {result.run_id}
    assert not [m for a in attempts for m in mail_for(settings, str(a["id"]))]
