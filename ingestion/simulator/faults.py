"""What real delivery does to a clean stream: re-sends, late arrivals and bad messages.

- duplicate: the same message again (topic, key, value and headers identical), a few seconds to
  two days of event time later, so it dedupes by the `event_id` header when the original had one
  and by the natural key when it did not;
- late: the message itself held back and released once the stream has moved 1 minute to 3 days
  past its event time;
- malformed: an extra message made from a recent good one and broken in one of the ways
  events.md "Bad input" lists; the classes take turns so each appears.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from random import Random
from typing import NamedTuple

from ingestion.events import BY_TOPIC, go_name
from ingestion.simulator import traffic as tr
from ingestion.simulator import wire
from ingestion.simulator.traffic import Item

EVENT, LATE, DUPLICATE, MALFORMED = "event", "late", "duplicate", "malformed"

# class -> the error_class `ingestion.decoding.decode` must give it
MALFORMED_CLASSES: dict[str, str] = {
    "not_json": "invalid_json",
    "missing_field": "missing_field",
    "wrong_type": "wrong_type",
    "unknown_enum": "unknown_value",
    "negative_duration": "impossible_value",
    "score_out_of_range": "impossible_value",
    "rating_out_of_range": "impossible_value",
    "future_timestamp": "impossible_value",
}
_CLASS_ORDER = tuple(MALFORMED_CLASSES)

_METADATA_DEVICE = (("ClientMetadata", "DeviceType"), ("smartwatch", "console", "smart-tv"))
# topic -> (path to the field, values it must not take)
_ENUMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    tr.T_CONTENT: (("ItemType",), ("chapter", "page", "survey")),
    tr.T_ANSWER: (("Outcome",), ("partially_correct", "timeout")),
    tr.T_PAYMENT: (("Currency",), ("usd", "US$", "EURO")),
    tr.T_PAGE: _METADATA_DEVICE,
    tr.T_ACTIVITY: _METADATA_DEVICE,
}
_DURATIONS = {
    tr.T_ACTIVITY: "Duration",
    tr.T_PAGE: "TimeOnPage",
    tr.T_ANSWER: "TimeSpent",
    tr.T_VIDEO: "WatchedSeconds",
}
_SCORES = {tr.T_QUIZ: "Score", tr.T_GRADED: "Score", tr.T_PROGRESS: "PercentComplete"}
_RATINGS = {tr.T_REVIEW: "Rating"}
_ELIGIBLE: dict[str, frozenset[str] | None] = {  # None: any topic
    "not_json": None,
    "missing_field": None,
    "wrong_type": None,
    "unknown_enum": frozenset(_ENUMS),
    "negative_duration": frozenset(_DURATIONS),
    "score_out_of_range": frozenset(_SCORES),
    "rating_out_of_range": frozenset(_RATINGS),
    "future_timestamp": None,
}
_REQUIRED = {
    topic: tuple(go_name(name) for name, info in model.model_fields.items() if info.is_required())
    for topic, model in BY_TOPIC.items()
}
_TIME_FIELD = {topic: go_name(model.time_field) for topic, model in BY_TOPIC.items()}
# Decimal takes a string, and an enum's first complaint is the value: not a "wrong type".
_NOT_RETYPED = frozenset({"Amount", "Currency", "ItemType", "Outcome"})
_CENTURY_MS = 36_525 * 86_400_000


class Message(NamedTuple):
    """One Kafka message. `topic` is without the configured prefix."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] | None
    kind: str = EVENT  # event, late (an event, delivered late), duplicate, malformed
    fault: str = ""  # the malformed class


@dataclass
class FaultStats:
    events_by_topic: Counter[str] = field(default_factory=Counter)  # each good event once
    late: int = 0
    duplicates: int = 0
    malformed_by_class: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        return sum(self.events_by_topic.values())

    @property
    def malformed(self) -> int:
        return sum(self.malformed_by_class.values())

    @property
    def messages(self) -> int:
        return self.events + self.duplicates + self.malformed


def _delay_ms(rng: Random, spans: tuple[tuple[float, float, float], ...]) -> int:
    """A delay drawn from (share, low seconds, high seconds) spans."""
    x = rng.random()
    for share, low, high in spans:
        if x < share:
            return int((low + rng.random() * (high - low)) * 1000)
        x -= share
    return 0


_DUPLICATE_DELAYS = ((0.5, 0, 30), (0.4, 60, 3600), (0.1, 3600, 48 * 3600))
_LATE_DELAYS = ((0.6, 60, 1800), (0.3, 1800, 12 * 3600), (0.1, 12 * 3600, 72 * 3600))


