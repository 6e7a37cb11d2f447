"""Ingestion as Dagster assets: the definitions load and a run drains the topics."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pytest
from event_samples import SAMPLES

from ingestion.events import EVENT_TYPES
from ingestion.raw_schema import RAW_TABLES
from orchestration.definitions import defs
from orchestration.ingestion_assets import (
    ingest_events,
    ingest_every_minute,
    raw_asset_key,
    topic_asset_key,
)
from orchestration.resources import LmsAnalyticsResource


def test_definitions_load_with_an_edge_from_each_topic_to_its_raw_table():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for table in RAW_TABLES:
        node = graph.get(raw_asset_key(table.name))
        assert node.parent_keys == {topic_asset_key(table.model.topic)}
        assert node.group_name == "ingestion"
    errors = graph.get(raw_asset_key("ingestion_errors"))
    assert errors.parent_keys == {topic_asset_key(m.topic) for m in EVENT_TYPES}


def test_materialization_drains_topics_and_records_rows_per_table(
    local_stack, monkeypatch, clickhouse_client
):
    from confluent_kafka import Producer

    monkeypatch.setenv("LMS_ANALYTICS_KAFKA_SESSION_TIMEOUT_MS", "2000")
    prefix = f"d{uuid.uuid4().hex[:8]}."
    producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
    for topic, (message, _) in SAMPLES.items():
        producer.produce(prefix + topic, json.dumps(message).encode(), key=b"u-1")
    producer.produce(prefix + "progress.quiz-completed", b"{broken", key=b"u-1")
    assert producer.flush(30) == 0

    result = dg.materialize(
        [ingest_events],
        resources={
            "lms": LmsAnalyticsResource(kafka_topic_prefix=prefix, consumer_group_id=prefix)
        },
    )
    assert result.success
    materializations = {
        m.asset_key: m.metadata for m in result.asset_materializations_for_node("ingest_events")
    }
    for table in RAW_TABLES:
        assert materializations[raw_asset_key(table.name)]["rows_written"].value == 1
    errors = materializations[raw_asset_key("ingestion_errors")]
    assert errors["rows_written"].value == 1
    assert errors["errors_by_class"].value == {"invalid_json": 1}
    landed = clickhouse_client.command(
        "SELECT count() FROM raw.quiz_completed WHERE kafka_topic = {t:String}",
        parameters={"t": prefix + "progress.quiz-completed"},
    )
    assert landed == 1


@pytest.mark.parametrize("busy", [False, True])
def test_schedule_requests_a_run_unless_one_is_in_progress(busy):
    with dg.instance_for_test() as instance:
        if busy:
            instance.create_run_for_job(
                job_def=defs.resolve_job_def("ingest_job"), status=dg.DagsterRunStatus.STARTED
            )
        with dg.build_schedule_context(instance=instance) as context:
            outcome = ingest_every_minute(context)
    assert isinstance(outcome, dg.SkipReason if busy else dg.RunRequest)
