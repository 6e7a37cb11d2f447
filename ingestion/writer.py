"""Writes a batch into the raw tables, column-wise, one insert per table.

Each insert carries an `insert_deduplication_token` derived from the batch's Kafka
coordinates, so an insert retried after a timeout or replayed after a crash with the same
boundaries is dropped by ClickHouse; rows replayed with other boundaries fold by `event_id`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ingestion.batch import Batch
from ingestion.decoding import Decoded
from ingestion.raw_schema import DATABASE, ERRORS_TABLE, RawTable

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


def table_columns(table: RawTable, rows: list[Decoded], ingested_at: datetime) -> list[list]:
    """The rows of one raw table as columns, in `table.column_names` order."""
    columns: list[list] = [[row.event_id for row in rows]]
    events = [row.event for row in rows]
    for column in table.event_columns:
        if column.subfield is None:
            columns.append([getattr(event, column.field) for event in events])
        else:
            columns.append(
                [getattr(getattr(event, column.field), column.subfield) for event in events]
            )
    columns.append([row.schema_version for row in rows])
    columns.append([row.coordinates.topic for row in rows])
    columns.append([row.coordinates.partition for row in rows])
    columns.append([row.coordinates.offset for row in rows])
    columns.append([row.coordinates.key for row in rows])
    columns.append([ingested_at] * len(rows))
    columns.append([row.raw for row in rows])
    return columns


class RawWriter:
    def __init__(self, client) -> None:
        self._client = client

    def write(self, batch: Batch) -> dict[str, int]:
        """Insert everything in the batch; rows written per table. Raises on any failure."""
        now = datetime.now(UTC)
        written: dict[str, int] = {}
        for table, rows in batch.tables():
            self._client.insert(
                table.name,
                table_columns(table, rows, now),
                column_names=table.column_names,
                column_type_names=table.column_types,
                column_oriented=True,
                database=DATABASE,
                settings={"insert_deduplication_token": batch.deduplication_token(table.name)},
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
            self._client.insert(
                ERRORS_TABLE,
                columns,
                column_names=ERROR_COLUMNS,
                column_type_names=ERROR_TYPES,
                column_oriented=True,
                database=DATABASE,
                settings={"insert_deduplication_token": batch.deduplication_token(ERRORS_TABLE)},
            )
            written[ERRORS_TABLE] = len(rejected)
        return written
