"""`lms-analytics simulate`: realistic LMS traffic of every event type into Kafka.

Register with `app.command("simulate")(simulate)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingestion.simulator.faults import FaultStats
from ingestion.simulator.producer import ProductionReport, produce_messages
from ingestion.simulator.simulation import (
    Simulation,
    SimulationConfig,
    SimulatorError,
    relaxed_gc,
)
from lms_analytics.settings import Settings, get_settings


@dataclass(frozen=True)
class SimulationSummary:
    stats: FaultStats
    production: ProductionReport | None  # None for a dry run
    start: datetime
    end: datetime
    seconds: float

    @property
    def messages(self) -> int:
        return self.stats.messages


def parse_end(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SimulatorError(
            f"--end {text!r} is not an ISO 8601 time (e.g. 2026-11-24T10:00:00Z)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def run_simulation(
    settings: Settings,
    config: SimulationConfig,
    *,
    rate: float | None = None,
    partitions: int = 1,
    dry_run: bool = False,
    console: Console | None = None,
) -> SimulationSummary:
    """Generate the traffic of `config` and produce it (or only count it, `dry_run`)."""
    console = console or Console(stderr=True)
    simulation = Simulation(config)
    started = time.monotonic()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% of the window"),
        TextColumn("{task.fields[sent]:,} messages"),
        TimeElapsedColumn(),
    )
    action = "Generating" if dry_run else "Producing"
    with relaxed_gc(), Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{action} {config.days} days of traffic", total=1.0, sent=0)

        def advance(sent: int) -> None:
            progress.update(task, completed=simulation.progress, sent=sent)

        production = None
        if dry_run:
            count = 0
            for count, _ in enumerate(simulation, start=1):
                if count % 5_000 == 0:
                    advance(count)
            advance(count)
        else:
            production = produce_messages(
                settings, simulation, rate=rate, partitions=partitions, on_progress=advance
            )
    return SimulationSummary(
        simulation.stats, production, simulation.start, simulation.end, time.monotonic() - started
    )


def print_summary(summary: SimulationSummary, console: Console, dry_run: bool) -> None:
    stats = summary.stats
    table = Table(
        title=f"Simulated {summary.start:%Y-%m-%d %H:%M} to {summary.end:%Y-%m-%d %H:%M} UTC"
    )
    table.add_column("topic")
    table.add_column("events", justify="right")
    for topic, count in sorted(stats.events_by_topic.items()):
        table.add_row(topic, f"{count:,}")
    table.add_section()
    table.add_row("events", f"{stats.events:,}")
    table.add_row("  of which delivered late", f"{stats.late:,}")
    table.add_row("duplicates (extra messages)", f"{stats.duplicates:,}")
    table.add_row("malformed (extra messages)", f"{stats.malformed:,}")
    for name, count in sorted(stats.malformed_by_class.items()):
        table.add_row(f"  {name}", f"{count:,}")
    table.add_row("messages", f"{stats.messages:,}")
    console.print(table)
    rate = stats.messages / summary.seconds if summary.seconds else 0.0
    verb = "generated (dry run, nothing produced)" if dry_run else "produced"
    console.print(f"{stats.messages:,} messages {verb} in {summary.seconds:.1f} s ({rate:,.0f}/s)")


def simulate(
    orgs: Annotated[int, typer.Option(help="Organisations.")] = 2,
    users: Annotated[int, typer.Option(help="Users (learners).")] = 200,
    courses: Annotated[int, typer.Option(help="Courses in the catalogue.")] = 8,
    days: Annotated[int, typer.Option(help="Days of traffic, ending at --end.")] = 30,
    seed: Annotated[int, typer.Option(help="Same seed and arguments, same messages.")] = 42,
    end: Annotated[
        str | None,
        typer.Option(
            help="Last event time, ISO 8601 (UTC unless an offset is given). "
            "Default: now, truncated to the hour."
        ),
    ] = None,
    rate: Annotated[float, typer.Option(help="Messages per second; 0: unlimited.")] = 0.0,
    duplicates: Annotated[float, typer.Option(help="Share of events delivered twice (0-1).")] = 0.0,
    late: Annotated[
        float, typer.Option(help="Share of events delivered after later events (0-1).")
    ] = 0.0,
    malformed: Annotated[
        float, typer.Option(help="Extra bad messages, as a share of the events (0-1).")
    ] = 0.0,
    partitions: Annotated[
        int, typer.Option(help="Partitions of each topic the simulator creates.")
    ] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Generate and count only; send nothing.")
    ] = False,
) -> None:
    """Produce realistic LMS traffic of every event type to Kafka (deterministic per seed)."""
    if rate < 0:
        raise SimulatorError("--rate must be 0 (unlimited) or a positive number")
    config = SimulationConfig(
        orgs=orgs,
        users=users,
        courses=courses,
        days=days,
        seed=seed,
        end=parse_end(end),
        duplicates=duplicates,
        late=late,
        malformed=malformed,
    )
    console = Console(highlight=False)
    summary = run_simulation(
        get_settings(),
        config,
        rate=rate or None,
        partitions=partitions,
        dry_run=dry_run,
        console=Console(stderr=True),
    )
    print_summary(summary, console, dry_run)
