"""Run-now through the API on the real stack: the execution's life (pending -> completed or
failed), the file behind result_url, the mail in the SMTP sink, and the job-facing functions."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pypdf
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from rs_helpers import Headers

from lms_analytics.settings import Settings
from lms_analytics.smtp_sink import read_mailbox
from lms_analytics.stack.ports import free_port
from lms_analytics.stack.smtp import mail_dir
from report_service import renderers
from report_service.api.app import create_app
from report_service.api.deps import get_principal
from report_service.api.routes import report_types, runs
from report_service.delivery import SmtpMailer
from report_service.domain import ExecutionStatus, ReportFormat, ReportType
from report_service.engine import CATALOG, Period, ReportEngine
from report_service.engine.catalog import Aggregation, FieldKind, Metric, Unit
from report_service.execution import (
    ExecutionStateError,
    ReportExecutor,
    run_report,
    run_scheduled_report,
    schedule_period,
)

Auth = Callable[..., Headers]
MARCH = {"period_start": "2024-03-01T00:00:00Z", "period_end": "2024-04-01T00:00:00Z"}
RECIPIENTS = ["dean@example.edu", "ops@example.edu"]
RESULT_ROUTE = "/v1/reports/{report_id}/executions/{execution_id}/result"


@pytest.fixture(scope="module")
def app(api_settings: Settings, marts: str) -> FastAPI:
    application = create_app(api_settings)
    if RESULT_ROUTE not in {getattr(route, "path", "") for route in application.routes}:
        for router in (runs.router, report_types.router):  # until app.py registers them
            application.include_router(router, dependencies=[Depends(get_principal)])
    application.state.report_executor = ReportExecutor(
        api_settings,
        application.state.sessions,
        engine=ReportEngine.from_settings(api_settings, database=marts),
    )
    return application


@pytest.fixture(scope="module")
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def executor(app: FastAPI) -> ReportExecutor:
    return app.state.report_executor


def create_report(api: TestClient, auth: Auth, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Course completion in March",
        "description": "Enrolments, completion and revenue per course.",
        "type": "course",
        "metrics": ["total_enrollments", "average_completion_rate", "revenue"],
        "dimensions": ["course_id"],
        "sort_by": "total_enrollments",
        "format": "pdf",
        "schedule": {"frequency": "weekly", "day_of_week": 1, "hour": 8, "recipients": RECIPIENTS},
    }
    body.update(fields)
    response = api.post("/v1/reports", json=body, headers=auth("alice"))
    assert response.status_code == 201, response.text
    return response.json()


def run_now(api: TestClient, auth: Auth, report: dict, body: Any = MARCH) -> dict[str, Any]:
    response = api.post(f"/v1/reports/{report['id']}/executions", json=body, headers=auth("alice"))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert response.headers["location"] == (
        f"/v1/reports/{report['id']}/executions/{response.json()['id']}"
    )
    # TestClient returns once the background run has finished
    finished = api.get(response.headers["location"], headers=auth("bob", "viewer"))
    assert finished.status_code == 200, finished.text
    return finished.json()


def mail_of(settings: Settings, execution_id: str) -> list[Any]:
    return [
        message
        for message in read_mailbox(mail_dir(settings))
        if message["X-LMS-Report-Execution"] == execution_id
    ]


def test_run_now_stores_the_file_mails_it_and_completes(
    api: TestClient, auth: Auth, api_settings: Settings, db: psycopg.Connection
) -> None:
    report = create_report(api, auth)
    before = datetime.now(UTC)

    execution = run_now(api, auth, report)

    assert execution["status"] == "completed", execution["error"]
    assert execution["error"] is None
    start, end = (datetime.fromisoformat(execution[k]) for k in ("start_time", "end_time"))
    assert before <= start <= end and execution["duration"] == round((end - start).total_seconds())
    url = urlsplit(execution["result_url"])
    assert url.path == RESULT_ROUTE.format(report_id=report["id"], execution_id=execution["id"])
    assert api.get(url.path).status_code == 401  # the file needs credentials
    download = api.get(url.path, headers=auth("bob", "viewer"))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert (
        "course-completion-in-march_2024-03-01_2024-03-31.pdf"
        in (download.headers["content-disposition"])
    )
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(download.content)).pages)
    assert "Course completion in March" in text and "Total enrollments by Course ID" in text
    table = text[text.index("\nData\n") :]
    rows = ["c-4\n6\n100.0%\n300.00", "c-1\n4\n75.0%\n100.00", "c-2\n2\n25.0%\n50.50"]
    assert all(row in table for row in rows)  # hand-checked values, one cell per line
    assert sorted(rows, key=table.index) == rows  # sorted by total_enrollments, descending
    assert "c-3" not in text  # updated in February: outside the period

    [mail] = mail_of(api_settings, execution["id"])
    assert [address.addr_spec for address in mail["To"].addresses] == RECIPIENTS
    assert mail["X-Envelope-To"] == "<dean@example.edu>, <ops@example.edu>"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content() == download.content
    assert "Rows:      3" in mail.get_body(preferencelist=("plain",)).get_content()

    last_run, next_run = db.execute(
        "SELECT last_run_at, next_run_at FROM report_schedules WHERE report_id = %s",
        (report["id"],),
    ).fetchone()
    assert last_run == start
    assert next_run > datetime.now(UTC) and next_run.weekday() == 0  # Mondays, 08:00 UTC


def test_run_now_with_recipients_and_without_period(
    api: TestClient, auth: Auth, api_settings: Settings
) -> None:
    report = create_report(
        api,
        auth,
        format="csv",
        metrics=["total_views", "count"],
        dimensions=["currency"],
        sort_by=None,
        schedule=None,
    )

    execution = run_now(api, auth, report, body={"recipients": ["cfo@example.edu"]})

    assert execution["status"] == "completed", execution["error"]
    download = api.get(urlsplit(execution["result_url"]).path, headers=auth("alice"))
    rows = list(csv.reader(io.StringIO(download.text, newline="")))
    # all data: c-1, c-2, c-3 are USD (10 + 4 + 1 views), c-4 EUR (20)
    assert rows == [["currency", "total_views", "count"], ["EUR", "20", "1"], ["USD", "15", "3"]]
    [mail] = mail_of(api_settings, execution["id"])
    assert mail["To"] == "cfo@example.edu"


def test_run_now_without_delivery_sends_no_mail(
    api: TestClient, auth: Auth, api_settings: Settings
) -> None:
    report = create_report(api, auth, format="json")

    execution = run_now(api, auth, report, body={**MARCH, "deliver": False})

    assert execution["status"] == "completed"
    document = api.get(urlsplit(execution["result_url"]).path, headers=auth("alice")).json()
    assert document["report"]["execution_id"] == execution["id"]
    assert document["period"] == {"start": "2024-03-01T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    assert [row["course_id"] for row in document["rows"]] == ["c-4", "c-1", "c-2"]
    assert mail_of(api_settings, execution["id"]) == []


def test_unknown_metric_is_a_422_listing_the_allowed_metrics_and_runs_nothing(
    api: TestClient, auth: Auth, api_settings: Settings
) -> None:
    report = create_report(api, auth, metrics=["total_enrollments"], sort_by=None)
    # Saved before its metric left the catalog (the API refuses unknown names when saving).
    with psycopg.connect(api_settings.postgres_dsn, autocommit=True) as connection:
        connection.execute(
            "UPDATE reports SET metrics = '{enrollments}' WHERE id = %s", (report["id"],)
        )

    response = api.post(f"/v1/reports/{report['id']}/executions", json={}, headers=auth("alice"))

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["report", "metrics", 0]
    assert "unknown metric 'enrollments' for course reports" in error["msg"]
    assert error["ctx"]["allowed"] == sorted(CATALOG[ReportType.COURSE].metrics)
    listed = api.get(f"/v1/reports/{report['id']}/executions", headers=auth("alice")).json()
    assert listed["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"period_start": "2024-03-01T00:00:00Z"},
        {"period_start": "2024-03-02T00:00:00Z", "period_end": "2024-03-01T00:00:00Z"},
        {"period_start": "2024-03-01T00:00:00", "period_end": "2024-03-02T00:00:00"},
        {"recipients": ["not an address"]},
        {"surprise": 1},
    ],
)
def test_malformed_run_requests_are_422(api: TestClient, auth: Auth, body: dict) -> None:
    report = create_report(api, auth)

    response = api.post(f"/v1/reports/{report['id']}/executions", json=body, headers=auth("alice"))

    assert response.status_code == 422, response.text


def test_viewers_may_not_run_reports_and_other_orgs_see_nothing(
    api: TestClient, auth: Auth
) -> None:
    report = create_report(api, auth)
    path = f"/v1/reports/{report['id']}/executions"

    assert api.post(path, json={}, headers=auth("vera", "viewer")).status_code == 403
    assert api.post(path, json={}, headers=auth("eve", org_id="org-other")).status_code == 404


def test_failing_render_gives_a_failed_execution_with_its_error(
    api: TestClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("the renderer broke")

    monkeypatch.setitem(renderers.RENDERERS, ReportFormat.CSV, broken)
    report = create_report(api, auth, format="csv")

    execution = run_now(api, auth, report)

    assert execution["status"] == "failed"
    assert execution["error"] == "render failed: RuntimeError: the renderer broke"
    assert execution["result_url"] is None and execution["end_time"] is not None
    result = api.get(
        RESULT_ROUTE.format(report_id=report["id"], execution_id=execution["id"]),
        headers=auth("alice"),
    )
    assert result.status_code == 404 and "status failed" in result.json()["detail"]


def test_clickhouse_error_gives_a_failed_execution_with_clickhouse_message(
    api: TestClient, auth: Auth, executor: ReportExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = CATALOG[ReportType.COURSE]
    typo = Metric("total_enrolments", Unit.COUNT, Aggregation.SUM, "A column the mart lacks.")
    broken = dataclasses.replace(
        course,
        metrics={**course.metrics, typo.name: typo},
        column_kinds={**course.column_kinds, typo.name: FieldKind.INTEGER},
    )
    monkeypatch.setattr(executor.engine, "catalog", {**CATALOG, ReportType.COURSE: broken})
    report = create_report(api, auth, metrics=["total_enrolments"], sort_by=None)

    execution = run_now(api, auth, report)

    assert execution["status"] == "failed"
    assert execution["error"].startswith(
        "query failed: ClickHouse rejected the report query: Code: 47. DB::Exception:"
    )
    assert "total_enrolments" in execution["error"]


def test_failed_delivery_keeps_the_file_and_says_so(
    api: TestClient, auth: Auth, executor: ReportExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed_port = free_port()
    monkeypatch.setattr(executor, "mailer", SmtpMailer("127.0.0.1", closed_port, timeout=5))
    report = create_report(api, auth, format="csv")

    execution = run_now(api, auth, report)

    assert execution["status"] == "failed"
    assert execution["error"].startswith(
        f"delivery failed: cannot deliver mail through 127.0.0.1:{closed_port}"
    )
    download = api.get(urlsplit(execution["result_url"]).path, headers=auth("alice"))
    assert download.status_code == 200 and download.text.startswith("course_id,")


def test_an_execution_runs_once(executor: ReportExecutor, api: TestClient, auth: Auth) -> None:
    report = create_report(api, auth, format="csv", schedule=None)
    outcome = executor.run(uuid.UUID(report["id"]), None)

    with pytest.raises(ExecutionStateError, match="is completed, not pending"):
        executor.execute(outcome.execution_id, None)


def test_report_types_route_lists_the_catalog(api: TestClient, auth: Auth) -> None:
    listed = api.get("/v1/report-types", headers=auth("bob", "viewer")).json()
    course = api.get("/v1/report-types/course", headers=auth("bob", "viewer")).json()

    assert [entry["type"] for entry in listed] == [t.value for t in CATALOG]
    assert course["table"] == "course_analytics" and course["date_field"] == "updated_at"
    rate = next(m for m in course["metrics"] if m["name"] == "average_completion_rate")
    assert (rate["aggregation"], rate["weight"]) == ("weighted_avg", "total_enrollments")
    assert api.get("/v1/report-types/nope", headers=auth("bob", "viewer")).status_code == 404


# --- what the Dagster schedule job calls ------------------------------------------------------


def test_run_report_runs_a_saved_report_for_a_period(
    api: TestClient, auth: Auth, api_settings: Settings, marts: str, db: psycopg.Connection
) -> None:
    report = create_report(api, auth, format="json")
    engine = ReportEngine.from_settings(api_settings, database=marts)
    only_c1 = Period(datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))

    outcome = run_report(report["id"], only_c1, settings=api_settings, engine=engine)

    assert outcome.status is ExecutionStatus.COMPLETED and outcome.rows == 1
    assert outcome.recipients == tuple(RECIPIENTS)
    status, url = db.execute(
        "SELECT status, result_url FROM report_executions WHERE id = %s", (outcome.execution_id,)
    ).fetchone()
    assert (status, url) == ("completed", outcome.result_url)
    stored = api_settings.artifacts_path / outcome.artifact_key
    assert json.loads(stored.read_bytes())["rows"][0]["course_id"] == "c-1"
    assert len(mail_of(api_settings, str(outcome.execution_id))) == 1


def test_run_scheduled_report_covers_the_week_before_the_run(
    api: TestClient, auth: Auth, api_settings: Settings, marts: str
) -> None:
    report = create_report(api, auth, format="json")
    engine = ReportEngine.from_settings(api_settings, database=marts)
    monday = datetime(2024, 3, 11, 8, tzinfo=UTC)

    outcome = run_scheduled_report(report["id"], monday, settings=api_settings, engine=engine)

    document = json.loads((api_settings.artifacts_path / outcome.artifact_key).read_bytes())
    assert document["period"] == {"start": "2024-03-04T00:00:00Z", "end": "2024-03-11T00:00:00Z"}
    assert [row["course_id"] for row in document["rows"]] == ["c-4", "c-2"]


@pytest.mark.parametrize(
    ("frequency", "run_at", "start", "end"),
    [
        (
            "daily",
            datetime(2024, 3, 31, 6, tzinfo=UTC),
            "2024-03-30T00:00+01:00",
            "2024-03-31T00:00+01:00",
        ),  # Berlin moves to summer time on 03-31 at 02:00
        (
            "daily",
            datetime(2024, 4, 1, 6, tzinfo=UTC),
            "2024-03-31T00:00+01:00",
            "2024-04-01T00:00+02:00",
        ),  # a 23-hour day
        (
            "weekly",
            datetime(2024, 3, 11, 7, tzinfo=UTC),
            "2024-03-04T00:00+01:00",
            "2024-03-11T00:00+01:00",
        ),
        (
            "monthly",
            datetime(2024, 3, 1, 7, tzinfo=UTC),
            "2024-02-01T00:00+01:00",
            "2024-03-01T00:00+01:00",
        ),
        (
            "monthly",
            datetime(2024, 1, 15, 7, tzinfo=UTC),
            "2023-12-01T00:00+01:00",
            "2024-01-01T00:00+01:00",
        ),
    ],
)
def test_schedule_period_is_whole_local_days_before_the_run(
    frequency: str, run_at: datetime, start: str, end: str
) -> None:
    period = schedule_period(frequency, run_at, "Europe/Berlin")

    assert period == Period(datetime.fromisoformat(start), datetime.fromisoformat(end))
    assert period.end - period.start <= timedelta(days=31)
