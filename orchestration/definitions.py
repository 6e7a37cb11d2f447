"""The Dagster code location: one `Definitions` object (loaded by workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from orchestration.ingestion_assets import (
    TOPIC_SPECS,
    ingest_events,
    ingest_every_minute,
    ingest_job,
)
from orchestration.resources import LmsAnalyticsResource

defs = dg.Definitions(
    assets=[*TOPIC_SPECS, ingest_events],
    jobs=[ingest_job],
    schedules=[ingest_every_minute],
    resources={"lms": LmsAnalyticsResource()},
)
