"""From a request body to Kafka messages, with a reason for every item that is not one.

The envelope: the body is one event object or a JSON array of them. Each object names its event
type in `type` (`"PageView"` or `"UserActivity"`; `Type` is accepted too); every other field is
spelled as the contract allows (`UserID` or `user_id`, ...). The server

- keeps the client's `ID` and fills a random UUID only when there is none;
- keeps the client's `CreatedAt` and fills the server's time only when there is none;
- fills a PageView's `Path` from its `URL` when there is none;
- sets `ClientMetadata` from the request (User-Agent, client IP); any sent by the client is
  replaced, so a page cannot claim another device or address;

then validates the result exactly as the Kafka consumer will (`ingestion.decoding.decode`), so
an accepted event is never dead-lettered later for a contract reason.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ingestion.decoding import Coordinates, Decoded, decode
from ingestion.events import ClientMetadata, Event, PageView, UserActivity

TRACKING_EVENTS: dict[str, type[Event]] = {
    PageView.event_type: PageView,
    UserActivity.event_type: UserActivity,
}
_TYPE_NAMES = " or ".join(TRACKING_EVENTS)


class MalformedBody(ValueError):
    """The body as a whole is not an event or a batch of events."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body: bytes) -> list[Any]:
    """The body's items: one for an object, each element for an array."""
    if not body.strip():
        raise MalformedBody("empty body: send a JSON event object or an array of events")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise MalformedBody("body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise MalformedBody(
            f"body is not valid JSON: {error.msg} (line {error.lineno} column {error.colno})"
        ) from None
    except ValueError as error:
        raise MalformedBody(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise MalformedBody("body is not valid JSON: nested too deeply") from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise MalformedBody(
        f"body is a JSON {_json_kind(data)}: send an event object or an array of events"
    )


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"


@dataclass(frozen=True)
class Message:
    """A validated event, ready for Kafka (topic without the configured prefix)."""

    index: int
    event: Event
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class ItemError:
    index: int
    error: str

    def as_json(self) -> dict[str, object]:
        return {"index": self.index, "error": self.error}


def _url_path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _missing(item: dict[str, Any], go: str, snake: str) -> bool:
    return item.get(go) in (None, "") and item.get(snake) in (None, "")


def prepare(index: int, item: Any, metadata: ClientMetadata, now: datetime) -> Message | ItemError:
    """One item of the body as a Kafka message, or the reason it is rejected."""
    if not isinstance(item, dict):
        return ItemError(index, f"item is a JSON {_json_kind(item)}, expected an event object")
    item = dict(item)
    type_name = item.pop("type", None)
    alternative = item.pop("Type", None)
    type_name = type_name if type_name is not None else alternative
    if type_name is None:
        return ItemError(index, f"type: missing, expected {_TYPE_NAMES}")
    model = TRACKING_EVENTS.get(type_name) if isinstance(type_name, str) else None
    if model is None:
        return ItemError(index, f"type: unknown event type {type_name!r}, expected {_TYPE_NAMES}")

    if _missing(item, "ID", "id"):
        item.pop("id", None)
        item["ID"] = str(uuid.uuid4())
    if _missing(item, "CreatedAt", "created_at"):
        item.pop("created_at", None)
        item["CreatedAt"] = now.isoformat()
    if model is PageView and _missing(item, "Path", "path"):
        url = item.get("URL", item.get("url"))
        if isinstance(url, str):
            item.pop("path", None)
            item["Path"] = _url_path(url)
    item.pop("client_metadata", None)
    item["ClientMetadata"] = metadata.model_dump(by_alias=True)

    raw = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
    result = decode(Coordinates(model.topic, -1, -1, ""), raw, context={"now": now})
    if not isinstance(result, Decoded):
        return ItemError(index, result.error)
    event = result.event
    user_id = getattr(event, "user_id", "")
    return Message(
        index=index,
        event=event,
        topic=model.topic,
        key=user_id.encode() if user_id else None,
        value=event.to_message(),
    )
