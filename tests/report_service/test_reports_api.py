"""/v1/reports and executions against the real database: CRUD, validation, paging, rights."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from rs_helpers import SERVICE_KEY, SERVICE_VIEWER_KEY, Headers, report_body
from sqlalchemy.orm import Session

from lms_analytics.settings import Settings
from report_service.db.models import ReportExecution
from report_service.db.session import create_db_engine

MakeReport = Callable[..., dict[str, Any]]
Auth = Callable[..., Headers]


def _errors(response: Any) -> dict[str, str]:
    """422 body as {"field.path": message}."""
    assert response.status_code == 422, response.text
    return {".".join(map(str, e["loc"][1:])): e["msg"] for e in response.json()["detail"]}


# --- CRUD -------------------------------------------------------------------------------------


def test_created_report_is_stored_and_read_back_with_every_field(
    client: TestClient, auth: Auth, org: str, db: psycopg.Connection
) -> None:
    body = report_body(
        schedule={
            "frequency": "weekly",
            "day_of_week": 1,
            "hour": 8,
            "minute": 15,
            "recipients": ["dean@example.edu", "ops@example.edu"],
        }
    )
    created = client.post("/v1/reports", json=body, headers=auth("alice"))
    assert created.status_code == 201, created.text
    report = created.json()
    assert created.headers["location"] == f"/v1/reports/{report['id']}"
    for field in ("name", "description", "type", "filters", "metrics", "dimensions"):
        assert report[field] == body[field]
    assert (report["sort_by"], report["sort_direction"], report["limit"], report["format"]) == (
        "average_completion_rate",
        "asc",
        100,
        "json",
    )
    assert (report["created_by"], report["org_id"]) == ("alice", org)
    schedule = report["schedule"]
    assert schedule["report_id"] == report["id"]
    assert schedule["recipients"] == ["dean@example.edu", "ops@example.edu"]
    assert schedule["active"] is True and schedule["last_run_at"] is None
    next_run = datetime.fromisoformat(schedule["next_run_at"])
    assert next_run.weekday() == 0 and (next_run.hour, next_run.minute) == (8, 15)  # Monday, UTC
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(days=7)

    assert client.get(f"/v1/reports/{report['id']}", headers=auth("bob")).json() == report
    row = db.execute(
        "SELECT r.metrics, r.filters, s.recipients, s.day_of_week FROM reports r "
        "JOIN report_schedules s ON s.report_id = r.id WHERE r.id = %s",
        (report["id"],),
    ).fetchone()
    assert row == (
        ["total_enrollments", "average_completion_rate"],
        {"course_id": "course-1"},
        ["dean@example.edu", "ops@example.edu"],
        1,
    )


def test_minimal_report_gets_defaults(client: TestClient, auth: Auth) -> None:
    body = {"name": "Sessions", "type": "sessions", "metrics": ["count"]}
    report = client.post("/v1/reports", json=body, headers=auth("alice")).json()
    assert report["description"] == "" and report["filters"] == {}
    assert (report["sort_direction"], report["format"], report["limit"]) == ("desc", "csv", None)
    assert report["schedule"] is None and report["dimensions"] == []


def test_update_changes_only_the_fields_sent(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    report = make_report()
    response = client.patch(
        f"/v1/reports/{report['id']}",
        json={"name": "Renamed", "limit": None, "filters": {"course_id": "course-2"}},
        headers=auth("alice"),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["limit"], updated["filters"]) == (
        "Renamed",
        None,
        {"course_id": "course-2"},
    )
    assert updated["metrics"] == report["metrics"]
    assert updated["created_at"] == report["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        report["updated_at"]
    )
    assert client.get(f"/v1/reports/{report['id']}", headers=auth("alice")).json() == updated


def test_schedule_is_added_replaced_deactivated_and_removed(
    client: TestClient, auth: Auth, make_report: MakeReport, db: psycopg.Connection
) -> None:
    report = make_report()
    url, headers = f"/v1/reports/{report['id']}", auth("alice")

    added = client.patch(url, json={"schedule": {"frequency": "daily", "hour": 6}}, headers=headers)
    schedule = added.json()["schedule"]
    assert schedule["frequency"] == "daily" and schedule["next_run_at"] is not None

    replaced = client.patch(
        url,
        json={"schedule": {"frequency": "monthly", "day_of_month": 31, "active": False}},
        headers=headers,
    ).json()["schedule"]
    assert replaced["id"] == schedule["id"]  # the same schedule row, changed
    assert (replaced["frequency"], replaced["day_of_month"], replaced["hour"]) == ("monthly", 31, 0)
    assert replaced["next_run_at"] is None  # inactive: never due

    removed = client.patch(url, json={"schedule": None}, headers=headers).json()
    assert removed["schedule"] is None
    count = db.execute(
        "SELECT count(*) FROM report_schedules WHERE report_id = %s", (report["id"],)
    ).fetchone()
    assert count == (0,)


def test_delete_removes_the_report_and_its_schedule(
    client: TestClient, auth: Auth, make_report: MakeReport, db: psycopg.Connection
) -> None:
    report = make_report(schedule={"frequency": "daily"})
    response = client.delete(f"/v1/reports/{report['id']}", headers=auth("alice"))
    assert response.status_code == 204 and response.content == b""
    assert client.get(f"/v1/reports/{report['id']}", headers=auth("alice")).status_code == 404
    assert db.execute(
        "SELECT (SELECT count(*) FROM reports WHERE id = %(id)s),"
        " (SELECT count(*) FROM report_schedules WHERE report_id = %(id)s)",
        {"id": report["id"]},
    ).fetchone() == (0, 0)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "  "}, "name", "at least 1 character"),
        ({"type": "students"}, "type", "Input should be 'user', 'course'"),
        ({"format": "xlsx"}, "format", "Input should be 'csv', 'pdf' or 'json'"),
        ({"sort_direction": "up"}, "sort_direction", "Input should be 'asc' or 'desc'"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"metrics": []}, "metrics", "at least 1 item"),
        ({"metrics": ["Enrollments; DROP"]}, "metrics.0", "should match pattern"),
        ({"dimensions": ["course_id", "course_id"]}, "dimensions", "listed more than once"),
        ({"sort_by": "dropouts"}, "sort_by", "must be one of the report's metrics or dimensions"),
        ({"filters": ["a"]}, "filters", "valid dictionary"),
        ({"owner": "mallory"}, "owner", "Extra inputs are not permitted"),
        ({"schedule": {"frequency": "hourly"}}, "schedule.frequency", "'daily', 'weekly'"),
        ({"schedule": {"frequency": "weekly"}}, "schedule.day_of_week", "needs day_of_week"),
        (
            {"schedule": {"frequency": "weekly", "day_of_week": 7}},
            "schedule.day_of_week",
            "less than or equal to 6",
        ),
        (
            {"schedule": {"frequency": "monthly", "day_of_month": 0}},
            "schedule.day_of_month",
            "greater than or equal to 1",
        ),
        (
            {"schedule": {"frequency": "daily", "day_of_month": 3}},
            "schedule.day_of_month",
            "only for monthly schedules",
        ),
        ({"schedule": {"frequency": "daily", "hour": 24}}, "schedule.hour", "less than or equal"),
        (
            {"schedule": {"frequency": "daily", "minute": 60}},
            "schedule.minute",
            "less than or equal to 59",
        ),
        (
            {"schedule": {"frequency": "daily", "recipients": ["not-an-email"]}},
            "schedule.recipients.0",
            "not a valid email address",
        ),
    ],
)
def test_invalid_report_is_422_naming_the_field(
    client: TestClient, auth: Auth, overrides: dict[str, Any], field: str, message: str
) -> None:
    response = client.post("/v1/reports", json=report_body(**overrides), headers=auth("alice"))
    errors = _errors(response)
    assert field in errors, errors
    assert message in errors[field]


def test_update_is_validated_against_the_stored_report(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    report = make_report()  # sorted by average_completion_rate
    url = f"/v1/reports/{report['id']}"
    errors = _errors(
        client.patch(url, json={"metrics": ["total_enrollments"]}, headers=auth("alice"))
    )
    assert "must be one of the report's metrics" in errors["sort_by"]
    assert (
        "valid string"
        in _errors(client.patch(url, json={"name": None}, headers=auth("alice")))["name"]
    )
    unchanged = client.get(url, headers=auth("alice")).json()
    assert unchanged["metrics"] == report["metrics"] and unchanged["name"] == report["name"]


def test_malformed_id_is_422(client: TestClient, auth: Auth) -> None:
    response = client.get("/v1/reports/not-a-uuid", headers=auth("alice"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "report_id"]


# --- listing ----------------------------------------------------------------------------------


def test_list_pages_newest_first_with_the_total(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    ids = [make_report(name=f"R{i}")["id"] for i in range(5)]
    headers = auth("alice")
    first = client.get("/v1/reports", params={"limit": 2}, headers=headers).json()
    third = client.get("/v1/reports", params={"limit": 2, "offset": 4}, headers=headers).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert [item["id"] for item in third["items"]] == [ids[0]]
    assert third["total"] == 5


def test_list_filters_by_type_and_creator(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    make_report("alice", type="quiz", metrics=["total_attempts"], dimensions=[], sort_by=None)
    make_report("alice")
    make_report("bob")
    headers = auth("carol", "viewer")
    quiz = client.get("/v1/reports", params={"type": "quiz"}, headers=headers).json()
    by_bob = client.get("/v1/reports", params={"created_by": "bob"}, headers=headers).json()
    assert quiz["total"] == 1 and quiz["items"][0]["type"] == "quiz"
    assert by_bob["total"] == 1 and by_bob["items"][0]["created_by"] == "bob"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"offset": -1}])
def test_page_bounds_are_validated(client: TestClient, auth: Auth, params: dict) -> None:
    assert client.get("/v1/reports", params=params, headers=auth("alice")).status_code == 422


# --- rights -----------------------------------------------------------------------------------


def test_viewer_reads_but_cannot_create(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    report = make_report()
    viewer = auth("victor", "viewer")
    assert client.get(f"/v1/reports/{report['id']}", headers=viewer).status_code == 200
    response = client.post("/v1/reports", json=report_body(), headers=viewer)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "role viewer may not create reports; analysts and admins may"
    }


def test_viewer_cannot_change_even_a_report_it_created(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    report = make_report("vera")  # created while vera was an analyst
    viewer = auth("vera", "viewer")
    response = client.patch(f"/v1/reports/{report['id']}", json={"name": "x"}, headers=viewer)
    assert response.status_code == 403


def test_analyst_cannot_change_or_delete_another_analysts_report(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    report = make_report("alice")
    url, bob = f"/v1/reports/{report['id']}", auth("bob")
    patched = client.patch(url, json={"name": "Mine now"}, headers=bob)
    deleted = client.delete(url, headers=bob)
    assert (patched.status_code, deleted.status_code) == (403, 403)
    assert (
        patched.json()["detail"] == "only the report's creator or an admin may change or delete it"
    )
    assert client.get(url, headers=bob).json()["name"] == report["name"]


def test_admin_can_change_and_delete_anyones_report(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    report = make_report("alice")
    url, admin = f"/v1/reports/{report['id']}", auth("root", "admin")
    patched = client.patch(url, json={"name": "Fixed by admin"}, headers=admin)
    assert patched.status_code == 200 and patched.json()["created_by"] == "alice"
    assert client.delete(url, headers=admin).status_code == 204


def test_other_organisations_reports_do_not_exist_for_the_caller(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    report = make_report("alice")
    outsider = auth("root", "admin", org_id=f"other-{uuid.uuid4().hex[:6]}")
    url = f"/v1/reports/{report['id']}"
    assert client.get("/v1/reports", headers=outsider).json()["total"] == 0
    for response in (
        client.get(url, headers=outsider),
        client.patch(url, json={"name": "x"}, headers=outsider),
        client.delete(url, headers=outsider),
        client.get(f"{url}/executions", headers=outsider),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": f"report {report['id']} not found"}


def test_api_key_service_account_creates_in_its_own_org(client: TestClient) -> None:
    headers = {"X-API-Key": SERVICE_KEY}
    created = client.post("/v1/reports", json=report_body(), headers=headers)
    assert created.status_code == 201
    assert created.json()["org_id"] == "org-service"
    assert created.json()["created_by"].startswith("api-key:")
    viewer = {"X-API-Key": SERVICE_VIEWER_KEY}
    assert client.post("/v1/reports", json=report_body(), headers=viewer).status_code == 403


# --- executions -------------------------------------------------------------------------------


@pytest.fixture
def add_executions(api_settings: Settings) -> Callable[[str, int], list[str]]:
    """Write executions as the report engine will: through the ORM model's transitions."""
    engine = create_db_engine(api_settings)

    def add(report_id: str, count: int) -> list[str]:
        ids = []
        start = datetime(2026, 1, 1, tzinfo=UTC)
        with Session(engine) as session:
            for index in range(count):
                execution = ReportExecution(
                    report_id=uuid.UUID(report_id), created_at=start + timedelta(hours=index)
                )
                execution.mark_running(start + timedelta(hours=index))
                if index % 2:
                    execution.mark_failed(
                        "ClickHouse timed out", start + timedelta(hours=index, seconds=3)
                    )
                else:
                    execution.mark_completed(
                        f"file:///artifacts/{index}.csv", start + timedelta(hours=index, seconds=90)
                    )
                session.add(execution)
                session.flush()
                ids.append(str(execution.id))
            session.commit()
        return ids

    yield add
    engine.dispose()


