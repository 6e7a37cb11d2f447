"""A report schedule saved through the API shows up in a running Dagster UI without a restart,
with its cron and time zone, and leaves it when the report is deleted."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from dagster_process import dagster_command, wait_for_ui
from fastapi.testclient import TestClient

from lms_analytics.settings import Settings
from lms_analytics.stack.ports import free_port
from report_service.api.app import create_app
from report_service.auth import issue_dev_token
from report_service.db.migrate import upgrade

SCHEDULES_QUERY = """
{
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        locationOrLoadError {
          ... on RepositoryLocation {
            repositories {
              schedules { name cronSchedule executionTimezone scheduleState { status } }
            }
          }
        }
      }
    }
  }
}
"""


def ui_schedules(url: str) -> dict[str, dict[str, Any]]:
    answer = httpx.post(f"{url}/graphql", json={"query": SCHEDULES_QUERY}, timeout=60)
    answer.raise_for_status()
    schedules = {}
    for entry in answer.json()["data"]["workspaceOrError"]["locationEntries"]:
        for repository in (entry["locationOrLoadError"] or {}).get("repositories", []):
            for schedule in repository["schedules"]:
                schedules[schedule["name"]] = schedule
    return schedules


def test_a_schedule_saved_through_the_api_reaches_the_running_ui_and_leaves_with_its_report(
    local_stack: Settings, tmp_path: Path
) -> None:
    upgrade(local_stack)  # the report metadata schema, as `stack up` makes it
    port = free_port()
    settings = Settings(**{**local_stack.model_dump(), "dagster_port": port})
    url = settings.dagster_webserver_url
    token = issue_dev_token(settings, "alice", "analyst", f"org-{uuid.uuid4().hex[:8]}")
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "name": "Weekly course report",
        "type": "course",
        "metrics": ["total_enrollments"],
        "dimensions": ["course_id"],
        "format": "pdf",
        "schedule": {"frequency": "weekly", "day_of_week": 1, "hour": 7, "minute": 45},
    }
    log = tmp_path / "dagster.out"
    api_app = create_app(settings)
    with dagster_command(local_stack, port, log) as process, TestClient(api_app) as api:
        wait_for_ui(process, log)
        before = ui_schedules(url)
        assert "ingest_every_minute" in before

        # The API answers, then (a background task) asks the webserver to reload.
        started = time.monotonic()
        created = api.post("/v1/reports", json=body, headers=headers)
        assert created.status_code == 201, created.text
        reloaded = time.monotonic() - started  # the reload ran before the client returned
        name = f"weekly_course_report_{uuid.UUID(created.json()['id']).hex[:8]}"
        schedule = ui_schedules(url)[name]
        assert schedule["cronSchedule"] == "45 7 * * 1"
        assert schedule["executionTimezone"] == settings.report_timezone
        assert schedule["scheduleState"]["status"] == "RUNNING"

        deleted = api.delete(f"/v1/reports/{created.json()['id']}", headers=headers)
        assert deleted.status_code == 204
        assert name not in ui_schedules(url)

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, log.read_text()
    print(f"schedule saved -> shown in the Dagster UI: {reloaded:.1f} s")  # pytest -s shows it
