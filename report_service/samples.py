"""Sample saved reports for the demo, created through the running reports API like any client.

Two reports with schedules and recipients: a weekly course report as PDF (Mondays 07:00) and a
daily learner engagement CSV (06:30). Creating them twice is harmless: a sample whose name
the demo user already saved is reused, not duplicated.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from report_service.errors import ReportServiceError

DEMO_USER = "demo-analyst"
DEMO_ORG = "demo-school"
RECIPIENTS = ["dean@demo-school.example", "analytics@demo-school.example"]

SAMPLE_REPORTS: list[dict[str, Any]] = [
    {
        "name": "Weekly course report",
        "description": "Enrolments, completion, ratings and revenue per course.",
        "type": "course",
        "metrics": [
            "total_enrollments",
            "completed_enrollments",
            "average_completion_rate",
            "average_rating",
            "revenue",
        ],
        "dimensions": ["course_id"],
        "sort_by": "total_enrollments",
        "sort_direction": "desc",
        "format": "pdf",
        "schedule": {"frequency": "weekly", "day_of_week": 1, "hour": 7, "recipients": RECIPIENTS},
    },
    {
        "name": "Daily learner engagement",
        "description": "Engagement score, sessions and activity per learner.",
        "type": "user",
        "metrics": [
            "engagement_score",
            "total_logins",
            "total_session_time",
            "total_page_views",
            "average_quiz_score",
        ],
        "dimensions": ["user_id"],
        "sort_by": "engagement_score",
        "sort_direction": "desc",
        "limit": 500,
        "format": "csv",
        "schedule": {"frequency": "daily", "hour": 6, "minute": 30, "recipients": RECIPIENTS},
    },
]


class SampleReportError(ReportServiceError):
    """The API refused a sample report or its run."""


def _checked(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise SampleReportError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


def create_sample_reports(client: httpx.Client) -> list[dict[str, Any]]:
    """The sample reports (created, or the ones saved before), as the API returns them."""
    saved = _checked(
        client.get("/v1/reports", params={"created_by": DEMO_USER, "limit": 100}), "list reports"
    )
    by_name = {report["name"]: report for report in saved["items"]}
    reports = []
    for body in SAMPLE_REPORTS:
        if body["name"] in by_name:
            reports.append(by_name[body["name"]])
        else:
            reports.append(_checked(client.post("/v1/reports", json=body), "create a report"))
    return reports


def run_now(client: httpx.Client, report_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Run the report over all data and wait for its execution to end; the execution."""
    execution = _checked(client.post(f"/v1/reports/{report_id}/executions"), "run the report")
    location = f"/v1/reports/{report_id}/executions/{execution['id']}"
    deadline = time.monotonic() + timeout
    while execution["status"] in ("pending", "running"):
        if time.monotonic() > deadline:
            raise SampleReportError(f"execution {execution['id']} still {execution['status']}")
        time.sleep(0.3)
        execution = _checked(client.get(location), "read the execution")
    return execution
