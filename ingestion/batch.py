"""A batch of consumed messages: decoded rows per raw table, rejections, offsets to commit."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field

from ingestion.decoding import Decoded, Rejected, Row, as_row
from ingestion.raw_schema import BY_EVENT_TYPE, RawTable


@dataclass
class OffsetRange:
    first: int
    last: int


@dataclass
class Batch:
    started: float = field(default_factory=time.monotonic)
    # event type -> its rows, as `ingestion.decoding.Row` tuples
    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    rejected: list[Rejected] = field(default_factory=list)
    offsets: dict[tuple[str, int], OffsetRange] = field(default_factory=dict)
    size: int = 0

    def add(self, item: Decoded | Rejected) -> None:
        if isinstance(item, Decoded):
            self.add_row(item.event.event_type, as_row(item))
        else:
            self.add_rejected(item)

    def add_row(self, event_type: str, row: Row) -> None:
        """A decoded message, as `RowDecoder` gives it."""
        self.rows[event_type].append(row)
        self._track(row[3], row[4], row[5])

    def add_rejected(self, rejected: Rejected) -> None:
        self.rejected.append(rejected)
        coordinates = rejected.coordinates
        self._track(coordinates.topic, coordinates.partition, coordinates.offset)

    def _track(self, topic: str, partition: int, offset: int) -> None:
        known = self.offsets.get((topic, partition))
        if known is None:
            self.offsets[(topic, partition)] = OffsetRange(offset, offset)
        elif offset > known.last:
            known.last = offset
        elif offset < known.first:
            known.first = offset
        self.size += 1

    def __len__(self) -> int:
        return self.size

    def age(self) -> float:
        return time.monotonic() - self.started

    def tables(self) -> list[tuple[RawTable, list[Row]]]:
        return [(BY_EVENT_TYPE[event_type], rows) for event_type, rows in self.rows.items()]

    def deduplication_token(self, target: str) -> str:
        """Same Kafka coordinates and target -> same token: a replayed insert is dropped."""
        ranges = ",".join(
            f"{topic}/{partition}:{r.first}-{r.last}"
            for (topic, partition), r in sorted(self.offsets.items())
        )
        return hashlib.sha256(f"{target}|{ranges}".encode()).hexdigest()

    def commit_positions(self) -> list[tuple[str, int, int]]:
        """(topic, partition, next offset to read) for every partition in the batch."""
        return [(topic, partition, r.last + 1) for (topic, partition), r in self.offsets.items()]
