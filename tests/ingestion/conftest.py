from __future__ import annotations

import uuid
from collections.abc import Callable

import clickhouse_connect
import pytest
from confluent_kafka import Producer

from ingestion.topics import ensure_topics
from lms_analytics.settings import Settings

Message = tuple[str, str | None, bytes, list[tuple[str, bytes]] | None]


@pytest.fixture()
def ingest_settings(local_stack: Settings) -> Settings:
    """The session stack with topics and a consumer group of this test's own."""
    tag = uuid.uuid4().hex[:10]
    return local_stack.model_copy(
        update={
            "kafka_topic_prefix": f"t{tag}.",
            "consumer_group_id": f"ingest-{tag}",
            "kafka_session_timeout_ms": 2000,  # the local broker allows it: faster group joins
        }
    )


@pytest.fixture()
def produce(ingest_settings: Settings) -> Callable[[list[Message]], None]:
    """Produce (unprefixed topic, key, value, headers) messages and wait for the broker's acks."""

    ensure_topics(ingest_settings, partitions=1)  # offsets below are then all on partition 0

    def send(messages: list[Message]) -> None:
        producer = Producer({"bootstrap.servers": ingest_settings.kafka_bootstrap, "acks": "all"})
        failures: list[str] = []
        for topic, key, value, headers in messages:
            producer.produce(
                ingest_settings.kafka_topic(topic),
                value,
                key=key,
                headers=headers,
                on_delivery=lambda err, _msg: err and failures.append(str(err)),
            )
            producer.poll(0)
        assert producer.flush(30) == 0
        assert failures == []

    return send


@pytest.fixture()
def ch(local_stack: Settings):
    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    yield client
    client.close()
