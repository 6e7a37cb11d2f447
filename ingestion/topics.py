"""The event topics in Kafka: names (with the configured prefix) and their creation."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ingestion.events import EVENT_TYPES
from lms_analytics.settings import Settings


def event_topics(settings: Settings) -> list[str]:
    return [settings.kafka_topic(model.topic) for model in EVENT_TYPES]


def ensure_topics(settings: Settings, partitions: int = 1, timeout: float = 15.0) -> list[str]:
    """Create the event topics that do not exist yet; return the names created."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [topic for topic in event_topics(settings) if topic not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions) for topic in missing],
        operation_timeout=timeout,
    )
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise
    return missing
