"""Send simulated messages to Kafka: topics created if missing, batched lz4 production, an
optional rate limit, and a count of what the broker acknowledged."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from ingestion.simulator.faults import Message
from ingestion.simulator.simulation import SimulatorError
from ingestion.topics import ensure_topics
from lms_analytics.settings import Settings

log = logging.getLogger(__name__)

PROGRESS_EVERY = 5_000


def producer_config(settings: Settings) -> dict[str, object]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "delivery.report.only.error": True,  # a callback per failure, not per message
    }


@dataclass
class ProductionReport:
    by_topic: Counter[str] = field(default_factory=Counter)  # messages sent, unprefixed topic
    failed: int = 0
    seconds: float = 0.0
    topics_created: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.by_topic.values())

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def _unreachable(settings: Settings, error: object) -> SimulatorError:
    return SimulatorError(
        f"cannot reach Kafka at {settings.kafka_bootstrap}: {error}. Start the local stack with "
        "`lms-analytics stack up`, or point LMS_ANALYTICS_KAFKA_BOOTSTRAP_SERVERS at a broker."
    )


def check_broker(settings: Settings, timeout: float = 10.0) -> None:
    """Raise SimulatorError unless the broker answers a metadata request."""
    # log_level 0: a refused connection is reported once, by the exception, not every 50 ms.
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise _unreachable(settings, error.args[0].str() if error.args else error) from None
    finally:
        del admin


def create_topics(settings: Settings, partitions: int = 1) -> list[str]:
    """The 16 event topics (with the configured prefix), created if missing."""
    if partitions < 1:
        raise SimulatorError("--partitions must be at least 1")
    check_broker(settings)
    try:
        return ensure_topics(settings, partitions=partitions)
    except KafkaException as error:
        raise _unreachable(settings, error.args[0].str() if error.args else error) from None


def produce_messages(
    settings: Settings,
    messages: Iterable[Message],
    *,
    rate: float | None = None,
    partitions: int = 1,
    on_progress: Callable[[int], None] | None = None,
    flush_timeout: float = 120.0,
) -> ProductionReport:
    """Produce every message, wait for the acks; raise SimulatorError if any is not delivered.

    `rate` caps messages per second (None or 0: as fast as the broker takes them).
    `on_progress(sent)` is called every few thousand messages.
    """
    report = ProductionReport(topics_created=create_topics(settings, partitions))
    failures: list[str] = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(str(error))

    producer = Producer({**producer_config(settings), "on_delivery": delivered})
    produce, poll = producer.produce, producer.poll
    names = {}  # unprefixed topic -> topic in Kafka
    counts = report.by_topic
    interval = 1.0 / rate if rate else 0.0
    started = time.monotonic()
    sent = 0
    for topic, key, value, headers, *_ in messages:
        name = names.get(topic)
        if name is None:
            name = names[topic] = settings.kafka_topic(topic)
        if interval:
            wait = started + sent * interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        while True:
            try:
                produce(name, value, key, headers=list(headers) if headers else None)
                break
            except BufferError:  # the local queue is full: let the broker catch up
                poll(0.05)
        counts[topic] += 1
        sent += 1
        if sent % PROGRESS_EVERY == 0:
            poll(0)
            if on_progress is not None:
                on_progress(sent)
    remaining = producer.flush(flush_timeout)
    report.seconds = time.monotonic() - started
    report.failed = len(failures) + remaining
    if on_progress is not None:
        on_progress(sent)
    if report.failed:
        first = failures[0] if failures else f"no acknowledgement within {flush_timeout:g} s"
        raise SimulatorError(
            f"{report.failed:,} of {sent:,} messages were not delivered to Kafka at "
            f"{settings.kafka_bootstrap} (first error: {first})"
        )
    log.info("produced %d messages in %.1f s", sent, report.seconds)
    return report