class FaultInjector:
    def __init__(self, rng: Random, duplicates: float, late: float, malformed: float) -> None:
        self.rng = rng
        self.duplicates = duplicates
        self.late = late
        self.malformed = malformed
        self.stats = FaultStats()
        self._recent: dict[str, tuple[int, int, bytes | None, bytes]] = {}  # topic -> last good
        self._owed: list[str] = []  # classes with no source message yet
        self._turn = 0

    def apply(self, items: Iterable[Item]) -> Iterator[Message]:
        rng, stats = self.rng, self.stats
        by_topic = stats.events_by_topic
        duplicates, late, malformed = self.duplicates, self.late, self.malformed
        held: list[tuple[int, int, Message]] = []  # (release time, order, message)
        order = 0
        for ts, seq, topic, key, value, headers in items:
            while held and held[0][0] <= ts:
                yield heapq.heappop(held)[2]
            by_topic[topic] += 1
            sent_at = ts
            if late and rng.random() < late:
                stats.late += 1
                order += 1
                sent_at += _delay_ms(rng, _LATE_DELAYS)
                heapq.heappush(held, (sent_at, order, Message(topic, key, value, headers, LATE)))
            else:
                yield Message(topic, key, value, headers)
            if duplicates and rng.random() < duplicates:  # re-sent after the original
                stats.duplicates += 1
                order += 1
                again = sent_at + _delay_ms(rng, _DUPLICATE_DELAYS)
                heapq.heappush(held, (again, order, Message(topic, key, value, headers, DUPLICATE)))
            if malformed:
                self._recent[topic] = (seq, ts, key, value)
                if self._owed:
                    yield from self._pay_owed()
                if rng.random() < malformed:
                    fault = _CLASS_ORDER[self._turn % len(_CLASS_ORDER)]
                    self._turn += 1
                    bad = self._break(fault)
                    if bad is None:
                        self._owed.append(fault)
                    else:
                        yield bad
        while held:
            yield heapq.heappop(held)[2]

    def _pay_owed(self) -> Iterator[Message]:
        still_owed = []
        for fault in self._owed:
            bad = self._break(fault)
            if bad is None:
                still_owed.append(fault)
            else:
                yield bad
        self._owed = still_owed

    def _source(self, fault: str) -> tuple[str, int, bytes | None, bytes] | None:
        """The most recent good message of a topic this class can break."""
        eligible = _ELIGIBLE[fault]
        best = None
        for topic, (seq, ts, key, value) in self._recent.items():
            if (eligible is None or topic in eligible) and (best is None or seq > best[0]):
                best = (seq, topic, ts, key, value)
        return None if best is None else best[1:]

    def _break(self, fault: str) -> Message | None:
        source = self._source(fault)
        if source is None:
            return None
        topic, ts, key, value = source
        rng = self.rng
        if fault == "not_json":
            variant = rng.randrange(3)
            if variant == 0:
                bad = value[: len(value) // 2]  # cut off in transit
            elif variant == 1:
                bad = b"<html><head><title>502 Bad Gateway</title></head></html>"
            else:  # a Python dict's repr instead of JSON
                bad = repr(json.loads(value)).encode()
        else:
            data = json.loads(value)
            if fault == "missing_field":
                del data[rng.choice(_REQUIRED[topic])]
            elif fault == "wrong_type":
                name = rng.choice([f for f in _REQUIRED[topic] if f not in _NOT_RETYPED])
                current = data[name]
                data[name] = 12345 if isinstance(current, str) else str(current).lower()
            elif fault == "unknown_enum":
                path, values = _ENUMS[topic]
                target = data
                for part in path[:-1]:
                    target = target[part]
                target[path[-1]] = rng.choice(values)
            elif fault == "negative_duration":
                data[_DURATIONS[topic]] = -rng.randint(1, 600)
            elif fault == "score_out_of_range":
                data[_SCORES[topic]] = rng.choice((-5.0, 100.5, 120.0, 1000.0))
            elif fault == "rating_out_of_range":
                data[_RATINGS[topic]] = rng.choice((0, 6, 10, -1))
            elif fault == "future_timestamp":  # a client whose clock is a century off
                data[_TIME_FIELD[topic]] = wire.timestamp(ts + _CENTURY_MS)
            bad = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        self.stats.malformed_by_class[fault] += 1
        return Message(topic, key, bad, None, MALFORMED, fault)
