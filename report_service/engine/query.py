"""Compile a report into ONE parameterised ClickHouse query.

The SQL text is built only from the catalog (table, column and function names written in
`catalog.py`) and from the positions of what the report asks for; every value a user gives
(filter values, the period, the row limit, the time zone) travels as a server-side query
parameter `{pN:Type}` (clickhouse-connect sends them as `param_pN`). A name the catalog does not
know raises `UnknownNameError` before any SQL exists, so a hostile field name never reaches
the text, and two reports that differ only in filter values compile to the same text.

Shape: the mart's columns are renamed to positional aliases in an inner query that applies the
period and the filters (so filters always see the mart's own columns, never an output alias),
and the outer query aggregates per dimension (or, without dimensions, lists the rows),
sorts (the chosen column, then every key or dimension ascending, so results are deterministic)
and limits:

    SELECT `d0` AS `course_id`, sum(`m0`) AS `total_enrollments`
    FROM (SELECT `course_id` AS `d0`, `total_enrollments` AS `m0`
          FROM `analytics`.`course_analytics`
          WHERE `updated_at` >= {period_start:DateTime64(6, 'UTC')} AND ...
            AND `course_id` IN {p0:Array(String)})
    GROUP BY `d0`
    ORDER BY `total_enrollments` DESC NULLS LAST, `course_id` ASC
    LIMIT {row_limit:UInt64}

Filters (`Report.filters`, a JSON object; conditions are ANDed):
- `{"field": value}` is `eq`; `{"field": [v1, v2]}` is `in` (`contains` for list fields);
- `{"field": {"op": value, ...}}` with op one of eq, neq, in, gt, gte, lt, lte, between,
  contains, as the field's kind allows (catalog `OPERATORS_BY_KIND`); `in` takes a non-empty
  list, `between` a pair `[low, high]` (inclusive); `contains` is a case-insensitive substring
  match on text, membership on lists;
- datetimes are ISO 8601 text; without an offset they are read in the report time zone.
Filters restrict mart rows before aggregation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from report_service.domain import REPORT_ROW_LIMIT, ReportType, SortDirection
from report_service.engine.catalog import (
    CATALOG,
    Aggregation,
    Dimension,
    FieldKind,
    Metric,
    Operator,
    ReportTypeSpec,
    TimeBucket,
    Unit,
    spec_for,
)
from report_service.engine.errors import (
    InvalidFilterError,
    ReportValidationError,
    UnknownNameError,
)

DEFAULT_DATABASE = "analytics"
MAX_ROWS = REPORT_ROW_LIMIT[1]
MAX_LIST_VALUES = 1_000
MAX_TEXT_LENGTH = 10_000
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT64 = (-(2**63), 2**63 - 1)
DATETIME_PARAM = "DateTime64(6, 'UTC')"
DATETIME_YEARS = (1900, 2299)  # what ClickHouse's DateTime64 holds

PARAM_TYPES = {
    FieldKind.STRING: "String",
    FieldKind.INTEGER: "Int64",
    FieldKind.FLOAT: "Float64",
    FieldKind.DATETIME: DATETIME_PARAM,
    FieldKind.DATE: "Date",
    FieldKind.BOOLEAN: "Bool",
    FieldKind.STRING_ARRAY: "String",  # the element a `contains` looks for
}
COMPARISONS = {
    Operator.EQ: "=",
    Operator.NEQ: "!=",
    Operator.GT: ">",
    Operator.GTE: ">=",
    Operator.LT: "<",
    Operator.LTE: "<=",
}
BUCKET_FUNCTIONS = {
    TimeBucket.DAY: "toDate",
    TimeBucket.WEEK: "toMonday",
    TimeBucket.MONTH: "toStartOfMonth",
}
LABELS = {
    "id": "ID",
    "client_device_type": "Device type",
    "client_browser": "Browser",
    "client_operating_system": "Operating system",
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "url": "URL",
    "count": "Count",
}


def column_label(name: str) -> str:
    """`average_completion_rate` -> `Average completion rate`; `course_id` -> `Course ID`."""
    if name in LABELS:
        return LABELS[name]
    words = name.split("_")
    words = ["ID" if word == "id" else word for word in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def quote(name: str) -> str:
    """A catalog name as an SQL identifier (catalog names match `catalog.SQL_NAME`)."""
    return f"`{name}`"


# --- what a report asks for -------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The half-open interval [start, end) the report covers (aware datetimes)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a report period needs timezone-aware start and end")
        if self.start >= self.end:
            raise ValueError(f"a report period must end after it starts ({self})")

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass(frozen=True)
class ReportDefinition:
    """The fields of a saved report the engine reads (`db.models.Report` or an API body)."""

    type: str
    metrics: Sequence[str]
    dimensions: Sequence[str] = ()
    filters: Mapping[str, Any] = field(default_factory=dict)
    sort_by: str | None = None
    sort_direction: str = SortDirection.DESC.value
    limit: int | None = None

    @classmethod
    def from_report(cls, report: Any) -> ReportDefinition:
        return cls(
            type=str(report.type),
            metrics=tuple(report.metrics or ()),
            dimensions=tuple(report.dimensions or ()),
            filters=dict(report.filters or {}),
            sort_by=report.sort_by,
            sort_direction=str(report.sort_direction or SortDirection.DESC.value),
            limit=report.limit,
        )


class ColumnRole(StrEnum):
    KEY = "key"  # identifies a mart row (reports without dimensions)
    DIMENSION = "dimension"
    METRIC = "metric"


@dataclass(frozen=True)
class ResultColumn:
    name: str
    role: ColumnRole
    kind: FieldKind
    label: str
    unit: Unit | None = None
    aggregation: Aggregation | None = None


@dataclass(frozen=True)
class CompiledQuery:
    """SQL text with `{name:Type}` placeholders, and the values bound to them."""

    sql: str
    parameters: dict[str, Any]
    columns: tuple[ResultColumn, ...]
    report_type: ReportType


# --- compiling -------------------------------------------------------------------------------


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.numbered = 0

    def add(self, value: Any, type_: str, name: str | None = None) -> str:
        if name is None:
            name = f"p{self.numbered}"
            self.numbered += 1
        self.values[name] = value
        return f"{{{name}:{type_}}}"


def compile_report(
    definition: ReportDefinition,
    period: Period | None = None,
    *,
    database: str = DEFAULT_DATABASE,
    timezone: str = "UTC",
    catalog: Mapping[ReportType, ReportTypeSpec] = CATALOG,
    max_rows: int = MAX_ROWS,
) -> CompiledQuery:
    """The query of `definition` over `period` (None: all rows); raises ReportValidationError."""
    if not DATABASE_NAME.match(database):
        raise ValueError(f"analytics database name {database!r} is not a plain SQL name")
    spec = spec_for(definition.type, catalog)
    zone = ZoneInfo(timezone)
    metrics = _metrics(spec, definition.metrics)
    dimensions = _dimensions(spec, definition.dimensions)
    direction = _direction(definition.sort_direction)
    params = _Params()

    inner: list[str] = []  # inner select items
    outer: list[str] = []  # outer select items
    columns: list[ResultColumn] = []
    group_by: list[str] = []
    tiebreak: list[str] = []
    tz_param: str | None = None

    if dimensions:
        for index, dimension in enumerate(dimensions):
            alias = f"d{index}"
            if dimension.bucket is not None:
                tz_param = tz_param or params.add(timezone, "String", "tz")
                function = BUCKET_FUNCTIONS[dimension.bucket]
                expression = f"{function}({quote(spec.date_field)}, {tz_param})"
            else:
                expression = quote(dimension.name)
            inner.append(f"{expression} AS {quote(alias)}")
            outer.append(f"{quote(alias)} AS {quote(dimension.name)}")
            group_by.append(quote(alias))
            tiebreak.append(dimension.name)
            label = column_label(dimension.name)
            columns.append(
                ResultColumn(dimension.name, ColumnRole.DIMENSION, dimension.kind, label)
            )
    else:
        for index, key in enumerate(spec.row_key):
            alias = f"k{index}"
            inner.append(f"{quote(key)} AS {quote(alias)}")
            outer.append(f"{quote(alias)} AS {quote(key)}")
            tiebreak.append(key)
            columns.append(ResultColumn(key, ColumnRole.KEY, spec.kind_of(key), column_label(key)))

    for index, metric in enumerate(metrics):
        value, weight = f"m{index}", f"w{index}"
        if metric.aggregation is Aggregation.COUNT:
            if not dimensions:  # a listed row counts 1; groups use count()
                inner.append(f"toUInt64(1) AS {quote(value)}")
        else:
            inner.append(f"{quote(metric.name)} AS {quote(value)}")
        if metric.aggregation is Aggregation.WEIGHTED_AVG and dimensions:
            assert metric.weight is not None
            inner.append(f"{quote(metric.weight)} AS {quote(weight)}")
        aggregated = _aggregate(metric, value, weight, bool(dimensions))
        outer.append(f"{aggregated} AS {quote(metric.name)}")
        columns.append(
            ResultColumn(
                metric.name,
                ColumnRole.METRIC,
                metric.kind,
                column_label(metric.name),
                metric.unit,
                metric.aggregation if dimensions else None,
            )
        )

    conditions: list[str] = []
    if period is not None:
        date_field = quote(spec.date_field)
        start = params.add(_datetime_value(period.start), DATETIME_PARAM, "period_start")
        end = params.add(_datetime_value(period.end), DATETIME_PARAM, "period_end")
        conditions.append(f"{date_field} >= {start} AND {date_field} < {end}")
    conditions.extend(_filters(spec, definition.filters, params, zone))

    selected = [column.name for column in columns]
    order: list[str] = []
    if definition.sort_by is not None:
        if definition.sort_by not in selected:
            raise UnknownNameError(
                ("sort_by",), "sort column", definition.sort_by, selected, spec.type.value
            )
        order.append(f"{quote(definition.sort_by)} {direction} NULLS LAST")
    order.extend(f"{quote(name)} ASC" for name in tiebreak if name != definition.sort_by)

    limit = min(definition.limit or max_rows, max_rows)
    limit_param = params.add(limit, "UInt64", "row_limit")

    lines = ["SELECT", "    " + ",\n    ".join(outer), "FROM (", "    SELECT"]
    lines.append("        " + ",\n        ".join(inner))
    lines.append(f"    FROM {quote(database)}.{quote(spec.table)}")
    if conditions:
        lines.append("    WHERE " + "\n      AND ".join(f"({c})" for c in conditions))
    lines.append(")")
    if group_by:
        lines.append("GROUP BY " + ", ".join(group_by))
    if order:
        lines.append("ORDER BY " + ", ".join(order))
    lines.append(f"LIMIT {limit_param}")
    return CompiledQuery("\n".join(lines), params.values, tuple(columns), spec.type)


def compile_chart(
    definition: ReportDefinition,
    period: Period | None = None,
    *,
    bars: int = 20,
    **options: Any,
) -> CompiledQuery | None:
    """The first metric by the first dimension (the PDF's chart), or None without dimensions.

    Time dimensions come in time order; others are the `bars` largest values.
    """
    if not definition.dimensions:
        return None
    spec = spec_for(definition.type, options.get("catalog", CATALOG))
    first_dimension = definition.dimensions[0]
    dimension = spec.dimensions.get(first_dimension)
    by_time = dimension is not None and dimension.bucket is not None
    chart = ReportDefinition(
        type=definition.type,
        metrics=tuple(definition.metrics[:1]),
        dimensions=(first_dimension,),
        filters=definition.filters,
        sort_by=None if by_time else definition.metrics[0],
        sort_direction=SortDirection.DESC.value,
        limit=None if by_time else bars,
    )
    return compile_report(chart, period, **options)


# --- pieces -----------------------------------------------------------------------------------


def _unique(location: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ReportValidationError(
                (location,), f"{location} lists {name!r} more than once", name
            )
        seen.add(name)


def _metrics(spec: ReportTypeSpec, names: Sequence[str]) -> list[Metric]:
    if not names:
        raise ReportValidationError(
            ("metrics",), "a report needs at least one metric", [], sorted(spec.metrics)
        )
    _unique("metrics", names)
    found: list[Metric] = []
    for index, name in enumerate(names):
        metric = spec.metrics.get(name) if isinstance(name, str) else None
        if metric is None:
            raise UnknownNameError(
                ("metrics", index), "metric", name, spec.metrics, spec.type.value
            )
        found.append(metric)
    return found


def _dimensions(spec: ReportTypeSpec, names: Sequence[str]) -> list[Dimension]:
    _unique("dimensions", names)
    found: list[Dimension] = []
    for index, name in enumerate(names):
        dimension = spec.dimensions.get(name) if isinstance(name, str) else None
        if dimension is None:
            raise UnknownNameError(
                ("dimensions", index), "dimension", name, spec.dimensions, spec.type.value
            )
        found.append(dimension)
    return found


def _direction(value: str) -> str:
    try:
        return SortDirection(value).value.upper()
    except ValueError:
        raise UnknownNameError(
            ("sort_direction",), "sort direction", value, [d.value for d in SortDirection]
        ) from None


def _aggregate(metric: Metric, value: str, weight: str, grouped: bool) -> str:
    v = quote(value)
    if not grouped:
        return v
    if metric.aggregation is Aggregation.COUNT:
        return "count()"
    if metric.aggregation is Aggregation.SUM:
        return f"sum({v})"
    if metric.aggregation is Aggregation.AVG:
        return f"avg({v})"
    # Written out rather than avgWeighted(): ClickHouse 26.9 returns wrong results for a Float64
    # value with an integer weight. Rows with a NULL value are left out; no weight -> NULL.
    w = quote(weight)
    return (
        f"sumIf(toFloat64({v}) * {w}, {v} IS NOT NULL)"
        f" / nullIf(sumIf(toFloat64({w}), {v} IS NOT NULL), 0)"
    )


def _datetime_value(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def _filters(
    spec: ReportTypeSpec, filters: Mapping[str, Any], params: _Params, zone: ZoneInfo
) -> list[str]:
    if not isinstance(filters, Mapping):
        raise InvalidFilterError(("filters",), "filters must be a JSON object", filters)
    conditions: list[str] = []
    for name in sorted(filters, key=str):
        field_ = spec.filters.get(name) if isinstance(name, str) else None
        if field_ is None:
            raise UnknownNameError(
                ("filters", str(name)), "filter field", name, spec.filters, spec.type.value
            )
        given = filters[name]
        if isinstance(given, Mapping):
            if not given:
                raise InvalidFilterError(
                    ("filters", name),
                    f"filter on {name!r} has no operator; use one of "
                    + ", ".join(sorted(field_.operators)),
                    given,
                    sorted(field_.operators),
                )
            pairs = [(op, given[op]) for op in sorted(given, key=str)]
        elif isinstance(given, list):
            kind_op = Operator.CONTAINS if field_.kind is FieldKind.STRING_ARRAY else Operator.IN
            pairs = [(kind_op.value, given)]
        else:
            kind_op = Operator.CONTAINS if field_.kind is FieldKind.STRING_ARRAY else Operator.EQ
            pairs = [(kind_op.value, given)]
        for op_name, value in pairs:
            operator = _operator(spec, name, op_name, field_.operators)
            conditions.append(_condition(name, field_.kind, operator, value, params, zone))
    return conditions


def _operator(
    spec: ReportTypeSpec, name: str, op_name: object, allowed: frozenset[Operator]
) -> Operator:
    try:
        operator = Operator(op_name)
    except ValueError:
        operator = None
    if operator is None or operator not in allowed:
        raise UnknownNameError(
            ("filters", name, str(op_name)),
            f"operator on {name!r}",
            op_name,
            [op.value for op in allowed],
            spec.type.value,
        )
    return operator


def _condition(
    name: str, kind: FieldKind, operator: Operator, value: Any, params: _Params, zone: ZoneInfo
) -> str:
    column = quote(name)
    location = ("filters", name, operator.value)
    type_ = PARAM_TYPES[kind]
    if operator is Operator.CONTAINS:
        text = _value(location, FieldKind.STRING, value, zone)
        if kind is FieldKind.STRING_ARRAY:
            return f"has({column}, {params.add(text, type_)})"
        return f"positionCaseInsensitiveUTF8({column}, {params.add(text, type_)}) > 0"
    if operator is Operator.IN:
        if not isinstance(value, list) or not value or len(value) > MAX_LIST_VALUES:
            raise InvalidFilterError(
                location,
                f"'in' on {name!r} takes a list of 1 to {MAX_LIST_VALUES} values",
                value,
            )
        values = [_value(location, kind, item, zone) for item in value]
        return f"{column} IN {params.add(values, f'Array({type_})')}"
    if operator is Operator.BETWEEN:
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidFilterError(
                location, f"'between' on {name!r} takes a pair [low, high]", value
            )
        low, high = (_value(location, kind, item, zone) for item in value)
        if low > high:
            raise InvalidFilterError(location, f"'between' on {name!r}: low > high", value)
        return f"{column} BETWEEN {params.add(low, type_)} AND {params.add(high, type_)}"
    bound = _value(location, kind, value, zone)
    return f"{column} {COMPARISONS[operator]} {params.add(bound, type_)}"


def _value(location: tuple[str, ...], kind: FieldKind, value: Any, zone: ZoneInfo) -> Any:
    """`value` checked for `kind`, in the form its query parameter takes."""
    name = location[1]

    def wrong(expected: str) -> InvalidFilterError:
        return InvalidFilterError(
            location, f"filter on {name!r} expects {expected}, got {value!r}", value
        )

    if kind in (FieldKind.STRING, FieldKind.STRING_ARRAY):
        if not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH:
            raise wrong(f"text of at most {MAX_TEXT_LENGTH} characters")
        return value
    if kind is FieldKind.INTEGER:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("a whole number")
        if not INT64[0] <= value <= INT64[1]:
            raise wrong("a 64-bit whole number")
        return value
    if kind is FieldKind.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        if not math.isfinite(value):
            raise wrong("a finite number")
        return float(value)
    if kind is FieldKind.BOOLEAN:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if kind is FieldKind.DATETIME:
        parsed = _parse_datetime(value, zone)
        if parsed is None:
            raise wrong("an ISO 8601 date or datetime, e.g. 2024-03-01 or 2024-03-01T08:00:00Z")
        if not DATETIME_YEARS[0] <= parsed.astimezone(UTC).year <= DATETIME_YEARS[1]:
            raise wrong(f"a datetime in the years {DATETIME_YEARS[0]} to {DATETIME_YEARS[1]}")
        return _datetime_value(parsed)
    if kind is FieldKind.DATE:
        try:
            return date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise wrong("an ISO 8601 date, e.g. 2024-03-01") from None
    raise AssertionError(f"unhandled kind {kind}")


def _parse_datetime(value: Any, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), time())
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed
