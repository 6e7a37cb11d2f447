"""Writes a batch into the raw tables, column-wise, one insert per table.

Each insert carries an `insert_deduplication_token` derived from the batch's Kafka
coordinates, so an insert retried after a timeout or replayed after a crash with the same
boundaries is dropped by ClickHouse; rows replayed with other boundaries fold by `event_id`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from math import floor

from ingestion.batch import Batch
from ingestion.decoding import Row
from ingestion.raw_schema import DATABASE, ERRORS_TABLE, RAW_TABLES, RawTable

log = logging.getLogger(__name__)

ERROR_COLUMNS = [
    "topic",
    "partition",
    "offset",
    "key",
    "raw_value",
    "error",
    "error_class",
    "received_at",
]
ERROR_TYPES = [
    "LowCardinality(String)",
    "Int32",
    "Int64",
    "String",
    "String",
    "String",
    "LowCardinality(String)",
    "DateTime64(3, 'UTC')",
]


def datetime64_ms(value: datetime) -> int:
    """`DateTime64(3)` ticks of a time, computed as clickhouse-connect does for a datetime."""
    return (floor(value.timestamp()) * 1_000_000 + value.microsecond) // 1000


# table -> positions (among its event columns) of the DateTime64 ones
_TIME_COLUMNS = {
    table.name: tuple(i for i, c in enumerate(table.event_columns) if "DateTime64" in c.type)
    for table in RAW_TABLES
}


def table_columns(table: RawTable, rows: list[Row], ingested_at: datetime) -> list[Sequence]:
    """The rows of one raw table as columns, in `table.column_names` order.

    Rows become columns in C (zip) rather than value by value in Python; times are passed as
    DateTime64 ticks, which clickhouse-connect writes as they are.
    """
    if not rows:
        return [[] for _ in table.column_names]
    event_ids, values, versions, topics, partitions, offsets, keys, raws = zip(*rows, strict=True)
    event_columns: list[Sequence] = list(zip(*values, strict=True))
    for position in _TIME_COLUMNS[table.name]:
        event_columns[position] = [
            None if value is None else datetime64_ms(value) for value in event_columns[position]
        ]
    received = [datetime64_ms(ingested_at)] * len(rows)
    return [event_ids, *event_columns, versions, topics, partitions, offsets, keys, received, raws]


class RawWriter:
    def __init__(self, client) -> None:
        self._client = client

    def write(self, batch: Batch) -> dict[str, int]:
        """Insert everything in the batch; rows written per table. Raises on any failure."""
        now = datetime.now(UTC)
        written: dict[str, int] = {}
        for table, rows in batch.tables():
            self._insert(
                table.name,
                table_columns(table, rows, now),
                table.column_names,
                table.column_types,
                batch.deduplication_token(table.name),
            )
            written[table.name] = len(rows)
        if batch.rejected:
            rejected = batch.rejected
            columns = [
                [r.coordinates.topic for r in rejected],
                [r.coordinates.partition for r in rejected],
                [r.coordinates.offset for r in rejected],
                [r.coordinates.key for r in rejected],
                [r.raw_value for r in rejected],
                [r.error for r in rejected],
                [r.error_class for r in rejected],
                [now] * len(rejected),
            ]
            self._insert(
                ERRORS_TABLE,
                columns,
                ERROR_COLUMNS,
                ERROR_TYPES,
                batch.deduplication_token(ERRORS_TABLE),
            )
            written[ERRORS_TABLE] = len(rejected)
        return written

    def _insert(
        self, table: str, columns: list, names: list[str], types: list[str], token: str
    ) -> None:
        context = self._client.create_insert_context(
            table,
            column_names=names,
            database=DATABASE,
            column_type_names=types,
            column_oriented=True,
            settings={"insert_deduplication_token": token},
            data=columns,
        )
        try:
            self._client.insert(context=context)
        finally:
            # clickhouse-connect's InsertContext refers to itself (a bound method kept as an
            # attribute), so it and the columns it holds would wait for the cyclic collector,
            # which the consumer runs rarely: drop its attributes, and with them the cycle.
            vars(context).clear()
