"""`lms-analytics demo`: the main job end to end on the embedded local stack.

The stack comes up (and migrates the report metadata schema), each server is proven through
the client the pipelines use, then a month of traffic for a small school is simulated onto
Kafka and ingested into the ClickHouse raw tables. dbt builds and reports join as they land.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ingestion.cli import print_ingest_summary
from ingestion.consumer import IngestionConsumer, StopWhen
from ingestion.simulator.cli import print_summary, run_simulation
from ingestion.simulator.simulation import SimulationConfig
from lms_analytics.health import check_all
from lms_analytics.settings import Settings
from lms_analytics.stack.cli import start_stack
from lms_analytics.stack.manager import StackManager

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

    console.rule("Next")
    console.print(
        "The stack keeps running: `.venv/bin/lms-analytics stack status` shows it, "
        "`.venv/bin/lms-analytics stack down` stops it."
    )
