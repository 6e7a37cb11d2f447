"""Round trips through each server with the clients the pipelines use.

`stack up` proves that each server answers its health probe; these checks prove the whole
path a pipeline takes: a query through clickhouse-connect, a query through psycopg, and a
message produced to Kafka and read back by a consumer.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import clickhouse_connect
import psycopg
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lms_analytics.errors import LmsAnalyticsError
from lms_analytics.settings import Settings

HEALTHCHECK_TOPIC = "lms-analytics.healthcheck"


class HealthCheckFailed(LmsAnalyticsError):
    pass


@dataclass(frozen=True)
class CheckResult:
    service: str
    detail: str
    seconds: float


def _timed(service: str, check) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = check()
    except HealthCheckFailed:
        raise
    except Exception as error:
        raise HealthCheckFailed(f"{service}: health check failed: {error}") from None
    return CheckResult(service, detail, time.perf_counter() - started)


def check_clickhouse(settings: Settings) -> CheckResult:
    def check() -> str:
        client = clickhouse_connect.get_client(**settings.clickhouse_client_kwargs())
        try:
            version = client.server_version
            rows = client.command("SELECT count() FROM numbers(1000000) WHERE number % 7 = 0")
        finally:
            client.close()
        return f"ClickHouse {version}, counted {rows:,} rows"

    return _timed("clickhouse", check)


def check_postgres(settings: Settings) -> CheckResult:
    def check() -> str:
        with psycopg.connect(settings.postgres_dsn, connect_timeout=10) as connection:
            version = connection.execute("SHOW server_version").fetchone()[0]
            database = connection.execute("SELECT current_database()").fetchone()[0]
        return f"PostgreSQL {version}, database {database}"

    return _timed("postgres", check)


def check_kafka(settings: Settings, timeout: float = 30.0) -> CheckResult:
    """Produce one message with a fresh payload and read that exact payload back."""

    def check() -> str:
        bootstrap = {"bootstrap.servers": settings.kafka_bootstrap}
        topic = settings.kafka_topic_prefix + HEALTHCHECK_TOPIC
        admin = AdminClient(bootstrap)
        if topic not in admin.list_topics(timeout=10).topics:
            futures = admin.create_topics([NewTopic(topic, num_partitions=1)])
            try:
                futures[topic].result(timeout=10)
            except KafkaException as error:
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    raise
        payload = uuid.uuid4().hex.encode()
        producer = Producer({**bootstrap, "acks": "all"})
        delivered: list[tuple[int, int]] = []
        producer.produce(
            topic,
            payload,
            on_delivery=lambda err, msg: err or delivered.append((msg.partition(), msg.offset())),
        )
        producer.flush(10)
        if not delivered:
            raise HealthCheckFailed("kafka: the broker did not acknowledge the test message")
        partition, offset = delivered[0]
        consumer = Consumer(
            {
                **bootstrap,
                "group.id": f"healthcheck-{payload.decode()}",
                "enable.auto.commit": False,
            }
        )
        try:
            consumer.assign([TopicPartition(topic, partition, offset)])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is not None and not message.error() and message.value() == payload:
                    return f"produced and consumed a message on {topic}[{partition}]@{offset}"
        finally:
            consumer.close()
        raise HealthCheckFailed(f"kafka: the test message was not read back within {timeout:g} s")

    return _timed("kafka", check)


def check_all(settings: Settings) -> list[CheckResult]:
    return [check_postgres(settings), check_kafka(settings), check_clickhouse(settings)]
