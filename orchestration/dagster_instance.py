"""The Dagster instance of a stack: `DAGSTER_HOME=<home>/dagster`, storage in PostgreSQL.

Runs, event logs, schedules and sensor state live in the stack's PostgreSQL, database `dagster`
(`stack up` creates it), through dagster-postgres; compute logs stay on disk under
DAGSTER_HOME. `write_dagster_yaml` rewrites `dagster.yaml` from the settings each time, so a
changed port or an external server (LMS_ANALYTICS_POSTGRES_URL) is picked up.

When the PostgreSQL URL carries a password, the file names an environment variable instead
of the URL (`DAGSTER_POSTGRES_URL_VARIABLE`), which `lms-analytics dagster` sets for its
processes: no secret on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from lms_analytics.errors import LmsAnalyticsError
from lms_analytics.settings import Settings
from lms_analytics.stack.environment import redact_url
from lms_analytics.stack.postgres import EXTRA_DATABASES

if TYPE_CHECKING:
    from dagster import DagsterInstance

DAGSTER_DATABASE = "dagster"
assert DAGSTER_DATABASE in EXTRA_DATABASES  # created by the stack's PostgreSQL service
DAGSTER_POSTGRES_URL_VARIABLE = "LMS_ANALYTICS_DAGSTER_POSTGRES_URL"
MAX_CONCURRENT_RUNS = 4
DRIVER_SCHEME = "postgresql+psycopg2"


class DagsterStorageUnavailable(LmsAnalyticsError):
    """The PostgreSQL database holding Dagster's runs and events does not answer."""


def dagster_home(settings: Settings) -> Path:
    return settings.home / "dagster"


def dagster_postgres_url(settings: Settings) -> str:
    """The stack's PostgreSQL URL with the `dagster` database and the psycopg2 driver.

    dagster-postgres binds `NOTIFY` parameters client side, which only psycopg2 does; SQLAlchemy
    2.1 picks psycopg 3 for a bare `postgresql://` URL, so the driver is named explicitly.
    """
    return _database_url(settings, DRIVER_SCHEME)


def _database_url(settings: Settings, scheme: str) -> str:
    parts = urlsplit(settings.postgres_dsn)
    return urlunsplit(parts._replace(scheme=scheme, path=f"/{DAGSTER_DATABASE}"))


def dagster_environment(settings: Settings) -> dict[str, str]:
    """Variables the Dagster processes of this stack need (besides the settings)."""
    return {
        "DAGSTER_HOME": str(dagster_home(settings)),
        DAGSTER_POSTGRES_URL_VARIABLE: dagster_postgres_url(settings),
    }


def instance_config(settings: Settings) -> dict[str, Any]:
    url = dagster_postgres_url(settings)
    postgres_url: Any = (
        url if urlsplit(url).password is None else {"env": DAGSTER_POSTGRES_URL_VARIABLE}
    )
    return {
        "storage": {"postgres": {"postgres_url": postgres_url}},
        # Runs wait in a queue; the daemon starts them (at most MAX_CONCURRENT_RUNS at once).
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {
            "runs": {"max_concurrent_runs": MAX_CONCURRENT_RUNS},
            # Pools: the dbt assets use pool "dbt": one dbt build at a time, so two incremental
            # runs never interleave their watermarks.
            "pools": {"default_limit": 1},
        },
        # Frees the pool slots a run still holds a minute after it ended (a crashed worker).
        "run_monitoring": {
            "enabled": True,
            "poll_interval_seconds": 30,
            "free_slots_after_run_end_seconds": 60,
        },
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
    }


def write_dagster_yaml(settings: Settings) -> Path:
    """Write `<home>/dagster/dagster.yaml` for the settings; return DAGSTER_HOME."""
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    text = "# Written by lms-analytics from LMS_ANALYTICS_* settings: edits are overwritten.\n"
    text += yaml.safe_dump(instance_config(settings), sort_keys=False)
    path = home / "dagster.yaml"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return home


def stack_instance(settings: Settings) -> DagsterInstance:
    """The stack's Dagster instance, for in-process runs (its PostgreSQL must be running)."""
    import psycopg
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef
    from dagster_postgres.utils import DagsterPostgresException

    home = write_dagster_yaml(settings)
    unavailable = DagsterStorageUnavailable(
        f"Dagster's storage, PostgreSQL database `{DAGSTER_DATABASE}` of "
        f"{redact_url(settings.postgres_dsn)}, does not answer. Start the stack with "
        "`lms-analytics stack up` (or check LMS_ANALYTICS_POSTGRES_URL)."
    )
    try:  # a quick answer, rather than dagster-postgres's retries and their tracebacks
        psycopg.connect(_database_url(settings, "postgresql"), connect_timeout=5).close()
    except psycopg.Error:
        raise unavailable from None
    # The URL itself, not the file's env reference: this process need not have the variable.
    storage = {"storage": {"postgres": {"postgres_url": dagster_postgres_url(settings)}}}
    try:
        return DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=storage))
    except DagsterPostgresException:
        raise unavailable from None
