"""Run compiled report queries on ClickHouse and hand back typed rows.

`ReportEngine.run(definition, period)` validates and compiles the report, runs its query (and,
for reports with dimensions, the chart query: first metric by first dimension) through
clickhouse-connect with server-side parameters, and returns `ReportData`: the columns as the
catalog describes them and the rows with plain Python values (aware UTC datetimes, NaN -> None).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from lms_analytics.settings import Settings
from report_service.domain import ReportType
from report_service.engine.catalog import CATALOG, FieldKind, ReportTypeSpec
from report_service.engine.query import (
    DEFAULT_DATABASE,
    ColumnRole,
    CompiledQuery,
    Period,
    ReportDefinition,
    ResultColumn,
    compile_chart,
    compile_report,
)
from report_service.errors import ReportServiceError

log = logging.getLogger(__name__)

CHART_ROWS = 20
_CLICKHOUSE_MESSAGE = re.compile(r"Code: \d+\. DB::Exception: .*")


class QueryError(ReportServiceError):
    """ClickHouse refused or failed the report's query (the message is ClickHouse's)."""


class QueryRunner(Protocol):
    def fetch(self, query: CompiledQuery) -> list[tuple[Any, ...]]: ...


def analytics_database(settings: Settings) -> str:
    """The database holding the marts: `settings.analytics_database` when the setting exists."""
    return str(getattr(settings, "analytics_database", None) or DEFAULT_DATABASE)


class ClickHouseRunner:
    """Runs queries with a fresh clickhouse-connect client per call (thread safe, no pool)."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self._client_factory = client_factory

    @classmethod
    def from_settings(cls, settings: Settings) -> ClickHouseRunner:
        def connect() -> Any:
            import clickhouse_connect

            return clickhouse_connect.get_client(**settings.clickhouse_client_kwargs())

        return cls(connect)

    def fetch(self, query: CompiledQuery) -> list[tuple[Any, ...]]:
        try:
            client = self._client_factory()
        except Exception as error:
            raise QueryError(f"cannot reach ClickHouse: {_short(error)}") from error
        try:
            result = client.query(query.sql, parameters=query.parameters)
            return [tuple(row) for row in result.result_rows]
        except Exception as error:
            log.debug("report query failed:\n%s\n%s", query.sql, query.parameters)
            raise QueryError(f"ClickHouse rejected the report query: {_short(error)}") from error
        finally:
            client.close()


def _short(error: BaseException, limit: int = 500) -> str:
    """The `Code: N. DB::Exception: ...` line of a ClickHouse error, or the error's first line."""
    text = str(error)
    found = _CLICKHOUSE_MESSAGE.search(text)
    line = found.group(0) if found else (text.strip().splitlines() or [type(error).__name__])[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass(frozen=True)
class ChartData:
    """The first metric by the first dimension, in display order."""

    dimension: ResultColumn
    metric: ResultColumn
    points: list[tuple[Any, Any]]
    by_time: bool


@dataclass(frozen=True)
class ReportData:
    columns: tuple[ResultColumn, ...]
    rows: list[tuple[Any, ...]]
    report_type: ReportType
    chart: ChartData | None = None
    limit_reached: bool = False
    sql: str = field(default="", repr=False)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def records(self) -> list[dict[str, Any]]:
        names = self.column_names
        return [dict(zip(names, row, strict=True)) for row in self.rows]


def _is_time(column: ResultColumn) -> bool:
    return column.kind in (FieldKind.DATE, FieldKind.DATETIME)


def normalise(value: Any, kind: FieldKind | None = None) -> Any:
    """Values as the renderers expect them: aware UTC datetimes, no NaN or infinities, and
    booleans for boolean columns (ClickHouse comparisons give UInt8)."""
    if kind is FieldKind.BOOLEAN and isinstance(value, int):
        return bool(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # clickhouse-connect returns UTC wall times naive
    return value


class ReportEngine:
    """Validate, compile and run reports against the marts in `database`."""

    def __init__(
        self,
        runner: QueryRunner,
        *,
        database: str = DEFAULT_DATABASE,
        timezone: str = "UTC",
        catalog: Mapping[ReportType, ReportTypeSpec] = CATALOG,
    ) -> None:
        self.runner = runner
        self.database = database
        self.timezone = timezone
        self.catalog = catalog

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> ReportEngine:
        options.setdefault("database", analytics_database(settings))
        options.setdefault("timezone", settings.report_timezone)
        return cls(ClickHouseRunner.from_settings(settings), **options)

    def _options(self) -> dict[str, Any]:
        return {"database": self.database, "timezone": self.timezone, "catalog": self.catalog}

    def compile(self, definition: ReportDefinition, period: Period | None = None) -> CompiledQuery:
        """Raises ReportValidationError for anything the catalog does not offer."""
        return compile_report(definition, period, **self._options())

    def run(
        self,
        definition: ReportDefinition,
        period: Period | None = None,
        *,
        chart: bool = False,
    ) -> ReportData:
        query = self.compile(definition, period)
        chart_query = (
            compile_chart(definition, period, bars=CHART_ROWS, **self._options()) if chart else None
        )
        kinds = [column.kind for column in query.columns]
        rows = [
            tuple(normalise(value, kind) for value, kind in zip(row, kinds, strict=True))
            for row in self.runner.fetch(query)
        ]
        limit = query.parameters["row_limit"]
        data_chart = None
        if chart_query is not None:
            dimension, metric = chart_query.columns
            points = [
                (normalise(row[0], dimension.kind), normalise(row[1]))
                for row in self.runner.fetch(chart_query)
            ]
            data_chart = ChartData(dimension, metric, points, _is_time(dimension))
        elif chart and rows:
            # Without dimensions: the first metric of the first rows, by the row's first key.
            key = query.columns[0]
            first_metric = next(
                i for i, c in enumerate(query.columns) if c.role is ColumnRole.METRIC
            )
            points = [(row[0], row[first_metric]) for row in rows[:CHART_ROWS]]
            data_chart = ChartData(key, query.columns[first_metric], points, _is_time(key))
        log.info("%s report: %d rows (%s)", query.report_type, len(rows), period or "no period")
        return ReportData(
            columns=query.columns,
            rows=rows,
            report_type=query.report_type,
            chart=data_chart,
            limit_reached=len(rows) >= limit,
            sql=query.sql,
        )
