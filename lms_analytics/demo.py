"""`lms-analytics demo`: the main job end to end on the embedded local stack.

The stack comes up (and migrates the report metadata schema), each server is proven through
the client the pipelines use, then a month of traffic for a small school is simulated onto
Kafka and ingested into the ClickHouse raw tables. Dagster then builds the dbt models (staging,
intermediate, marts) in process, and the demo prints headline figures from the marts. Last,
it saves sample reports with schedules through the running reports API, runs one now, shows
where its mail landed, and prints a token to try the API with; and it writes the "Course
overview" dashboard and prints its URL.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from ingestion.cli import print_ingest_summary
from ingestion.consumer import IngestionConsumer, StopWhen
from ingestion.simulator.cli import print_summary, run_simulation
from ingestion.simulator.simulation import SimulationConfig
from lms_analytics.errors import LmsAnalyticsError
from lms_analytics.health import check_all
from lms_analytics.settings import Settings
from lms_analytics.stack.cli import start_stack
from lms_analytics.stack.manager import StackManager
from orchestration.build import BuildFailed, BuildReport


class DemoFailed(LmsAnalyticsError):
    """A step of the demo did not do what it shows."""


# The marts the headline figures come from.
HEADLINE_MARTS = ("course_analytics", "user_analytics", "organization_analytics")

# A small school: two organisations, 200 learners, 8 courses, a month, a few faults.
DEMO_SCHOOL = SimulationConfig(
    orgs=2, users=200, courses=8, days=30, seed=42, duplicates=0.02, late=0.02, malformed=0.005
)


def run_demo(settings: Settings, console: Console) -> None:
    console.rule("1. Local stack")
    start_stack(StackManager(settings))

    console.rule("2. Round trips through each server")
    table = Table(show_header=True)
    for column in ("service", "result", "seconds"):
        table.add_column(column)
    for result in check_all(settings):
        table.add_row(result.service, result.detail, f"{result.seconds:.2f}")
    console.print(table)

    console.rule("3. A month of a small school's traffic onto Kafka")
    summary = run_simulation(settings, DEMO_SCHOOL, console=console)
    print_summary(summary, console, dry_run=False)

    console.rule("4. Ingestion: Kafka -> ClickHouse raw tables")
    stats = IngestionConsumer(settings).run(StopWhen(idle_seconds=3.0))
    print_ingest_summary(stats)

    # --- dbt through Dagster (orchestration/): build, then the figures the marts hold ---
    console.rule("5. dbt models through Dagster: staging -> intermediate -> marts")
    report = build_marts(settings, console)

    console.rule("6. Headline figures from the marts")
    print_headlines(settings, console)
    if not report.success:  # after the figures of what did build
        reason = report.errors[0] if report.errors else "see the run in the Dagster UI"
        raise BuildFailed(f"the dbt build failed (run {report.run_id}): {reason}")

    console.rule("7. Saved reports: schedules, a run now, the mail")
    show_sample_reports(settings, console)

    console.rule("8. Dashboards")
    from report_service.dashboards.demo import create_course_overview_dashboard

    _, url = create_course_overview_dashboard(settings)
    console.print(f"Course overview dashboard (public share link): {url}", soft_wrap=True)
    console.print(
        f"All dashboards a viewer may see: http://{settings.bind_host}:{settings.api_port}"
        "/dashboards",
        soft_wrap=True,
    )

    console.rule("Next")
    console.print(
        "The stack keeps running: `.venv/bin/lms-analytics stack status` shows it, "
        "`.venv/bin/lms-analytics stack down` stops it. `.venv/bin/lms-analytics dagster` "
        "opens the Dagster UI (assets, checks, this build's run) at http://127.0.0.1:13000."
    )


def build_marts(settings: Settings, console: Console) -> BuildReport:
    """Materialize every dbt asset in process (whatever models the project has)."""
    from orchestration.build import build_models
    from orchestration.cli import dbt_progress, print_build_report, quiet_run_logs

    quiet_run_logs()
    # What dbt prints goes to the spinner: the spinner's console must keep the real stdout.
    spinner_console = Console(file=sys.stdout, highlight=False)
    with spinner_console.status("Building the dbt models through Dagster...") as spinner:
        report = build_models(settings, on_output=dbt_progress(spinner), log_level="WARNING")
    print_build_report(report, console)
    return report


def print_headlines(settings: Settings, console: Console) -> None:
    """Enrolments, completion, top courses and engagement, from the marts that exist."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(**settings.clickhouse_client_kwargs())
    try:
        built = {
            row[0]
            for row in _rows(client, "SELECT name FROM system.tables WHERE database = 'analytics'")
        }
        if "course_analytics" in built:
            _print_enrolments(client, console)
        if "user_analytics" in built:
            _print_engagement(client, console)
        if "organization_analytics" in built:
            _print_organisations(client, console)
        missing = [name for name in HEADLINE_MARTS if name not in built]
        if missing:
            console.print(f"[dim]Not built yet (no such mart): {', '.join(missing)}.[/]")
    finally:
        client.close()


