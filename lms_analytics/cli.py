"""The `lms-analytics` command: one entry point for the stack, the gateway and the pipelines."""

from __future__ import annotations

import logging

import click
import typer
from rich.console import Console
from rich.markup import escape

from ingestion.cli import ingest
from ingestion.collector.cli import collector
from ingestion.simulator.cli import simulate
from lms_analytics.clickhouse_gateway.cli import clickhouse_gateway
from lms_analytics.errors import LmsAnalyticsError
from lms_analytics.settings import get_settings
from lms_analytics.smtp_sink import smtp_sink
from lms_analytics.stack.cli import stack_app
from orchestration.cli import build, dagster
from report_service.cli import api, db_app

app = typer.Typer(
    name="lms-analytics",
    help="LMS Analytics: local stack, ingestion, dbt builds and reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.command("clickhouse-gateway")(clickhouse_gateway)
app.command("ingest")(ingest)
app.command("collector")(collector)
app.command("simulate")(simulate)
app.add_typer(db_app, name="db")
app.command("api")(api)
app.command("smtp-sink")(smtp_sink)
app.command("build")(build)
app.command("dagster")(dagster)

err_console = Console(stderr=True)


@app.command()
def demo() -> None:
    """Run the main job end to end on the embedded local stack (demo data included)."""
    from lms_analytics.demo import run_demo

    run_demo(get_settings(), Console(highlight=False))


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def run() -> None:
    """Console entry point: user-facing errors become one line and a non-zero exit."""
    try:
        result = app(standalone_mode=False, prog_name="lms-analytics")
    except LmsAnalyticsError as error:
        err_console.print(
            f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        raise SystemExit(1) from None
    except click.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except click.exceptions.Abort:
        raise SystemExit(130) from None
    raise SystemExit(result if isinstance(result, int) else 0)
