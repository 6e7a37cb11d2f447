"""The chdb engine behind the gateway: connections, per-query state, streaming execution.

This module talks to chdb's native connection (`chdb._chdb`) rather than its Python wrapper:
the wrapper's streaming reader stops at the first chunk that reports zero rows, which drops
the header and footer of formats like `FORMAT JSON` when a result is empty. chdb-core is
pinned exactly in pyproject.toml, so the native API is a controlled dependency.

All functions here block; the server calls them from worker threads. One connection serves
one request at a time; separate connections run in parallel inside the engine.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chdb import _chdb

log = logging.getLogger(__name__)

_NOT_STREAMABLE = "Streaming query is not supported"
_USE_STATEMENT = re.compile(r"^\s*USE\s", re.IGNORECASE)
# Words ending in "set", searched in lower-cased text: starting with a literal keeps the search
# fast on statements of many megabytes, where `\bSET\b` with IGNORECASE takes a second.
_SET_AT_WORD_END = re.compile(r"set\b")


def is_use_statement(sql: str) -> bool:
    return _USE_STATEMENT.match(sql) is not None


def may_change_settings(sql: str) -> bool:
    """Whether a statement may change the connection's settings: it has the word SET anywhere.

    Loose on purpose, as a miss would leave stale settings: `SET x = 1`, `SET ROLE`, behind
    comments or not. A query's own SETTINGS clause lasts for that query, and the engine refuses
    multi-statements and access-control statements (`ALTER USER ... SETTINGS`), so nothing else
    changes them. A false match (`UPDATE t SET`, a literal) costs one re-read of settings.
    """
    text = sql.lower()
    for match in _SET_AT_WORD_END.finditer(text):
        before = text[match.start() - 1 : match.start()]
        if not (before.isalnum() or before == "_"):
            return True
    return False


class EngineError(RuntimeError):
    """An error raised by the ClickHouse engine; its text starts `Code: N. DB::Exception`."""


def _call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except RuntimeError as error:
        raise EngineError(str(error)) from None
    except UnicodeDecodeError as error:
        # chdb decodes the engine's error text as UTF-8, and a message can quote the bytes of a
        # value it could not parse (`Cannot parse string '\x94' as UInt8`)
        if not error.object.startswith(b"Code: "):
            raise
        raise EngineError(error.object.decode("utf-8", errors="replace")) from None


def quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass
class Summary:
    """The figures of `X-ClickHouse-Summary`."""

    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0

    def add_result(self, result: Any) -> None:
        self.read_rows += result.rows_read()
        self.read_bytes += result.bytes_read()
        self.result_bytes += result.size()

    def as_header(self) -> dict[str, str]:
        return {name: str(value) for name, value in vars(self).items()}


# Server settings of the embedded engine (startup arguments, passed in the connection string).
# chdb starts with 2 background threads where a ClickHouse server has 16; merges and mutations
# share them, so every lightweight DELETE of an incremental dbt run waited behind the merges
# that the run's own inserts had started (measured: ~1 s per DELETE on a 2M-row table, even when
# it matched nothing). The server's default makes the local stack behave like production.
SERVER_SETTINGS = {"background_pool_size": "16"}


class Engine:
    """The engine over one data folder; hands out connections to it."""

    def __init__(self, data_path: Path) -> None:
        data_path.mkdir(parents=True, exist_ok=True)
        self._dsn = f"file:{data_path}?" + "&".join(f"{k}={v}" for k, v in SERVER_SETTINGS.items())
        # Keeps the engine up while request connections come and go.
        self._anchor = self.connect()
        self.version = self._anchor.scalar("SELECT version()")
        self.timezone = self._anchor.scalar("SELECT timezone()")

    def connect(self) -> Connection:
        return Connection(_call(_chdb.connect, self._dsn))

    def close(self) -> None:
        self._anchor.close()


@dataclass
class Connection:
    """One engine connection and what the gateway knows of its state."""

    native: Any
    database: str = "default"
    _closed: bool = field(default=False, repr=False)

    def scalar(self, sql: str) -> str:
        return _call(self.native.query, sql, "TabSeparatedRaw").bytes().decode().strip()

    def execute(self, sql: str) -> None:
        _call(self.native.query, sql, "TabSeparated")

    def use(self, database: str) -> None:
        if database != self.database:
            self.execute(f"USE {quote_identifier(database)}")
            self.database = database

    def read_settings(self, names: list[str]) -> dict[str, str | None]:
        """The current values of settings (None = the default).

        Costs more than most queries (system.settings lists every setting): callers remember.
        """
        quoted = ", ".join(quote_literal(name) for name in names)
        rows = self.scalar(
            f"SELECT name, value, changed FROM system.settings WHERE name IN ({quoted}) "
            "FORMAT TabSeparatedRaw"
        )
        values: dict[str, str | None] = dict.fromkeys(names)
        for line in filter(None, rows.split("\n")):
            name, value, changed = line.split("\t")
            values[name] = value if changed == "1" else None
        return values

    def set_settings(self, settings: dict[str, str]) -> None:
        # One statement: the engine applies all of it or, on any bad name or value, none.
        self.execute("SET " + ", ".join(f"{k} = {quote_literal(v)}" for k, v in settings.items()))

    def restore_settings(self, previous: dict[str, str | None]) -> None:
        if previous:
            assignments = (
                f"{name} = DEFAULT" if value is None else f"{name} = {quote_literal(value)}"
                for name, value in previous.items()
            )
            self.execute("SET " + ", ".join(assignments))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.native.close()


@dataclass
class QueryResult:
    """A result that is either complete or still streaming from the engine."""

    head: list[bytes]
    summary: Summary
    _connection: Connection | None = None
    _stream: Any = None

    @property
    def complete(self) -> bool:
        return self._stream is None

    def rest(self) -> Iterator[bytes]:
        """The chunks after `head`; each call to next() blocks on the engine."""
        while self._stream is not None:
            chunk = _call(self._connection.native.streaming_fetch_result, self._stream)
            if chunk is None or not chunk.size():
                self._stream = None
                return
            yield chunk.bytes()

    def cancel(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                self._connection.native.streaming_cancel_query(stream)
            except RuntimeError:
                log.debug("cancelling a finished stream", exc_info=True)


def run_query(
    connection: Connection, sql: str, fmt: str, parameters: dict[str, str]
) -> QueryResult:
    """Start a statement; stream it when the engine can, else run it to completion.

    The first two chunks are read before returning, so errors at the start of a query become
    proper HTTP errors and small results are answered whole with exact figures.
    """
    started = time.perf_counter_ns()
    summary = Summary()
    native = connection.native
    try:
        stream = native.send_query(sql, fmt, params=parameters)
    except RuntimeError as error:
        if _NOT_STREAMABLE not in str(error):
            raise EngineError(str(error)) from None
        result = _call(native.query, sql, fmt, params=parameters)
        summary.add_result(result)
        summary.written_rows = result.rows_written()
        summary.written_bytes = result.bytes_written()
        summary.elapsed_ns = time.perf_counter_ns() - started
        if is_use_statement(sql):
            connection.database = connection.scalar("SELECT currentDatabase()")
        return QueryResult(head=[result.bytes()], summary=summary)

    result = QueryResult(head=[], summary=summary, _connection=connection, _stream=stream)
    try:
        for chunk in result.rest():
            result.head.append(chunk)
            if len(result.head) == 2:
                break
    except BaseException:
        result.cancel()
        raise
    summary.elapsed_ns = time.perf_counter_ns() - started
    return result


@dataclass
class InsertStream:
    """Rows pushed into the engine as they arrive, committed by `finish`."""

    connection: Connection
    sql: str
    data_format: str
    _handle: Any = None

    def __post_init__(self) -> None:
        self._handle = _call(self.connection.native.send_insert, self.sql, self.data_format)

    def append(self, data: bytes) -> None:
        _call(self.connection.native.insert_append, self._handle, data)

    def finish(self) -> Summary:
        handle, self._handle = self._handle, None
        result = _call(self.connection.native.insert_done, handle)
        return Summary(
            written_rows=result.rows_written(),
            written_bytes=result.bytes_written(),
            elapsed_ns=int(result.elapsed() * 1e9),
        )

    def cancel(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                self.connection.native.insert_cancel(handle)
            except RuntimeError:
                log.debug("cancelling a finished insert", exc_info=True)
