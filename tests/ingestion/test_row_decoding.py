"""The consumer's fast path (RowDecoder, columns by zip) against the plain one (decode, getattr).

No servers: both paths run on the same messages and must agree exactly, down to the bytes
clickhouse-connect would send for each raw table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.transform import NativeTransform
from event_samples import SAMPLES, snake_spelled

from ingestion.batch import Batch
from ingestion.decoding import Coordinates, Decoded, Rejected, RowDecoder, as_row, decode
from ingestion.raw_schema import BY_EVENT_TYPE, RawTable
from ingestion.simulator import SimulationConfig, generate_messages
from ingestion.writer import table_columns

PREFIX = "t."
NOW = datetime(2026, 6, 2, 8, 30, 1, 234567, tzinfo=UTC)
FAULTY = SimulationConfig(
    orgs=2,
    users=60,
    courses=4,
    days=7,
    seed=3,
    end=datetime(2026, 6, 1, tzinfo=UTC),
    duplicates=0.1,
    late=0.1,
    malformed=0.1,
)


def _messages() -> list[tuple[str, bytes | None, bytes | None, list | None]]:
    """(Kafka topic, key, value, headers): simulated traffic, both spellings, odd input."""
    messages = [
        (PREFIX + m.topic, m.key, m.value, list(m.headers) if m.headers else None)
        for m in generate_messages(FAULTY)
    ]
    for topic, (message, _) in SAMPLES.items():
        messages.append((PREFIX + topic, b"k", json.dumps(message).encode(), None))
        snake = json.dumps(snake_spelled(message), ensure_ascii=False).encode()
        messages.append((PREFIX + topic, None, snake, [("schema_version", b"2")]))
    user, _ = SAMPLES["auth.user-created"]
    accented = json.dumps({**user, "FirstName": "Zoë"}, ensure_ascii=False).encode()
    messages += [
        (PREFIX + "auth.user-created", "clé".encode(), accented, [("event_id", b"e-1")]),
        (PREFIX + "auth.user-created", None, accented.replace(b"Zo", b"\xff"), None),
        (PREFIX + "auth.user-created", None, b"", None),
        (PREFIX + "auth.user-created", None, None, None),
        (PREFIX + "auth.user-created", None, accented, [("schema_version", b"two")]),
        (PREFIX + "auth.no-such-topic", None, accented, None),
        ("auth.user-created", None, accented, None),  # without the prefix
    ]
    return messages


def _plain(index: int, topic: str, key: bytes | None, value, headers) -> Decoded | Rejected:
    coordinates = Coordinates(topic, 3, index, key.decode("utf-8", "replace") if key else "")
    return decode(coordinates, value, headers, topic_prefix=PREFIX)


@pytest.fixture(scope="module")
def both_paths() -> tuple[Batch, Batch, int]:
    """The same messages into one batch by `Batch.add(decode(...))`, one by RowDecoder."""
    plain, fast, decoder = Batch(), Batch(), RowDecoder(PREFIX)
    messages = _messages()
    for index, (topic, key, value, headers) in enumerate(messages):
        plain.add(_plain(index, topic, key, value, headers))
        decoded = decoder(topic, 3, index, key, value, headers)
        if isinstance(decoded, Rejected):
            fast.add_rejected(decoded)
        else:
            fast.add_row(*decoded)
    return plain, fast, len(messages)


def test_row_decoder_accepts_and_rejects_exactly_as_decode(both_paths):
    plain, fast, count = both_paths
    assert plain.size == fast.size == count
    assert plain.rejected == fast.rejected
    assert {r.error_class for r in fast.rejected} >= {"invalid_json", "unknown_topic"}
    assert plain.rows == fast.rows
    assert plain.offsets == fast.offsets
    assert len(fast.rows) == len(BY_EVENT_TYPE)  # every event type was seen


def test_rows_carry_the_raw_message_as_decode_spells_it(both_paths):
    _, fast, _ = both_paths
    messages = _messages()
    for rows in fast.rows.values():
        for row in rows:
            index = row[5]
            decoded = _plain(index, *messages[index])
            assert isinstance(decoded, Decoded)
            assert row == as_row(decoded)
            assert row[7] == decoded.raw.encode()


def _native(table: RawTable, columns: list) -> bytes:
    types = [get_from_name(name) for name in table.column_types]
    context = InsertContext(table.name, table.column_names, types, columns, column_oriented=True)
    return b"".join(NativeTransform().build_insert(context))


def _columns_one_value_at_a_time(table: RawTable, decoded: list[Decoded]) -> list[list]:
    """The columns as the consumer first built them: getattr per value, datetimes as they are."""
    columns = [[d.event_id for d in decoded]]
    for column in table.event_columns:
        values = [getattr(d.event, column.field) for d in decoded]
        if column.subfield is not None:
            values = [getattr(value, column.subfield) for value in values]
        columns.append(values)
    columns += [
        [d.schema_version for d in decoded],
        [d.coordinates.topic for d in decoded],
        [d.coordinates.partition for d in decoded],
        [d.coordinates.offset for d in decoded],
        [d.coordinates.key for d in decoded],
        [NOW] * len(decoded),
        [d.raw for d in decoded],
    ]
    return columns


def test_columns_serialise_to_the_same_bytes_as_one_value_at_a_time(both_paths):
    _, fast, _ = both_paths
    messages = _messages()
    for table, rows in fast.tables():
        decoded = [_plain(row[5], *messages[row[5]]) for row in rows]
        expected = _native(table, _columns_one_value_at_a_time(table, decoded))
        assert _native(table, table_columns(table, rows, NOW)) == expected, table.name
