"""`lms-analytics db upgrade|downgrade|current` and `lms-analytics api`.

Registered by the root CLI: `app.add_typer(db_app, name="db")` and `app.command("api")(api)`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from lms_analytics.settings import get_settings
from lms_analytics.stack.environment import redact_url

db_app = typer.Typer(
    help="The report metadata schema in PostgreSQL (Alembic migrations).",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)


@db_app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations up to REVISION (default: the latest)."""
    from report_service.db.migrate import current_revision
    from report_service.db.migrate import upgrade as run_upgrade

    settings = get_settings()
    run_upgrade(settings, revision)
    console.print(
        f"Report metadata at {redact_url(settings.postgres_dsn)} is at revision "
        f"{current_revision(settings)}."
    )


@db_app.command()
def downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: `-1` for one step, `base` to drop all.")
    ],
) -> None:
    """Revert the migrations down to REVISION (`base` drops every report table and its data)."""
    from report_service.db.migrate import current_revision
    from report_service.db.migrate import downgrade as run_downgrade

    settings = get_settings()
    run_downgrade(settings, revision)
    console.print(f"Report metadata is at revision {current_revision(settings) or 'base'}.")


@db_app.command()
def current() -> None:
    """Print the revision the database is at and the latest one."""
    from report_service.db.migrate import current_revision, head_revision

    settings = get_settings()
    console.print(
        f"current: {current_revision(settings) or 'base'}, latest: {head_revision(settings)}"
    )


def api(
    host: Annotated[str | None, typer.Option(help="Default: settings.bind_host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: settings.api_port.")] = None,
) -> None:
    """Serve the reports REST API (docs at /docs); the schema must be upgraded first."""
    import uvicorn

    from report_service.api.app import create_app
    from report_service.db.migrate import check_up_to_date

    settings = get_settings()
    check_up_to_date(settings)
    host = host or settings.bind_host
    port = port or settings.api_port
    console.print(f"Reports API on http://{host}:{port} (OpenAPI docs at /docs).")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