def _rows(client: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in client.query(sql).result_rows]


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _print_enrolments(client: Any, console: Console) -> None:
    total, completed, active, dropped, progress = _rows(
        client,
        """
        SELECT sum(total_enrollments), sum(completed_enrollments), sum(active_enrollments),
               sum(dropped_enrollments),
               sum(average_completion_rate * total_enrollments) / nullIf(sum(total_enrollments), 0)
        FROM analytics.course_analytics
        """,
    )[0]
    console.print(
        f"Enrolments: {total:,} ({active:,} active, {completed:,} completed, {dropped:,} "
        f"dropped). Completion rate {_percent(completed / total if total else None)}, "
        f"average learner progress {_percent(progress)}."
    )
    table = Table(title="Top courses by enrolments", title_justify="left")
    for column in ("course", "enrolments", "completed", "progress", "rating", "revenue"):
        table.add_column(column, justify="left" if column == "course" else "right")
    for course, enrolments, done, course_progress, rating, revenue, currency in _rows(
        client,
        """
        SELECT course_id, total_enrollments, completed_enrollments, average_completion_rate,
               average_rating, revenue, currency
        FROM analytics.course_analytics
        ORDER BY total_enrollments DESC, course_id
        LIMIT 5
        """,
    ):
        table.add_row(
            course,
            f"{enrolments:,}",
            f"{done:,}",
            _percent(course_progress),
            f"{rating:.2f}" if rating is not None else "-",
            f"{revenue:,.2f} {currency}",
        )
    console.print(table)


def _print_engagement(client: Any, console: Console) -> None:
    learners, mean, highest = _rows(
        client,
        """
        SELECT count(), avg(engagement_score), max(engagement_score)
        FROM analytics.user_analytics
        """,
    )[0]
    console.print(
        f"Engagement: {learners:,} learners, mean engagement score {(mean or 0):.1f} / 100 "
        f"(highest {(highest or 0):.1f})."
    )


def _print_organisations(client: Any, console: Console) -> None:
    table = Table(title="Organisations", title_justify="left")
    for column in ("organisation", "users", "active (30 days)", "engagement"):
        table.add_column(column, justify="left" if column == "organisation" else "right")
    for org, users, active, score in _rows(
        client,
        """
        SELECT organization_id, total_users, active_users, engagement_score
        FROM analytics.organization_analytics
        ORDER BY organization_id
        """,
    ):
        score_text = f"{score:.1f}" if score is not None else "-"
        table.add_row(org, f"{users:,}", f"{active:,}", score_text)
    console.print(table)


def show_sample_reports(settings: Settings, console: Console) -> None:
    """Save the sample reports through the stack's API, run one now, show its mail."""
    import httpx

    from lms_analytics.stack.smtp import mail_dir
    from report_service.auth import issue_dev_token
    from report_service.samples import DEMO_ORG, DEMO_USER, create_sample_reports, run_now

    token = issue_dev_token(settings, DEMO_USER, "analyst", DEMO_ORG)
    api = f"http://{settings.bind_host}:{settings.api_port}"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api, headers=headers, timeout=60) as client:
        reports = create_sample_reports(client)
        table = Table(title="Saved reports (each is a Dagster schedule)", title_justify="left")
        for column in ("report", "format", "schedule", "next run (UTC)"):
            table.add_column(column, no_wrap=True)
        for report in reports:
            schedule = report["schedule"]
            table.add_row(
                report["name"],
                report["format"],
                f"{schedule['frequency']} at {schedule['hour']:02d}:{schedule['minute']:02d}",
                (schedule["next_run_at"] or "-")[:16].replace("T", " "),
            )
        console.print(table)
        recipients = ", ".join(reports[0]["schedule"]["recipients"])
        console.print(f"Recipients: {recipients}", soft_wrap=True)
        weekly = reports[0]
        execution = run_now(client, weekly["id"])
    if execution["status"] != "completed":
        raise DemoFailed(f"the sample report run failed: {execution['error']}")
    mail = sorted(
        path
        for path in mail_dir(settings).glob("*.eml")
        if f"X-LMS-Report-Execution: {execution['id']}" in path.read_text(errors="replace")
    )
    console.print(
        f'Ran "{weekly["name"]}" now: execution {execution["id"]} {execution["status"]} in '
        f"{execution['duration']} s.\n  file: {execution['result_url']}\n"
        f"  mail: {', '.join(str(path) for path in mail) or '(none found)'}",
        soft_wrap=True,  # paths and URLs stay whole, for a terminal to open them
    )
    console.print(
        f"Try the API ({api}/docs) as {DEMO_USER} of {DEMO_ORG} with this token (12 hours):\n"
        f"  export TOKEN={token}\n"
        f'  curl -H "Authorization: Bearer $TOKEN" {api}/v1/reports',
        soft_wrap=True,
    )
