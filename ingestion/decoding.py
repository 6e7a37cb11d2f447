"""From a Kafka message to a validated event, or to a clear reason why not.

The deterministic `event_id` is the producer's `event_id` header when present, else a hash of
the event type and the event's natural key, so a re-delivered event always gets the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ingestion.events import BY_TOPIC, Event

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
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return "" if value is None else str(value)


def natural_event_id(event: Event) -> str:
    key = "\x1f".join([event.event_type, *map(_key_part, event.natural_key_values())])
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _header(headers: list[tuple[str, bytes | None]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return value.decode("utf-8", errors="replace")
    return None


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
    try:
        event = model.model_validate_json(value, context=context)
    except ValidationError as error:
        message, error_class = _describe(error)
        return Rejected(coordinates, raw, f"{model.event_type}: {message}", error_class)

    version_text = _header(headers, "schema_version")
    try:
        schema_version = int(version_text) if version_text else DEFAULT_SCHEMA_VERSION
    except ValueError:
        return Rejected(
            coordinates,
            raw,
            f"schema_version header {version_text!r} is not an integer",
            "wrong_type",
        )
    event_id = _header(headers, "event_id") or natural_event_id(event)
    return Decoded(event, event_id, schema_version, coordinates, raw)
