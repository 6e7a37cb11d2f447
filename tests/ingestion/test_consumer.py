"""The consumer against the real broker and engine: values, re-delivery, bad input."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from event_samples import SAMPLES, snake_spelled

from ingestion.consumer import IngestionConsumer, StopWhen
from ingestion.decoding import Coordinates, decode
from ingestion.events import BY_TOPIC
from ingestion.raw_schema import BY_EVENT_TYPE
from ingestion.topics import ensure_topics, event_topics


def run_consumer(settings, **kwargs):
    consumer = IngestionConsumer(settings, batch_seconds=kwargs.pop("batch_seconds", 0.3), **kwargs)
    return consumer.run(StopWhen(idle_seconds=kwargs.pop("idle", 2.5)))


def rows_of(ch, settings, topic: str) -> list[dict]:
    table = BY_EVENT_TYPE[BY_TOPIC[topic].event_type]
    result = ch.query(
        f"SELECT * FROM {table.qualified_name} WHERE kafka_topic = {{t:String}} "
        "ORDER BY kafka_offset",
        parameters={"t": settings.kafka_topic(topic)},
    )
    return [
        {name: as_utc(value) for name, value in zip(result.column_names, row, strict=True)}
        for row in result.result_rows
    ]


def as_utc(value):
    """clickhouse-connect returns DateTime64(3, 'UTC') values as naive datetimes in UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def test_every_event_type_round_trips_with_exact_values_in_both_spellings(
    ingest_settings, produce, ch
):
    messages = []
    for topic, (message, _) in SAMPLES.items():
        snake_id = [("event_id", f"snake-{topic}".encode())]  # so both rows survive merges
        messages.append((topic, "u-1", json.dumps(message).encode(), None))
        messages.append((topic, "u-1", json.dumps(snake_spelled(message)).encode(), snake_id))
    produce(messages)
    stats = run_consumer(ingest_settings)
    assert sum(stats.events.values()) == 32
    assert not stats.errors

    for topic, (message, expected) in SAMPLES.items():
        rows = rows_of(ch, ingest_settings, topic)
        assert len(rows) == 2, topic
        natural_id = decode(Coordinates(topic, 0, 0, ""), json.dumps(message).encode()).event_id
        assert sorted(row["event_id"] for row in rows) == sorted([natural_id, f"snake-{topic}"])
        for row in rows:
            assert {column: row[column] for column in expected} == expected, topic
            assert row["kafka_key"] == "u-1"
            assert row["schema_version"] == 1
            assert json.loads(row["raw"]) in (message, snake_spelled(message))


def test_same_message_delivered_twice_leaves_one_row_per_event_id(ingest_settings, produce, ch):
    message, _ = SAMPLES["course.user-enrolled"]
    value = json.dumps(message).encode()
    headers = [("event_id", b"producer-id-7")]
    produce(
        [
            ("course.user-enrolled", "u-1", value, None),
            ("course.user-enrolled", "u-1", value, None),
            ("course.user-enrolled", "u-1", value, headers),
            ("course.user-enrolled", "u-1", value, headers),
        ]
    )
    run_consumer(ingest_settings)
    topic = ingest_settings.kafka_topic("course.user-enrolled")
    event_ids = ch.query(
        "SELECT event_id, count() FROM raw.user_enrolled FINAL WHERE kafka_topic = {t:String} "
        "GROUP BY event_id ORDER BY event_id",
        parameters={"t": topic},
    ).result_rows
    natural = decode(Coordinates("course.user-enrolled", 0, 0, ""), value).event_id
    assert event_ids == sorted([(natural, 1), ("producer-id-7", 1)])


def test_batch_replayed_after_a_crash_before_commit_is_not_written_twice(
    ingest_settings, produce, ch
):
    from ingestion.batch import Batch
    from ingestion.writer import RawWriter

    topic = "tracking.user-activities"
    base, _ = SAMPLES[topic]
    values = [json.dumps({**base, "ID": f"act-{i}"}).encode() for i in range(500)]
    produce([(topic, "u-1", value, None) for value in values])
    # The first run wrote its batch and died before committing:
    crashed = Batch()
    for offset, value in enumerate(values):
        crashed.add(
            decode(
                Coordinates(ingest_settings.kafka_topic(topic), 0, offset, "u-1"),
                value,
                topic_prefix=ingest_settings.kafka_topic_prefix,
            )
        )
    RawWriter(ch).write(crashed)
    # The restarted consumer reads the same messages from the last commit (none):
    stats = run_consumer(ingest_settings, batch_seconds=10)
    assert stats.events["user_activity"] == 500
    count, distinct = ch.query(
        "SELECT count(), uniqExact(event_id) FROM raw.user_activity WHERE kafka_topic = {t:String}",
        parameters={"t": ingest_settings.kafka_topic(topic)},
    ).result_rows[0]
    assert (count, distinct) == (500, 500)  # the replayed insert was deduplicated whole