def test_executions_are_listed_newest_first_and_filtered_by_status(
    client: TestClient,
    auth: Auth,
    make_report: MakeReport,
    add_executions: Callable[[str, int], list[str]],
) -> None:
    report = make_report()
    ids = add_executions(report["id"], 5)
    url, headers = f"/v1/reports/{report['id']}/executions", auth("victor", "viewer")

    page = client.get(url, params={"limit": 2}, headers=headers).json()
    assert page["total"] == 5 and [e["id"] for e in page["items"]] == ids[::-1][:2]
    failed = client.get(url, params={"status": "failed"}, headers=headers).json()
    assert failed["total"] == 2 and {e["status"] for e in failed["items"]} == {"failed"}

    detail = client.get(f"{url}/{ids[0]}", headers=headers).json()
    assert detail["status"] == "completed" and detail["duration"] == 90
    assert detail["result_url"] == "file:///artifacts/0.csv" and detail["error"] is None
    assert detail["start_time"] == "2026-01-01T00:00:00Z"
    assert detail["end_time"] == "2026-01-01T00:01:30Z"
    assert client.get(f"{url}/{ids[1]}", headers=headers).json()["error"] == "ClickHouse timed out"


def test_execution_of_another_report_is_404(
    client: TestClient,
    auth: Auth,
    make_report: MakeReport,
    add_executions: Callable[[str, int], list[str]],
) -> None:
    first, second = make_report(), make_report()
    (execution_id,) = add_executions(first["id"], 1)
    response = client.get(
        f"/v1/reports/{second['id']}/executions/{execution_id}", headers=auth("alice")
    )
    assert response.status_code == 404
    assert response.json() == {"detail": f"execution {execution_id} not found"}


