"""The raw tables in ClickHouse database `raw`, derived from the event models.

One table per event type, named after it in snake_case (`raw.quiz_completed`), with a typed
column per field (ClientMetadata flattened to `client_*`), then the bookkeeping columns.
The migrations under `ingestion/migrations/` create these tables; a test checks that the
migrated tables and this derivation agree, so a model change cannot drift from the schema.

Engine: ReplacingMergeTree keyed by `event_id`, so the engine folds re-deliveries (staging
dedupes again, so counts are right before merges run); partitioned by month of event time,
which is deterministic per event, so duplicates always meet in the same partition.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ingestion.events import EVENT_TYPES, ClientMetadata, Event

DATABASE = "raw"
ERRORS_TABLE = "ingestion_errors"

BOOKKEEPING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("schema_version", "UInt16"),
    ("kafka_topic", "LowCardinality(String)"),
    ("kafka_partition", "Int32"),
    ("kafka_offset", "Int64"),
    ("kafka_key", "String"),
    ("ingested_at", "DateTime64(3, 'UTC')"),
    ("raw", "String"),
)


def table_name(model: type[Event]) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.event_type).lower()


def _clickhouse_type(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _clickhouse_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return f"Nullable({_clickhouse_type(inner[0])})"
    if origin is typing.Literal:
        return "LowCardinality(String)"
    simple = {
        str: "String",
        bool: "Bool",
        int: "Int32",
        float: "Float64",
        datetime: "DateTime64(3, 'UTC')",
        Decimal: "Decimal(18, 4)",
    }
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no ClickHouse type for {annotation!r}")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    field: str  # the model field it comes from
    subfield: str | None = None  # for flattened ClientMetadata


@dataclass(frozen=True)
class RawTable:
    model: type[Event]
    name: str
    event_columns: tuple[Column, ...]

    @property
    def qualified_name(self) -> str:
        return f"{DATABASE}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [
            "event_id",
            *(c.name for c in self.event_columns),
            *(n for n, _ in BOOKKEEPING_COLUMNS),
        ]

    @property
    def column_types(self) -> list[str]:
        return [
            "String",
            *(c.type for c in self.event_columns),
            *(t for _, t in BOOKKEEPING_COLUMNS),
        ]

    def create_statement(self) -> str:
        columns = ",\n".join(
            f"    {name} {ctype}" + (" CODEC(ZSTD(1))" if name == "raw" else "")
            for name, ctype in zip(self.column_names, self.column_types, strict=True)
        )
        return (
            f"CREATE TABLE IF NOT EXISTS {self.qualified_name}\n(\n{columns},\n"
            "    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1\n)\n"
            "ENGINE = ReplacingMergeTree(ingested_at)\n"
            f"PARTITION BY toYYYYMM({self.model.time_field})\n"
            "ORDER BY event_id\n"
            "SETTINGS non_replicated_deduplication_window = 1000"
        )


def _event_columns(model: type[Event]) -> tuple[Column, ...]:
    columns: list[Column] = []
    for name, info in model.model_fields.items():
        if info.annotation is ClientMetadata:
            for sub, sub_info in ClientMetadata.model_fields.items():
                columns.append(
                    Column(f"client_{sub}", _clickhouse_type(sub_info.annotation), name, sub)
                )
        else:
            # pydantic keeps Annotated constraints in info.metadata; annotation is the type.
            columns.append(Column(name, _clickhouse_type(info.annotation), name))
    return tuple(columns)


RAW_TABLES: tuple[RawTable, ...] = tuple(
    RawTable(model, table_name(model), _event_columns(model)) for model in EVENT_TYPES
)
BY_EVENT_TYPE: dict[str, RawTable] = {t.model.event_type: t for t in RAW_TABLES}

ERRORS_CREATE_STATEMENT = f"""CREATE TABLE IF NOT EXISTS {DATABASE}.{ERRORS_TABLE}
(
    topic LowCardinality(String),
    partition Int32,
    offset Int64,
    key String,
    raw_value String CODEC(ZSTD(1)),
    error String,
    error_class LowCardinality(String),
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (topic, partition, offset)"""


def render_initial_migration() -> str:
    statements = [f"CREATE DATABASE IF NOT EXISTS {DATABASE}"]
    statements += [table.create_statement() for table in RAW_TABLES]
    statements.append(ERRORS_CREATE_STATEMENT)
    return ";\n\n".join(statements) + ";\n"


if __name__ == "__main__":
    print(render_initial_migration(), end="")