BAD_INPUTS = [
    ("progress.quiz-completed", b"{not json", "invalid_json"),
    ("progress.quiz-completed", b'{"UserID": "u-1"}', "missing_field"),
    (
        "course.course-reviewed",
        b'{"ID": 5, "UserID": "u", "CourseID": "c", "Rating": 4, '
        b'"ReviewedAt": "2026-11-20T09:30:15Z"}',
        "wrong_type",
    ),
    (
        "progress.question-answered",
        b'{"UserID": "u", "CourseID": "c", "QuizID": "q", "QuestionID": "x", "AttemptID": "a", '
        b'"Outcome": "maybe", "TimeSpent": 3, "AnsweredAt": "2026-11-20T09:30:15Z"}',
        "unknown_value",
    ),
    (
        "tracking.user-activities",
        b'{"ID": "a", "UserID": "u", "ActivityType": "video", "Duration": -5, '
        b'"CreatedAt": "2026-11-20T09:30:15Z"}',
        "impossible_value",
    ),
    (
        "progress.assignment-graded",
        b'{"UserID": "u", "CourseID": "c", "AssignmentID": "a", "Score": 101, '
        b'"GradedAt": "2026-11-20T09:30:15Z"}',
        "impossible_value",
    ),
    (
        "course.course-reviewed",
        b'{"ID": "r", "UserID": "u", "CourseID": "c", "Rating": 6, '
        b'"ReviewedAt": "2026-11-20T09:30:15Z"}',
        "impossible_value",
    ),
    (
        "course.user-enrolled",
        b'{"ID": "e", "UserID": "u", "CourseID": "c", "EnrolledAt": "2099-01-01T00:00:00Z"}',
        "impossible_value",
    ),
]


def test_each_class_of_bad_input_lands_in_ingestion_errors_and_the_consumer_goes_on(
    ingest_settings, produce, ch
):
    good, _ = SAMPLES["course.user-enrolled"]
    messages = [(topic, "k", value, None) for topic, value, _ in BAD_INPUTS]
    messages.append(("course.user-enrolled", "u-1", json.dumps(good).encode(), None))
    produce(messages)
    stats = run_consumer(ingest_settings)
    assert stats.events["user_enrolled"] == 1
    rows = ch.query(
        "SELECT topic, raw_value, error_class, error FROM raw.ingestion_errors "
        "WHERE startsWith(topic, {p:String}) ORDER BY topic, offset",
        parameters={"p": ingest_settings.kafka_topic_prefix},
    ).result_rows
    expected = sorted(
        (ingest_settings.kafka_topic(topic), value.decode(), error_class)
        for topic, value, error_class in BAD_INPUTS
    )
    assert sorted(row[:3] for row in rows) == expected
    reasons = " | ".join(row[3] for row in rows)
    for fragment in (
        "Invalid JSON",
        "Field required",
        "valid string",
        "'correct'",
        "greater than or equal to 0",
        "less than or equal to 100",
        "less than or equal to 5",
        "more than 1 day in the future",
    ):
        assert fragment in reasons


def test_offsets_are_committed_after_the_write(ingest_settings, produce):
    from confluent_kafka import Consumer, TopicPartition

    produce(
        [("auth.user-created", "u-1", json.dumps(SAMPLES["auth.user-created"][0]).encode(), None)]
        * 3
    )
    run_consumer(ingest_settings)
    probe = Consumer(
        {
            "bootstrap.servers": ingest_settings.kafka_bootstrap,
            "group.id": ingest_settings.consumer_group_id,
        }
    )
    committed = probe.committed(
        [TopicPartition(ingest_settings.kafka_topic("auth.user-created"), 0)], timeout=10
    )
    probe.close()
    assert committed[0].offset == 3


def test_topics_are_created_once(local_stack):
    settings = local_stack.model_copy(update={"kafka_topic_prefix": f"t{uuid.uuid4().hex[:8]}."})
    created = ensure_topics(settings, partitions=2)
    assert sorted(created) == sorted(event_topics(settings))
    assert ensure_topics(settings, partitions=2) == []