def test_deleting_a_report_deletes_its_executions(
    client: TestClient,
    auth: Auth,
    make_report: MakeReport,
    add_executions: Callable[[str, int], list[str]],
    db: psycopg.Connection,
) -> None:
    report = make_report()
    add_executions(report["id"], 3)
    assert client.delete(f"/v1/reports/{report['id']}", headers=auth("alice")).status_code == 204
    count = db.execute(
        "SELECT count(*) FROM report_executions WHERE report_id = %s", (report["id"],)
    ).fetchone()
    assert count == (0,)


def test_a_report_the_engine_cannot_run_is_refused_when_saved_with_the_allowed_names(
    client: TestClient, auth: Auth, make_report: MakeReport
) -> None:
    body = report_body(metrics=["enrollments"], sort_by=None)
    created = client.post("/v1/reports", json=body, headers=auth("alice"))
    assert created.status_code == 422
    [error] = created.json()["detail"]
    assert error["loc"] == ["report", "metrics", 0]
    assert "unknown metric 'enrollments' for course reports" in error["msg"]
    assert "total_enrollments" in error["ctx"]["allowed"]

    report = make_report()
    url = f"/v1/reports/{report['id']}"
    patched = client.patch(url, json={"dimensions": ["course_name"]}, headers=auth("alice"))
    assert patched.status_code == 422
    assert patched.json()["detail"][0]["loc"] == ["report", "dimensions", 0]
    assert client.get(url, headers=auth("alice")).json()["dimensions"] == report["dimensions"]
