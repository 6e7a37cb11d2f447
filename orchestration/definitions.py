"""The Dagster code location: one `Definitions` object (loaded by workspace.yaml).

Groups: `kafka` (topics, external) -> `ingestion` (raw tables) -> `staging` -> `intermediate`
-> `marts` -> `reports`. Ingestion runs every minute; the dbt models follow through their
automation conditions (`dbt_automation_sensor`); marts carry freshness policies and freshness
checks; each saved report schedule of the report service is a schedule of its own running its
report's partitioned job (`report_schedules`, read from PostgreSQL when the location loads).
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
from orchestration.report_schedules import scheduled_report_definitions
from orchestration.resources import LmsAnalyticsResource

pipeline_defs = dg.Definitions(
    assets=[*TOPIC_SPECS, ingest_events, lms_dbt_models],
    asset_checks=mart_freshness_checks,
    jobs=[ingest_job, dbt_build_job, dbt_full_refresh_job],
    schedules=[ingest_every_minute],
    sensors=[dbt_automation_sensor, mart_freshness_checks_sensor],
    resources={"lms": LmsAnalyticsResource(), "dbt": dbt_cli_resource()},
)

defs = dg.Definitions.merge(pipeline_defs, scheduled_report_definitions())
