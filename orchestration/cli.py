"""`lms-analytics build` and `lms-analytics dagster`."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from lms_analytics.settings import get_settings
from orchestration.build import BuildFailed

if TYPE_CHECKING:
    from orchestration.build import BuildReport


# Bound to the real stdout: a build sends what dbt prints elsewhere (see build_models).
console = Console(highlight=False, file=sys.stdout)


def _parse_vars(values: list[str]) -> dict[str, str]:
    parsed = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{value!r}: expected NAME=VALUE", param_hint="--var")
        parsed[name.strip()] = text
    return parsed


def quiet_run_logs() -> None:
    """Without --verbose, the run's own INFO lines (Dagster, storage migrations) stay quiet.

    Dagster keeps its `dagster` logger at DEBUG and records the run's log through it: those
    records still reach the run's event log (the UI), just not this terminal twice.
    """
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("dagster.builtin").propagate = False
        for name in ("alembic", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)


def dbt_progress(spinner: Status) -> Callable[[str], None]:
    """Show dbt's "N of M START/OK ..." lines on a spinner."""

    def show(line: str) -> None:
        line = line.strip()
        if " of " in line and any(word in line for word in ("START", "OK", "PASS", "ERROR")):
            spinner.update(f"dbt: {escape(line[:100])}")

    return show


def print_build_report(report: BuildReport, console: Console = console) -> None:
    table = Table(title="Models built through Dagster", title_justify="left")
    for column, justify in (("asset", "left"), ("group", "left"), ("rows", "right")):
        table.add_column(column, justify=justify)
    table.add_column("seconds", justify="right")
    for model in sorted(report.models, key=lambda model: (model.group, model.name)):
        table.add_row(
            escape(model.name),
            model.group,
            f"{model.rows:,}" if model.rows is not None else "-",
            f"{model.seconds:.2f}" if model.seconds is not None else "",
        )
    console.print(table)
    passed = len(report.checks) - len(report.failed_checks)
    console.print(f"Asset checks: {passed} of {len(report.checks)} passed.")
    for check in report.failed_checks:
        console.print(
            f"  [red]{check.severity}[/] {escape('/'.join(check.key))}: {escape(check.name)}"
            + (f" ({escape(check.description)})" if check.description else "")
        )
    console.print(
        f"Run {report.run_id} {'succeeded' if report.success else '[red]failed[/]'} in "
        f"{report.seconds:.1f} s."
    )


def build(
    select: Annotated[
        str | None,
        typer.Option("--select", "-s", help="dbt selection, e.g. `marts` or `+course_analytics`."),
    ] = None,
    exclude: Annotated[str | None, typer.Option(help="dbt selection to leave out.")] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="A dbt var as NAME=VALUE (repeatable), e.g. as_of=..."),
    ] = None,
) -> None:
    """Build the dbt models (and run their tests) through Dagster, in this process."""
    from orchestration.build import build_models

    dbt_vars = _parse_vars(var or [])
    quiet_run_logs()
    with console.status("Building the dbt models through Dagster...") as spinner:
        report = build_models(
            get_settings(),
            full_refresh=full_refresh,
            select=select,
            exclude=exclude,
            dbt_vars=dbt_vars,
            on_output=dbt_progress(spinner),
            log_level="WARNING",
        )
    print_build_report(report)
    if not report.success:
        reason = report.errors[0] if report.errors else "see the run in the Dagster UI"
        raise BuildFailed(f"the dbt build failed (run {report.run_id}): {reason}")


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def dagster(
    port: Annotated[
        int | None,
        typer.Option(
            help="Port of the Dagster UI (on LMS_ANALYTICS_BIND_HOST); "
            "default LMS_ANALYTICS_DAGSTER_PORT (13000)."
        ),
    ] = None,
    startup_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the UI and the code location.")
    ] = 180.0,
) -> None:
    """Run the Dagster UI and daemon on the local stack until Ctrl-C."""
    from lms_analytics.stack.manager import StackManager
    from orchestration.dbt_project import ensure_manifest
    from orchestration.services import DagsterServices

    settings = get_settings()
    started = time.monotonic()
    quiet_run_logs()
    with console.status("Starting the local stack...") as spinner:
        StackManager(settings).up()
        spinner.update("Parsing the dbt project (if it changed)...")
        ensure_manifest()
    services = DagsterServices(settings, port=port or settings.dagster_port)
    # SIGTERM (a service manager, `kill`) stops the children like Ctrl-C does. Setting SIGINT
    # too matters when this runs in the background of a shell, which ignores SIGINT there: the
    # children would inherit "ignored" and Dagster maps their SIGTERM onto SIGINT's handler.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with console.status("Starting dagster-webserver and dagster-daemon...") as spinner:
            services.start()
            services.wait_ready(
                startup_timeout, progress=lambda message: spinner.update(escape(message))
            )
        console.print(
            f"Dagster UI: [bold]{services.url}[/] (ready in {time.monotonic() - started:.1f} s)\n"
            f"Instance: {settings.home / 'dagster'} (storage: PostgreSQL database `dagster`); "
            f"logs: {settings.log_dir}/dagster-*.log\nCtrl-C stops the webserver and the daemon."
        )
        services.watch()
    except KeyboardInterrupt:
        console.print(
            "Stopping dagster-webserver and dagster-daemon (Ctrl-C again: kill them now)..."
        )
    finally:
        try:
            services.stop(settings.shutdown_timeout_seconds)
        except KeyboardInterrupt:
            services.kill()
    console.print("Stopped.")
