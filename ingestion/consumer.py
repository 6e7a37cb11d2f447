"""The Kafka consumer that lands every event in its raw table, exactly once in effect.

One consumer group over all event topics. Messages are decoded and validated, collected into
a batch until it is big or old enough, written column-wise (one insert per raw table, bad
messages into `raw.ingestion_errors`), and only then are the offsets committed. Hence:

- a crash before the commit replays the batch: the insert deduplication token drops a replay
  with the same boundaries, and `event_id` folds any other (ReplacingMergeTree + staging);
- ClickHouse unreachable: the write is retried with backoff while the partitions are paused;
  nothing is committed until it succeeds;
- SIGTERM (`request_stop`) finishes the batch, commits, and leaves the group;
- more consumers in the same group share the partitions.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import clickhouse_connect
from confluent_kafka import OFFSET_END, Consumer, KafkaError, TopicPartition

from ingestion.batch import Batch
from ingestion.decoding import Coordinates, decode
from ingestion.schema_migrations import migrate
from ingestion.topics import ensure_topics, event_topics
from ingestion.writer import RawWriter
from lms_analytics.settings import Settings

log = logging.getLogger(__name__)

POLL_MESSAGES = 5_000
POLL_SECONDS = 0.2
PROGRESS_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class IngestStats:
    events: Counter = field(default_factory=Counter)  # rows written per raw table
    errors: Counter = field(default_factory=Counter)  # rejected messages per error class
    batches: int = 0
    write_retries: int = 0
    seconds: float = 0.0
    lag: int | None = None

    @property
    def messages(self) -> int:
        return sum(self.events.values()) + sum(self.errors.values())


@dataclass(frozen=True)
class StopWhen:
    """When a bounded run ends (any condition met); all None = run until stopped."""

    idle_seconds: float | None = None
    max_messages: int | None = None
    # Partition -> offset: stop once every listed partition has been read up to it, and then
    # a poll came back empty or `grace_seconds` passed. The grace covers brokers that report a
    # high watermark short of the last batch (Tansu 0.6) without waiting on busy topics.
    offsets: dict[tuple[str, int], int] | None = None
    grace_seconds: float = 2.0
    max_seconds: float | None = None  # a safety bound for scheduled runs


def consumer_config(settings: Settings, group_id: str | None = None) -> dict[str, object]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id or settings.consumer_group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # A group (re)join takes about half of this on the local broker; 45 s by default.
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": max(settings.kafka_session_timeout_ms // 4, 250),
        "max.poll.interval.ms": 600_000,
        "fetch.min.bytes": 1,
        "queued.max.messages.kbytes": 65536,
        # librdkafka reports per-partition lag from its fetch responses: no extra requests.
        "statistics.interval.ms": int(PROGRESS_SECONDS * 1000),
    }


class IngestionConsumer:
    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str | None = None,
        batch_size: int | None = None,
        batch_seconds: float | None = None,
        clickhouse_client=None,
        on_progress: Callable[[IngestStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self.batch_size = batch_size or settings.ingest_batch_size
        self.batch_seconds = batch_seconds or settings.ingest_batch_seconds
        self._client = clickhouse_client or clickhouse_connect.get_client(
            **settings.clickhouse_client_kwargs(), autogenerate_session_id=False
        )
        self._writer = RawWriter(self._client)
        self._consumer = Consumer(
            {**consumer_config(settings, group_id), "stats_cb": self._on_statistics}
        )
        self._stop = threading.Event()
        self._revoked = False
        self._assigned = False  # idle time counts from the first assignment (group join)
        self._targets_reached_at: float | None = None
        self._started = time.monotonic()
        self._last_activity = time.monotonic()
        self._on_progress = on_progress
        self.stats = IngestStats()

    # --- lifecycle ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the current batch, commit, and return from `run` (safe from a signal)."""
        self._stop.set()

    def run(self, stop_when: StopWhen = StopWhen()) -> IngestStats:
        migrate(self._client)
        ensure_topics(self.settings)
        started = self._started = time.monotonic()
        self._consumer.subscribe(
            event_topics(self.settings), on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        batch = Batch()
        self._last_activity = time.monotonic()
        last_progress = time.monotonic()
        try:
            while not self._stop.is_set():
                messages = self._consumer.consume(POLL_MESSAGES, POLL_SECONDS)
                if self._revoked:  # partitions moved: their uncommitted rows are re-read
                    batch, self._revoked = Batch(), False
                for message in messages:
                    if message.error():
                        if message.error().code() != KafkaError._PARTITION_EOF:
                            log.warning("Kafka error: %s", message.error())
                        continue
                    batch.add(self._decode(message))
                if messages:
                    self._last_activity = time.monotonic()
                if len(batch) >= self.batch_size or (
                    batch.size and batch.age() >= self.batch_seconds
                ):
                    self._flush(batch)
                    batch = Batch()
                if time.monotonic() - last_progress >= PROGRESS_SECONDS:
                    self._report_progress(started)
                    last_progress = time.monotonic()
                if self._done(stop_when, batch, polled=len(messages)):
                    break
            if batch.size:
                self._flush(batch)
        finally:
            self.stats.seconds = time.monotonic() - started
            self._consumer.close()
        self._report_progress(started)
        return self.stats

    def _done(self, stop_when: StopWhen, batch: Batch, polled: int) -> bool:
        if stop_when.max_seconds is not None and (
            time.monotonic() - self._started >= stop_when.max_seconds
        ):
            log.warning("stopping after the run's limit of %.0f s", stop_when.max_seconds)
            return True
        if stop_when.idle_seconds is not None and (
            self._assigned and time.monotonic() - self._last_activity >= stop_when.idle_seconds
        ):
            return True
        if stop_when.max_messages is not None and (
            self.stats.messages + len(batch) >= stop_when.max_messages
        ):
            return True
        if stop_when.offsets is not None and self._assigned:
            if self._targets_reached_at is None and all(
                end <= 0 or self._position(tp) >= end for tp, end in stop_when.offsets.items()
            ):
                self._targets_reached_at = time.monotonic()
            if self._targets_reached_at is not None:
                waited = time.monotonic() - self._targets_reached_at
                return polled == 0 or waited >= stop_when.grace_seconds
        return False

    def _position(self, topic_partition: tuple[str, int]) -> int:
        """Next offset this group reads on the partition (committed, if not assigned here)."""
        topic, partition = topic_partition
        tp = TopicPartition(topic, partition)
        offset = self._consumer.position([tp])[0].offset
        if offset < 0:
            offset = self._consumer.committed([tp], timeout=10)[0].offset
        return offset

    # --- messages -------------------------------------------------------------------------

    def _decode(self, message):
        key = message.key()
        coordinates = Coordinates(
            message.topic(),
            message.partition(),
            message.offset(),
            key.decode("utf-8", errors="replace") if key else "",
        )
        return decode(
            coordinates,
            message.value(),
            message.headers(),
            topic_prefix=self.settings.kafka_topic_prefix,
        )

    def _flush(self, batch: Batch) -> None:
        """Write the batch, retrying with backoff until it succeeds; then commit its offsets."""
        delay = 0.5
        while True:
            try:
                written = self._writer.write(batch)
                break
            except Exception as error:  # any failure to write: nothing is committed
                self.stats.write_retries += 1
                log.warning(
                    "writing %d rows to ClickHouse failed (%s); retrying in %.1f s",
                    len(batch),
                    error,
                    delay,
                )
                self._wait_paused(delay)
                if self._revoked:
                    log.warning("partitions were revoked while retrying; the batch will be re-read")
                    return
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        self._consumer.commit(
            offsets=[TopicPartition(t, p, o) for t, p, o in batch.commit_positions()],
            asynchronous=False,
        )
        self.stats.batches += 1
        for table, count in written.items():
            if table != "ingestion_errors":
                self.stats.events[table] += count
        for rejected in batch.rejected:
            self.stats.errors[rejected.error_class] += 1

    def _wait_paused(self, seconds: float) -> None:
        """Wait while keeping group membership: paused partitions, polls that fetch nothing."""
        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._revoked:
            self._consumer.poll(0.1)
        if not self._revoked:
            self._consumer.resume(self._consumer.assignment())

    def _on_assign(self, consumer, partitions) -> None:
        log.info("assigned %d partitions", len(partitions))
        self._assigned = True
        self._last_activity = time.monotonic()

    def _on_revoke(self, consumer, partitions) -> None:
        log.info("revoked %d partitions", len(partitions))
        self._revoked = True

    # --- progress -------------------------------------------------------------------------

    def _on_statistics(self, payload: str) -> None:
        """Total `consumer_lag` of the assigned partitions (-1 = not known yet, skipped).

        On a broker that misreports high watermarks (Tansu 0.6) the figure is approximate.
        """
        try:
            topics = json.loads(payload).get("topics", {})
        except ValueError:
            return
        lags = [
            partition.get("consumer_lag", -1)
            for topic in topics.values()
            for number, partition in topic.get("partitions", {}).items()
            if number != "-1"
        ]
        known = [lag for lag in lags if lag >= 0]
        self.stats.lag = sum(known) if known else None

    def _report_progress(self, started: float) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        log.info(
            "ingested %d events (%.0f/s), %d rejected, lag %s",
            sum(self.stats.events.values()),
            sum(self.stats.events.values()) / elapsed,
            sum(self.stats.errors.values()),
            self.stats.lag if self.stats.lag is not None else "unknown",
        )
        if self._on_progress:
            self._on_progress(self.stats)


def end_offsets(settings: Settings, timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """The high watermark of every partition of every event topic, now."""
    consumer = Consumer({**consumer_config(settings), "group.id": "lms-analytics-watermarks"})
    try:
        metadata = consumer.list_topics(timeout=timeout)
        ends: dict[tuple[str, int], int] = {}
        for topic in event_topics(settings):
            if topic not in metadata.topics:
                continue
            for partition in metadata.topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition, OFFSET_END), timeout=timeout
                )
                ends[(topic, partition)] = high
        return ends
    finally:
        consumer.close()
