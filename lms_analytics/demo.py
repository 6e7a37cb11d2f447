"""`lms-analytics demo`: the main job end to end on the embedded local stack.

Today the demo brings the stack up and proves each server works through the clients the
pipelines use. Ingestion, dbt builds and reports join it as they land.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from lms_analytics.health import check_all
from lms_analytics.settings import Settings
from lms_analytics.stack.cli import start_stack
from lms_analytics.stack.manager import StackManager


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

    console.rule("Next")
    console.print(
        "The stack keeps running: `.venv/bin/lms-analytics stack status` shows it, "
        "`.venv/bin/lms-analytics stack down` stops it."
    )
