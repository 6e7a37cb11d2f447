"""The Dagster code location: one `Definitions` object (loaded by workspace.yaml).

Groups: `kafka` (topics, external) -> `ingestion` (raw tables) -> `staging` -> `intermediate`
-> `marts`. Ingestion runs every minute; the dbt models follow through their automation
conditions (`dbt_automation_sensor`); marts carry freshness policies and freshness checks.
"""

from __future__ import annotations

import dagster as dg

from orchestration.checks import mart_freshness_checks, mart_freshness_checks_sensor
from orchestration.dbt_assets import (
    dbt_automation_sensor,
    dbt_build_job,
    dbt_cli_resource,
    dbt_full_refresh_job,
    lms_dbt_models,
)
from orchestration.ingestion_assets import (
    TOPIC_SPECS,
    ingest_events,
    ingest_every_minute,
    ingest_job,
)
from orchestration.resources import LmsAnalyticsResource

defs = dg.Definitions(
    assets=[*TOPIC_SPECS, ingest_events, lms_dbt_models],
    asset_checks=mart_freshness_checks,
    jobs=[ingest_job, dbt_build_job, dbt_full_refresh_job],
    schedules=[ingest_every_minute],
    sensors=[dbt_automation_sensor, mart_freshness_checks_sensor],
    resources={"lms": LmsAnalyticsResource(), "dbt": dbt_cli_resource()},
)
