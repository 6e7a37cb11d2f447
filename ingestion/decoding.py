"""From a Kafka message to a validated event, or to a clear reason why not.

The deterministic `event_id` is the producer's `event_id` header when present, else a hash of
the event type and the event's natural key, so a re-delivered event always gets the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any

from pydantic import ValidationError

from ingestion.events import BY_TOPIC, Event
from ingestion.raw_schema import BY_EVENT_TYPE

DEFAULT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Coordinates:
    """Where a message came from."""

    topic: str
    partition: int
    offset: int
    key: str


@dataclass(frozen=True)
class Decoded:
    event: Event
    event_id: str
    schema_version: int
    coordinates: Coordinates
    raw: str


@dataclass(frozen=True)
class Rejected:
    coordinates: Coordinates
    raw_value: str
    error: str
    error_class: (
        str  # invalid_json, missing_field, wrong_type, unknown_value, impossible_value, ...
    )


def _key_part(value: object) -> str:
    if isinstance(value, datetime):
        if value.year >= 1000:  # the same text as the strftime below, without its struct_time
            return value.isoformat(timespec="milliseconds")[:23] + "Z"
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return "" if value is None else str(value)


def natural_event_id(event: Event) -> str:
    key_values = _natural_key_getter(type(event))
    values = key_values(event) if key_values is not None else event.natural_key_values()
    key = "\x1f".join([event.event_type, *map(_key_part, values)])
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


@cache
def _natural_key_getter(model: type[Event]) -> Callable[[Event], tuple] | None:
    """`Event.natural_key_values` in one C call, for models that do not override it."""
    if model.natural_key_values is not Event.natural_key_values or not model.natural_key:
        return None
    getter = attrgetter(*model.natural_key)
    return getter if len(model.natural_key) > 1 else lambda event: (getter(event),)


_ERROR_CLASSES = {
    "missing": "missing_field",
    "json_invalid": "invalid_json",
    "model_type": "wrong_type",
    "model_attributes_type": "wrong_type",
    "literal_error": "unknown_value",
    "string_pattern_mismatch": "unknown_value",
}


def _describe(error: ValidationError) -> tuple[str, str]:
    """One line naming each bad field as the message spelled it, and the first error's class."""
    details = error.errors(include_url=False)
    parts = []
    for detail in details:
        field = ".".join(part for part in detail["loc"] if isinstance(part, str))
        message = detail["msg"]
        if detail["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    first = details[0]["type"]
    if first in _ERROR_CLASSES:
        error_class = _ERROR_CLASSES[first]
    elif first.endswith("_type") or first.endswith("_parsing"):
        error_class = "wrong_type"
    else:
        error_class = "impossible_value"
    return "; ".join(parts), error_class


def _headers(headers: list[tuple[str, bytes | None]] | None) -> tuple[str | None, str | None]:
    """(schema_version, event_id) headers, each the first of its name with a value."""
    version = event_id = None
    for key, value in headers or ():
        if value is None:
            continue
        if key == "schema_version":
            if version is None:
                version = value.decode("utf-8", errors="replace")
        elif key == "event_id" and event_id is None:
            event_id = value.decode("utf-8", errors="replace")
    return version, event_id


def _validated(
    model: type[Event],
    value: bytes,
    headers: list[tuple[str, bytes | None]] | None,
    context: dict[str, Any] | None,
) -> tuple[Event, str, int] | tuple[None, str, str]:
    """(event, event_id, schema_version), or (None, error, error_class): decode's core."""
    try:
        event = model.__pydantic_validator__.validate_json(value, context=context)
    except ValidationError as error:
        message, error_class = _describe(error)
        return None, f"{model.event_type}: {message}", error_class
    version_text, event_id = _headers(headers) if headers else (None, None)
    try:
        schema_version = int(version_text) if version_text else DEFAULT_SCHEMA_VERSION
    except ValueError:
        return None, f"schema_version header {version_text!r} is not an integer", "wrong_type"
    return event, event_id or natural_event_id(event), schema_version


def decode(
    coordinates: Coordinates,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]] | None = None,
    context: dict[str, Any] | None = None,
    topic_prefix: str = "",
) -> Decoded | Rejected:
    raw = (value or b"").decode("utf-8", errors="replace")
    model = BY_TOPIC.get(coordinates.topic.removeprefix(topic_prefix))
    if model is None:
        return Rejected(
            coordinates,
            raw,
            f"no event type is read from topic {coordinates.topic}",
            "unknown_topic",
        )
    if not value:
        return Rejected(coordinates, raw, "empty message", "invalid_json")
    event, event_id, schema_version = _validated(model, value, headers, context)
    if event is None:  # then the other two are the error and its class
        return Rejected(coordinates, raw, event_id, schema_version)
    return Decoded(event, event_id, schema_version, coordinates, raw)


# A decoded message as a raw-table row: (event_id, the values of the table's event columns,
# schema_version, kafka_topic, kafka_partition, kafka_offset, kafka_key, raw JSON as UTF-8
# bytes). The values, not the event: a batch holds a third of the memory.
Row = tuple[str, tuple, int, str, int, int, str, bytes]


@cache
def column_values(model: type[Event]) -> Callable[[Event], tuple]:
    """An event's values for its raw table's event columns, in column order, in one C call."""
    table = BY_EVENT_TYPE[model.event_type]
    getter = attrgetter(
        *(
            column.field if column.subfield is None else f"{column.field}.{column.subfield}"
            for column in table.event_columns
        )
    )
    return getter if len(table.event_columns) > 1 else lambda event: (getter(event),)


def as_row(decoded: Decoded) -> Row:
    """The row `RowDecoder` gives for the same message."""
    c, event = decoded.coordinates, decoded.event
    values = column_values(type(event))(event)
    row = (decoded.event_id, values, decoded.schema_version, c.topic, c.partition, c.offset)
    return (*row, c.key, decoded.raw.encode())


class RowDecoder:
    """`decode` for the consumer's hot path: the same checks and outcomes, without objects.

    A good message becomes (event_type, Row); anything else the same `Rejected` as `decode`.
    """

    def __init__(self, topic_prefix: str = "") -> None:
        self._topic_prefix = topic_prefix
        self._models: dict[str, type[Event] | None] = {}

    def __call__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]] | None,
    ) -> tuple[str, Row] | Rejected:
        try:
            model = self._models[topic]
        except KeyError:
            model = self._models[topic] = BY_TOPIC.get(topic.removeprefix(self._topic_prefix))
        key_text = key.decode("utf-8", errors="replace") if key else ""
        if model is None or not value:
            coordinates = Coordinates(topic, partition, offset, key_text)
            return decode(coordinates, value, headers, None, self._topic_prefix)
        event, event_id, schema_version = _validated(model, value, headers, None)
        if event is None:  # then the other two are the error and its class
            coordinates = Coordinates(topic, partition, offset, key_text)
            raw_text = value.decode("utf-8", errors="replace")
            return Rejected(coordinates, raw_text, event_id, schema_version)
        values = column_values(model)(event)
        # Valid JSON is valid UTF-8, so the bytes are what `raw` of `decode` would encode to.
        raw = value if value.isascii() else value.decode("utf-8", errors="replace").encode()
        row = (event_id, values, schema_version, topic, partition, offset, key_text, raw)
        return model.event_type, row
