"""A small in-process cache of report engine results, for widget data.

Policy: an entry is the engine's result for one compiled query (SQL text + parameters: the
report definition after dashboard filters, and the period), kept `ttl` seconds
(`settings.dashboard_cache_seconds`, 60 by default) and at most `max_entries` entries (least
recently used go first). Access is checked before the cache is consulted, and the key is the
query itself, so two viewers or widgets asking for the same data share one entry and nothing
leaks between different questions. The marts change when dbt builds them (minutes apart), so a
minute of staleness is the price of not re-running every widget's query on every auto-refresh
of every open page. One process, one cache: several API workers each keep their own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

ValueT = TypeVar("ValueT")


@dataclass(frozen=True)
class Cached(Generic[ValueT]):
    value: ValueT
    stored_at: float  # the clock's time
    hit: bool
    age: float


class TtlCache(Generic[ValueT]):
    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, ValueT]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], ValueT]) -> Cached[ValueT]:
        """The fresh entry of `key`, or `compute()` stored (errors are never stored)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.ttl:
                self._entries.move_to_end(key)
                self.hits += 1
                return Cached(entry[1], entry[0], True, now - entry[0])
        value = compute()  # outside the lock: slow queries do not block other widgets
        stored_at = self._clock()
        with self._lock:
            self.misses += 1
            if self.ttl > 0:
                self._entries[key] = (stored_at, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return Cached(value, stored_at, False, 0.0)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
