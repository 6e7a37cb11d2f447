"""`lms-analytics ingest`: run the Kafka -> ClickHouse consumer."""

from __future__ import annotations

import signal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ingestion.consumer import IngestionConsumer, IngestStats, StopWhen
from lms_analytics.settings import get_settings

console = Console(highlight=False)


def print_ingest_summary(stats: IngestStats) -> None:
    table = Table(title="Rows written per raw table", title_justify="left")
    table.add_column("raw table")
    table.add_column("rows", justify="right")
    for name, count in sorted(stats.events.items()):
        table.add_row(f"raw.{name}", f"{count:,}")
    console.print(table)
    if stats.errors:
        errors = Table(title="Rejected into raw.ingestion_errors", title_justify="left")
        errors.add_column("reason")
        errors.add_column("messages", justify="right")
        for reason, count in stats.errors.most_common():
            errors.add_row(reason, f"{count:,}")
        console.print(errors)
    rate = stats.messages / stats.seconds if stats.seconds else 0
    console.print(
        f"{stats.messages:,} messages in {stats.seconds:.1f} s ({rate:,.0f}/s), "
        f"{stats.batches} batches, {stats.write_retries} write retries."
    )


def ingest(
    until_idle: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without new messages.")
    ] = None,
    max_events: Annotated[
        int | None, typer.Option(help="Stop after about this many messages.")
    ] = None,
    group_id: Annotated[str | None, typer.Option(help="Consumer group id.")] = None,
) -> None:
    """Consume every event topic into the ClickHouse raw tables (Ctrl-C/SIGTERM: finish, commit)."""
    consumer = IngestionConsumer(get_settings(), group_id=group_id)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: consumer.request_stop())
    stats = consumer.run(StopWhen(idle_seconds=until_idle, max_messages=max_events))
    print_ingest_summary(stats)
