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

For throughput, a batch is written by a writer thread while the next one is read and decoded
(at most one write in flight; the next batch grows while it lasts); its offsets are committed
by the consumer's own thread once that write has succeeded, batch after batch in order. A write
that fails is retried as above before anything else is written. When partitions are revoked,
the write in flight is awaited and, if it succeeded, committed while the partitions are still
ours; the batch being read is dropped.
The cyclic garbage collector runs on a timer while consuming (see `collector_paused`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import clickhouse_connect
from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from ingestion.batch import Batch
from ingestion.decoding import RowDecoder
from ingestion.schema_migrations import migrate
from ingestion.topics import ensure_topics, event_topics
from ingestion.writer import RawWriter
from lms_analytics.settings import Settings

log = logging.getLogger(__name__)

POLL_MESSAGES = 5_000
POLL_SECONDS = 0.2
PROGRESS_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 30.0
# A batch grows up to this many times `batch_size` while the previous one is being written.
MAX_BATCH_GROWTH = 2
# While consuming, the garbage collector runs at this interval instead of by allocation counts.
GC_SECONDS = 30.0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Turn the cyclic garbage collector off; on again afterwards if it was on.

    A batch holds hundreds of thousands of young objects (events, rows); the collector's
    allocation-triggered passes trace them again and again, a third of the decoding time.
    They form no reference cycles (reference counting frees them), so the consumer collects
    on a timer instead, for any cycles that libraries leave behind.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
        self._in_flight: tuple[Batch, Future[dict[str, int]]] | None = None
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
        last_progress = last_collection = time.monotonic()
        consume, decode_row = self._consumer.consume, RowDecoder(self.settings.kafka_topic_prefix)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
        try:
            with collector_paused():
                while not self._stop.is_set():
                    messages = consume(POLL_MESSAGES, POLL_SECONDS)
                    if self._revoked:  # partitions moved: their uncommitted rows are re-read
                        batch, self._revoked = Batch(), False
                    add_row, add_rejected = batch.add_row, batch.add_rejected
                    for message in messages:
                        if message.error():
                            if message.error().code() != KafkaError._PARTITION_EOF:
                                log.warning("Kafka error: %s", message.error())
                            continue
                        decoded = decode_row(
                            message.topic(),
                            message.partition(),
                            message.offset(),
                            message.key(),
                            message.value(),
                            message.headers(),
                        )
                        if type(decoded) is tuple:
                            add_row(*decoded)
                        else:
                            add_rejected(decoded)
                    if messages:
                        self._last_activity = time.monotonic()
                    if self._in_flight is not None and self._in_flight[1].done():
                        self._settle()
                    if self._ready(batch):
                        self._settle()  # one write in flight at most, committed in order
                        if not self._revoked:  # else dropped by the next poll: re-read
                            self._in_flight = (batch, executor.submit(self._writer.write, batch))
                            batch = Batch()
                    if time.monotonic() - last_progress >= PROGRESS_SECONDS:
                        self._report_progress(started)
                        last_progress = time.monotonic()
                    if time.monotonic() - last_collection >= GC_SECONDS:
                        gc.collect()
                        last_collection = time.monotonic()
                    if self._done(stop_when, batch, polled=len(messages)):
                        break
                self._settle()
                if batch.size and not self._revoked:
                    self._flush(batch)
        finally:
            executor.shutdown(wait=True)
            self.stats.seconds = time.monotonic() - started
            self._consumer.close()
        self._report_progress(started)
        return self.stats

    def _ready(self, batch: Batch) -> bool:
        """Whether to write the batch now: big or old enough, and the writer free.

        While the previous batch is still being written the batch keeps growing (up to
        `MAX_BATCH_GROWTH` times its size), rather than the consumer waiting for the writer.
        """
        if not batch.size:
            return False
        size = len(batch)
        if size < self.batch_size and batch.age() < self.batch_seconds:
            return False
        writing = self._in_flight is not None and not self._in_flight[1].done()
        return not writing or size >= self.batch_size * MAX_BATCH_GROWTH

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
        in_flight = len(self._in_flight[0]) if self._in_flight is not None else 0
        if stop_when.max_messages is not None and (
            self.stats.messages + in_flight + len(batch) >= stop_when.max_messages
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

    def _flush(self, batch: Batch) -> None:
        """Write the batch, retrying with backoff until it succeeds; then commit its offsets."""
        written = self._write_until_done(batch)
        if written is not None:
            self._commit(batch, written)

    def _settle(self) -> None:
        """Wait for the write in flight; commit it once written (retried if it failed)."""
        if self._in_flight is None:
            return
        batch, future = self._in_flight
        self._in_flight = None
        try:
            written = future.result()
        except Exception as error:  # any failure to write: retried, nothing is committed
            written = self._write_until_done(batch, error)
        if written is not None:
            self._commit(batch, written)

    def _write_until_done(
        self, batch: Batch, failure: Exception | None = None
    ) -> dict[str, int] | None:
        """Rows written per table, after as many attempts as it takes; None if revoked."""
        delay = 0.5
        while True:
            if failure is None:
                try:
                    return self._writer.write(batch)
                except Exception as error:  # any failure to write: nothing is committed
                    failure = error
            self.stats.write_retries += 1
            log.warning(
                "writing %d rows to ClickHouse failed (%s); retrying in %.1f s",
                len(batch),
                failure,
                delay,
            )
            failure = None
            self._wait_paused(delay)
            if self._revoked:
                log.warning("partitions were revoked while retrying; the batch will be re-read")
                return None
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _commit(self, batch: Batch, written: dict[str, int]) -> None:
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
        if self._in_flight is not None:  # commit it while the partitions are still ours
            batch, future = self._in_flight
            self._in_flight = None
            try:
                written = future.result()
            except Exception as error:
                log.warning("writing %d rows failed (%s); they will be re-read", len(batch), error)
                return
            try:
                self._commit(batch, written)
            except KafkaException as error:  # written, not committed: a replay folds
                log.warning("commit on revocation failed (%s); the rows will be re-read", error)

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
