"""Ingestion as Dagster assets: Kafka topics (external) -> raw tables in ClickHouse.

(No `from __future__ import annotations`: Dagster reads the annotations at run time.)

One multi-asset materializes every raw table at once, because one consumer group reads all
topics: a run drains each topic up to the high watermarks seen at its start, through the same
`IngestionConsumer` as `lms-analytics ingest`, and records rows, rejections and lag per table.
"""

import re

import dagster as dg

from ingestion.consumer import IngestionConsumer, StopWhen, end_offsets
from ingestion.events import EVENT_TYPES
from ingestion.raw_schema import ERRORS_TABLE, RAW_TABLES
from orchestration.resources import LmsAnalyticsResource

INGESTION_GROUP = "ingestion"
# A scheduled drain ends by then even if producers outpace it; the next tick goes on.
MAX_RUN_SECONDS = 600.0
KAFKA_GROUP = "kafka"


def topic_asset_key(topic: str) -> dg.AssetKey:
    return dg.AssetKey(["kafka", re.sub(r"[^A-Za-z0-9_]", "_", topic)])


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


TOPIC_SPECS = [
    dg.AssetSpec(
        key=topic_asset_key(model.topic),
        description=f"Kafka topic `{model.topic}`: {model.event_type} events from the LMS.",
        group_name=KAFKA_GROUP,
        kinds={"kafka"},
        metadata={"topic": model.topic, "event_type": model.event_type},
    )
    for model in EVENT_TYPES
]

RAW_SPECS = [
    dg.AssetSpec(
        key=raw_asset_key(table.name),
        deps=[topic_asset_key(table.model.topic)],
        description=(
            f"Raw {table.model.event_type} events, one typed row per delivered message "
            f"(`{table.qualified_name}`, ReplacingMergeTree by event_id)."
        ),
        group_name=INGESTION_GROUP,
        kinds={"clickhouse"},
        metadata={"table": table.qualified_name},
    )
    for table in RAW_TABLES
] + [
    dg.AssetSpec(
        key=raw_asset_key(ERRORS_TABLE),
        deps=[spec.key for spec in TOPIC_SPECS],
        description="Dead letters: every message that failed validation, with its reason.",
        group_name=INGESTION_GROUP,
        kinds={"clickhouse"},
        metadata={"table": f"raw.{ERRORS_TABLE}"},
    )
]


@dg.multi_asset(specs=RAW_SPECS, name="ingest_events")
def ingest_events(context: dg.AssetExecutionContext, lms: LmsAnalyticsResource):
    """Drain every event topic up to its high watermark at the start of the run."""
    settings = lms.settings()
    targets = end_offsets(settings)
    context.log.info(f"draining {len(targets)} partitions up to their current end")
    consumer = IngestionConsumer(
        settings,
        on_progress=lambda stats: context.log.info(
            f"{stats.messages:,} messages so far, lag {stats.lag}"
        ),
    )
    stats = consumer.run(StopWhen(offsets=targets, max_seconds=MAX_RUN_SECONDS))
    rate = stats.messages / stats.seconds if stats.seconds else 0.0
    context.log.info(f"ingested {stats.messages:,} messages in {stats.seconds:.1f} s")
    common = {
        "run_messages": dg.MetadataValue.int(stats.messages),
        "run_seconds": dg.MetadataValue.float(round(stats.seconds, 3)),
        "events_per_second": dg.MetadataValue.float(round(rate, 1)),
        "write_retries": dg.MetadataValue.int(stats.write_retries),
        "lag": dg.MetadataValue.int(stats.lag) if stats.lag is not None else None,
    }
    common = {key: value for key, value in common.items() if value is not None}
    for table in RAW_TABLES:
        yield dg.MaterializeResult(
            asset_key=raw_asset_key(table.name),
            metadata={"rows_written": dg.MetadataValue.int(stats.events[table.name]), **common},
        )
    yield dg.MaterializeResult(
        asset_key=raw_asset_key(ERRORS_TABLE),
        metadata={
            "rows_written": dg.MetadataValue.int(sum(stats.errors.values())),
            "errors_by_class": dg.MetadataValue.json(dict(stats.errors)),
            **common,
        },
    )


ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(ingest_events),
    description="Drain the event topics into the raw tables.",
)


@dg.schedule(
    job=ingest_job,
    cron_schedule="* * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every minute; skipped while an ingestion run is still going.",
)
def ingest_every_minute(context: dg.ScheduleEvaluationContext):
    in_progress = context.instance.get_runs(
        filters=dg.RunsFilter(
            job_name=ingest_job.name,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if in_progress:
        return dg.SkipReason(f"ingestion run {in_progress[0].run_id} is still in progress")
    return dg.RunRequest()
