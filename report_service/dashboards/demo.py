"""The demo's "Course overview" dashboard: saved reports and query widgets over the marts.

`create_course_overview_dashboard(settings)` writes (or rewrites) the dashboard and the saved
reports it shows into the report metadata database and returns its id and the URL to open: a
share link (the dashboard is public), so the page opens without a login.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from lms_analytics.settings import Settings
from report_service.dashboards.access import base_url, share_url
from report_service.db.models import Dashboard, DashboardWidget, Report, WidgetPosition, utcnow
from report_service.db.session import create_db_engine, session_factory
from report_service.domain import DataSourceType, Visualization, WidgetType

log = logging.getLogger(__name__)

DASHBOARD_NAME = "Course overview"
DEMO_ORG = "demo-school"
DEMO_CREATOR = "demo-analyst"

COMPLETION_REPORT: dict[str, Any] = {
    "name": "Completion by course",
    "description": "Mean learner progress per course, highest first.",
    "type": "course",
    "metrics": ["average_completion_rate"],
    "dimensions": ["course_id"],
    "sort_by": "average_completion_rate",
    "sort_direction": "desc",
    "limit": 20,
    "format": "json",
}
QUIZ_REPORT: dict[str, Any] = {
    "name": "Quiz pass rates",
    "description": "Passed attempts / attempts per quiz, highest first.",
    "type": "quiz",
    "metrics": ["pass_rate"],
    "dimensions": ["quiz_id"],
    "sort_by": "pass_rate",
    "sort_direction": "desc",
    "limit": 15,
    "format": "json",
}


def _query(**fields: Any) -> str:
    return json.dumps(fields)


# Distinct users per day (the latest day as a metric with its trend, and the series as a chart).
ACTIVE_USERS_PER_DAY = _query(
    type="activities",
    metrics=["count"],
    dimensions=["day", "user_id"],
    count_distinct="user_id",
    limit=200_000,
)

# title, description, type, visualization, source (report key or query JSON), x, y, w, h
WIDGETS: list[tuple[str, str, WidgetType, Visualization, str, int, int, int, int]] = [
    (
        "Revenue",
        "Payments in the reporting currency, all courses.",
        WidgetType.METRIC,
        Visualization.METRIC,
        _query(type="course", metrics=["revenue"], dimensions=["currency"]),
        0, 0, 4, 2,
    ),
    (
        "Enrolments",
        "Distinct enrolments, all courses.",
        WidgetType.METRIC,
        Visualization.METRIC,
        _query(type="course", metrics=["total_enrollments"]),
        4, 0, 4, 2,
    ),
    (
        "Active users, latest day",
        "Distinct users with any activity; change from the day before.",
        WidgetType.METRIC,
        Visualization.METRIC,
        ACTIVE_USERS_PER_DAY,
        8, 0, 4, 2,
    ),
    (
        "Enrolment funnel",
        "All enrolments, then those still active, completed and dropped.",
        WidgetType.CHART,
        Visualization.BAR,
        _query(
            type="course",
            metrics=[
                "total_enrollments",
                "active_enrollments",
                "completed_enrollments",
                "dropped_enrollments",
            ],
        ),
        0, 2, 6, 4,
    ),
    (
        "Completion by course",
        "Mean learner progress per course.",
        WidgetType.CHART,
        Visualization.BAR,
        "report:completion",
        6, 2, 6, 4,
    ),
    (
        "Active users over time",
        "Distinct users with any activity, per day.",
        WidgetType.CHART,
        Visualization.AREA,
        ACTIVE_USERS_PER_DAY,
        0, 6, 8, 4,
    ),
    (
        "Revenue by course",
        "Share of revenue, top courses.",
        WidgetType.CHART,
        Visualization.PIE,
        _query(
            type="course",
            metrics=["revenue"],
            dimensions=["course_id"],
            sort_by="revenue",
            sort_direction="desc",
            limit=8,
        ),
        8, 6, 4, 4,
    ),
    (
        "Quiz pass rates",
        "Passed attempts / attempts per quiz.",
        WidgetType.CHART,
        Visualization.BAR,
        "report:quiz",
        0, 10, 5, 4,
    ),
    (
        "Courses at a glance",
        "Enrolments, completion, rating and revenue per course.",
        WidgetType.TABLE,
        Visualization.TABLE,
        _query(
            type="course",
            metrics=[
                "total_enrollments",
                "completed_enrollments",
                "average_completion_rate",
                "average_rating",
                "revenue",
            ],
            sort_by="total_enrollments",
            sort_direction="desc",
            limit=50,
        ),
        5, 10, 7, 4,
    ),
]  # fmt: skip


def _replace_previous(session: Session, org_id: str, created_by: str) -> None:
    """Remove an earlier demo dashboard and its reports (the demo can run again)."""
    session.execute(
        delete(Dashboard).where(
            Dashboard.org_id == org_id,
            Dashboard.created_by == created_by,
            Dashboard.name == DASHBOARD_NAME,
        )
    )
    names = [COMPLETION_REPORT["name"], QUIZ_REPORT["name"]]
    session.execute(
        delete(Report).where(
            Report.org_id == org_id, Report.created_by == created_by, Report.name.in_(names)
        )
    )


def create_course_overview_dashboard(
    settings: Settings,
    *,
    org_id: str = DEMO_ORG,
    created_by: str = DEMO_CREATOR,
    sessions: sessionmaker[Session] | None = None,
) -> tuple[uuid.UUID, str]:
    """Write the public "Course overview" dashboard; returns its id and the URL to open it.

    The URL is the dashboard's share link (opens without a login), or its plain address when
    no share secret is configured.
    """
    engine = None
    if sessions is None:
        engine = create_db_engine(settings)
        sessions = session_factory(engine)
    try:
        with sessions() as session, session.begin():
            _replace_previous(session, org_id, created_by)
            now = utcnow()
            reports = {}
            for key, fields in (("completion", COMPLETION_REPORT), ("quiz", QUIZ_REPORT)):
                report = Report(
                    org_id=org_id, created_by=created_by, created_at=now, updated_at=now, **fields
                )
                session.add(report)
                reports[key] = report
            session.flush()
            dashboard = Dashboard(
                org_id=org_id,
                name=DASHBOARD_NAME,
                description="Enrolments, completion, quizzes, activity and revenue across the "
                "school's courses.",
                created_by=created_by,
                is_public=True,
                created_at=now,
                updated_at=now,
            )
            for title, description, kind, visualization, source, x, y, w, h in WIDGETS:
                if source.startswith("report:"):
                    report = reports[source.removeprefix("report:")]
                    source_type, data_source, report_id = (
                        DataSourceType.REPORT,
                        str(report.id),
                        report.id,
                    )
                else:
                    source_type, data_source, report_id = DataSourceType.QUERY, source, None
                dashboard.layout.append(
                    DashboardWidget(
                        type=kind.value,
                        title=title,
                        description=description,
                        data_source_type=source_type.value,
                        data_source=data_source,
                        report_id=report_id,
                        visualization=visualization.value,
                        filters={},
                        position=WidgetPosition(x, y, w, h),
                        created_at=now,
                        updated_at=now,
                    )
                )
            session.add(dashboard)
            session.flush()
            dashboard_id = dashboard.id
        url = share_url(settings, dashboard_id) or f"{base_url(settings)}/dashboards/{dashboard_id}"
        log.info("demo dashboard %s: %s", dashboard_id, url)
        return dashboard_id, url
    finally:
        if engine is not None:
            engine.dispose()


def find_dashboard(session: Session, org_id: str = DEMO_ORG) -> Dashboard | None:
    return session.scalar(
        select(Dashboard).where(Dashboard.org_id == org_id, Dashboard.name == DASHBOARD_NAME)
    )
