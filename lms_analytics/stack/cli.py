"""`lms-analytics stack up|down|status|logs`: the local servers, on loopback."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lms_analytics.settings import get_settings
from lms_analytics.stack.manager import StackManager, State, UpAction
from lms_analytics.stack.process import StopOutcome

stack_app = typer.Typer(
    help="Start, stop and inspect the local servers (PostgreSQL, Kafka broker, ClickHouse).",
    no_args_is_help=True,
)
console = Console(highlight=False)

_STATE_STYLE = {
    State.RUNNING: "green",
    State.EXTERNAL: "cyan",
    State.STOPPED: "dim",
    State.CRASHED: "bold red",
}


def _manager() -> StackManager:
    return StackManager(get_settings())


def start_stack(manager: StackManager) -> None:
    """Start the stack with a progress spinner and print what happened."""
    started = time.monotonic()
    with console.status("Starting the local stack...") as spinner:
        results = manager.up(
            progress=lambda name, message: spinner.update(f"{escape(name)}: {escape(message)}")
        )
    table = Table(title=f"Local stack in {manager.settings.home}", title_justify="left")
    for column in ("service", "result", "pid", "endpoint", "seconds"):
        table.add_column(column)
    for result in results:
        style = "green" if result.action is UpAction.STARTED else "cyan"
        table.add_row(
            result.service,
            f"[{style}]{result.action.value}[/]",
            str(result.pid or ""),
            escape(result.endpoint),
            f"{result.seconds:.2f}" if result.action is not UpAction.EXTERNAL else "",
        )
    console.print(table)
    for service in manager.services:
        if service.note and not service.is_external:
            console.print(f"[dim]{service.name}: {escape(service.note)}[/]")
    # The report metadata schema follows the code: migrate it whenever the stack starts.
    from report_service.db import upgrade

    upgrade(manager.settings)
    console.print(f"Ready in {time.monotonic() - started:.1f} s (report metadata schema migrated).")


@stack_app.command()
def up() -> None:
    """Start every local server that is not running, and wait until each is healthy."""
    start_stack(_manager())


@stack_app.command()
def down() -> None:
    """Stop the servers this stack started (and nothing else)."""
    manager = _manager()
    with console.status("Stopping the local stack...") as spinner:
        results = manager.down(
            progress=lambda name, message: spinner.update(f"{escape(name)}: {escape(message)}")
        )
    if not results:
        console.print("Nothing to stop: no server of this stack is running.")
        return
    for result in results:
        took = (
            f" in {result.seconds:.2f} s"
            if result.outcome in (StopOutcome.STOPPED, StopOutcome.KILLED)
            else ""
        )
        console.print(f"{result.service} (pid {result.pid}): {escape(result.outcome.value)}{took}")


@stack_app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output for scripts.")
    ] = False,
) -> None:
    """Show each server's state, pid, endpoint and log file."""
    manager = _manager()
    statuses = manager.status()
    if as_json:
        document = {
            "home": str(manager.settings.home),
            "services": {status.service: status.to_dict() for status in statuses},
        }
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(title=f"Local stack in {manager.settings.home}", title_justify="left")
    for column in ("service", "state", "pid", "endpoint", "log"):
        table.add_column(column)
    for status_ in statuses:
        state = status_.state.value
        if status_.state is State.RUNNING and status_.healthy is False:
            state += " (not answering)"
        table.add_row(
            status_.service,
            f"[{_STATE_STYLE[status_.state]}]{state}[/]",
            str(status_.pid or ""),
            escape(status_.endpoint),
            escape(status_.log_path or ""),
        )
    console.print(table)
    for status_ in statuses:
        if status_.note and status_.state is not State.EXTERNAL:
            console.print(f"[dim]{status_.service}: {escape(status_.note)}[/]")


@stack_app.command()
def logs(
    service: Annotated[str, typer.Argument(help="postgres, kafka or clickhouse.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.")] = 50,
) -> None:
    """Print the end of a server's log."""
    for line in _manager().log_tail(service, lines):
        typer.echo(line)
