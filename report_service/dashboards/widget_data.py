"""A widget's data: its source run through the report engine (cached), shaped for its chart.

The payload (`GET /api/dashboards/{id}/widgets/{widget_id}/data`) always carries the engine's
result as it is, `columns` and `rows` (JSON values: ISO dates, numbers, null), plus `chart`,
what the visualization draws, derived from those rows only:

- bar, line, area, pie: `categories` (the first dimension, or for reports without dimensions the
  row's first key; several dimensions are joined with " / ") and one series per metric (pie:
  the first metric). Line and area charts over a time dimension are in time order.
  Two derived modes, named in `chart.mode`:
  `totals`: a source without dimensions whose metrics are all additive (counts and sums, e.g.
  an enrolment funnel total -> active -> completed -> dropped) charts each metric's total over
  the rows, one bar per metric;
  `count_distinct` (query sources, see sources.py): per first-dimension value, the number of
  distinct values of the named dimension.
- metric: the first metric as one figure. Over a time dimension: the latest point, with the
  change from the point before and the series as a sparkline (its trend). Otherwise: the value
  of a single row, the sum of an additive metric over several rows, or, when the first
  dimension splits a sum that must not be added up (e.g. revenue per currency), one figure per
  row (`breakdown`). A non-additive metric (a rate, a mean) over several rows is refused with
  the reason rather than averaged wrongly.
- table: the columns and rows.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from report_service.dashboards.cache import TtlCache
from report_service.dashboards.filters import (
    DashboardFilters,
    apply_filters,
    with_widget_filters,
)
from report_service.dashboards.sources import WidgetSource
from report_service.db.models import DashboardWidget
from report_service.domain import Visualization
from report_service.engine.catalog import Aggregation, FieldKind, Unit, spec_for
from report_service.engine.query import ColumnRole, Period, ReportDefinition, ResultColumn
from report_service.engine.runner import ReportData, ReportEngine
from report_service.errors import ReportServiceError

log = logging.getLogger(__name__)

CATEGORY_SEPARATOR = " / "
NOT_SUMMED_DIMENSIONS = frozenset({"currency"})  # sums in different units stay apart
MAX_BREAKDOWN = 6


class WidgetShapeError(ReportServiceError):
    """The data cannot be drawn as the widget's visualization; the message says why."""


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def _column_json(column: ResultColumn) -> dict[str, Any]:
    return {
        "name": column.name,
        "label": column.label,
        "role": column.role.value,
        "kind": column.kind.value,
        "unit": column.unit.value if column.unit else None,
    }


def _is_time(column: ResultColumn) -> bool:
    return column.kind in (FieldKind.DATE, FieldKind.DATETIME)


def _additive(column: ResultColumn, definition: ReportDefinition) -> bool:
    """Whether rows of this metric may be added up (counts, sums: not rates or means)."""
    metric = spec_for(definition.type).metrics[column.name]
    return metric.aggregation in (Aggregation.SUM, Aggregation.COUNT)


def _total(values: list[Any]) -> Any:
    present = [value for value in values if value is not None]
    return sum(present) if present else None


@dataclass(frozen=True)
class WidgetResult:
    payload: dict[str, Any]
    cache_hit: bool
    age_seconds: float


class WidgetDataService:
    """Runs widget sources through the report engine, with a TTL cache of engine results."""

    def __init__(self, engine: ReportEngine, *, cache_seconds: float = 60.0) -> None:
        self.engine = engine
        self.cache: TtlCache[tuple[ReportData, datetime]] = TtlCache(cache_seconds)
        self.zone = ZoneInfo(engine.timezone)

    def widget_data(
        self, widget: DashboardWidget, source: WidgetSource, filters: DashboardFilters
    ) -> WidgetResult:
        """Raises ReportValidationError, QueryError, DashboardFilterError, WidgetShapeError."""
        spec = spec_for(source.definition.type)
        own = with_widget_filters(source.definition, widget.filters or {})
        definition, period, notes = apply_filters(own, spec, filters, self.zone)
        started = time.perf_counter()
        cached = self.run(definition, period)
        data, generated_at = cached.value
        visualization = Visualization(widget.visualization)
        chart = shape(visualization, data, definition, source.count_distinct)
        payload = {
            "widget": {
                "id": str(widget.id),
                "dashboard_id": str(widget.dashboard_id),
                "title": widget.title,
                "description": widget.description,
                "type": widget.type,
                "visualization": visualization.value,
                "position": vars(widget.position),
                "filters": dict(widget.filters or {}),
            },
            "source": source.as_json(),
            "report_type": spec.type.value,
            "filters": [note.as_json() for note in notes],
            "period": _period_json(period),
            "columns": [_column_json(column) for column in data.columns],
            "rows": [jsonable(list(row)) for row in data.rows],
            "limit_reached": data.limit_reached,
            "chart": chart,
            "generated_at": jsonable(generated_at),
            "cache": {
                "hit": cached.hit,
                "age_seconds": round(cached.age, 3),
                "ttl_seconds": self.cache.ttl,
            },
        }
        log.info(
            "widget %s: %d rows (%s, %.1f ms)",
            widget.id,
            len(data.rows),
            "cached" if cached.hit else "queried",
            (time.perf_counter() - started) * 1000,
        )
        return WidgetResult(payload, cached.hit, cached.age)

    def run(self, definition: ReportDefinition, period: Period | None) -> Any:
        """The engine's result for `definition` over `period`, from the cache when fresh."""
        compiled = self.engine.compile(definition, period)  # validates before any cache use
        key = (compiled.sql, json.dumps(jsonable_params(compiled.parameters), sort_keys=True))

        def compute() -> tuple[ReportData, datetime]:
            return self.engine.run(definition, period), datetime.now(UTC)

        return self.cache.get_or_compute(key, compute)


def jsonable_params(parameters: dict[str, Any]) -> dict[str, Any]:
    return {name: jsonable(value) for name, value in parameters.items()}


def _period_json(period: Period | None) -> dict[str, str] | None:
    if period is None:
        return None
    return {"start": jsonable(period.start), "end": jsonable(period.end)}


# --- shaping ----------------------------------------------------------------------------------


def shape(
    visualization: Visualization,
    data: ReportData,
    definition: ReportDefinition,
    count_distinct: str | None = None,
) -> dict[str, Any]:
    if visualization is Visualization.TABLE:
        return {"kind": "table"}
    if visualization is Visualization.METRIC:
        if count_distinct is not None:
            return _metric_of_counts(_chart(Visualization.LINE, data, definition, count_distinct))
        return _metric(data, definition)
    return _chart(visualization, data, definition, count_distinct)


def _category_columns(data: ReportData) -> list[int]:
    dimensions = [i for i, c in enumerate(data.columns) if c.role is ColumnRole.DIMENSION]
    if dimensions:
        return dimensions
    return [i for i, c in enumerate(data.columns) if c.role is ColumnRole.KEY][:1]


def _metric_columns(data: ReportData) -> list[int]:
    return [i for i, c in enumerate(data.columns) if c.role is ColumnRole.METRIC]


def _label(row: tuple[Any, ...], indexes: list[int]) -> str:
    return CATEGORY_SEPARATOR.join(
        "—" if row[i] is None else str(jsonable(row[i])) for i in indexes
    )


def _series(column: ResultColumn, values: list[Any]) -> dict[str, Any]:
    return {
        "name": column.name,
        "label": column.label,
        "unit": column.unit.value if column.unit else None,
        "values": jsonable(values),
    }


def _chart(
    visualization: Visualization,
    data: ReportData,
    definition: ReportDefinition,
    count_distinct: str | None,
) -> dict[str, Any]:
    categories_at = _category_columns(data)
    metrics_at = _metric_columns(data)
    first = data.columns[categories_at[0]]
    has_dimensions = first.role is ColumnRole.DIMENSION
    by_time = has_dimensions and _is_time(first)
    chart: dict[str, Any] = {
        "kind": visualization.value,
        "category": {"name": first.name, "label": first.label, "time": by_time},
    }
    rows = list(data.rows)

    if count_distinct is not None:
        counted = next(i for i, c in enumerate(data.columns) if c.name == count_distinct)
        groups: OrderedDict[Any, set[Any]] = OrderedDict()
        ordered = (
            sorted(rows, key=lambda r: (r[categories_at[0]] is None, r[categories_at[0]]))
            if by_time
            else rows
        )
        for row in ordered:
            groups.setdefault(row[categories_at[0]], set()).add(row[counted])
        label = f"Distinct {data.columns[counted].label.removesuffix(' ID').lower()}s"
        chart.update(
            mode="count_distinct",
            categories=[jsonable(key) for key in groups],
            series=[
                {
                    "name": f"distinct_{count_distinct}",
                    "label": label,
                    "unit": Unit.COUNT.value,
                    "values": [len(values) for values in groups.values()],
                }
            ],
        )
        return chart

    metric_columns = [data.columns[i] for i in metrics_at]
    if (
        not has_dimensions
        and len(metric_columns) > 1
        and all(_additive(column, definition) for column in metric_columns)
    ):
        totals = [_total([row[i] for row in rows]) for i in metrics_at]
        labels, common = _without_common_last_word([column.label for column in metric_columns])
        chart.update(
            mode="totals",
            category={"name": "metric", "label": common or "Metric", "time": False},
            categories=labels,
            series=[
                {
                    "name": "total",
                    "label": "Total",
                    "unit": metric_columns[0].unit.value if metric_columns[0].unit else None,
                    "values": jsonable(totals),
                }
            ],
        )
        return chart

    if by_time and visualization in (Visualization.LINE, Visualization.AREA):
        rows.sort(key=lambda r: (r[categories_at[0]] is None, r[categories_at[0]]))
    if visualization is Visualization.PIE:
        metrics_at = metrics_at[:1]
    chart.update(
        mode="rows",
        categories=[_label(row, categories_at) for row in rows],
        series=[_series(data.columns[i], [row[i] for row in rows]) for i in metrics_at],
    )
    return chart


def _trend(points: list[tuple[Any, Any]]) -> tuple[Any, dict[str, Any]]:
    """The latest value of a time series and its trend (change from the point before)."""
    latest_at, latest = points[-1]
    previous = points[-2][1] if len(points) > 1 else None
    change = latest - previous if latest is not None and previous is not None else None
    return jsonable(latest), {
        "points": [[jsonable(at), jsonable(value)] for at, value in points],
        "latest_at": jsonable(latest_at),
        "previous": jsonable(previous),
        "change": jsonable(change),
        "change_ratio": jsonable(change / previous) if change is not None and previous else None,
    }


def _without_common_last_word(labels: list[str]) -> tuple[list[str], str | None]:
    """["Total enrollments", "Active enrollments"] -> (["Total", "Active"], "Enrollments")."""
    words = [label.rsplit(" ", 1) for label in labels]
    if len(labels) > 1 and all(len(w) == 2 for w in words) and len({w[1] for w in words}) == 1:
        return [w[0] for w in words], words[0][1].capitalize()
    return labels, None


def _metric_of_counts(chart: dict[str, Any]) -> dict[str, Any]:
    """A metric from a count_distinct series: the latest bucket and its trend over time."""
    series = chart["series"][0]
    figure: dict[str, Any] = {
        "kind": "metric",
        "name": series["name"],
        "label": series["label"],
        "unit": series["unit"],
        "value": None,
        "trend": None,
        "breakdown": None,
        "note": None,
    }
    points = list(zip(chart["categories"], series["values"], strict=True))
    if not points:
        figure["note"] = "no data for these filters"
    elif chart["category"]["time"]:
        figure["value"], figure["trend"] = _trend(points)
    elif len(points) == 1:
        figure["value"] = points[0][1]
    else:
        figure["breakdown"] = [{"label": str(k), "value": v} for k, v in points[:MAX_BREAKDOWN]]
        figure["value"] = points[0][1]
        figure["note"] = f"distinct counts per {chart['category']['label'].lower()}"
    return figure


def _metric(data: ReportData, definition: ReportDefinition) -> dict[str, Any]:
    metric_index = _metric_columns(data)[0]
    column = data.columns[metric_index]
    unit = column.unit.value if column.unit else None
    figure: dict[str, Any] = {
        "kind": "metric",
        "name": column.name,
        "label": column.label,
        "unit": unit,
        "value": None,
        "trend": None,
        "breakdown": None,
        "note": None,
    }
    rows = list(data.rows)
    if not rows:
        figure["note"] = "no data for these filters"
        return figure
    categories_at = _category_columns(data)
    first = data.columns[categories_at[0]]
    if first.role is ColumnRole.DIMENSION and _is_time(first):
        points = sorted(
            ((row[categories_at[0]], row[metric_index]) for row in rows),
            key=lambda point: (point[0] is None, point[0]),
        )
        figure["value"], figure["trend"] = _trend(points)
        return figure
    if len(rows) == 1:
        figure["value"] = jsonable(rows[0][metric_index])
        if first.role is ColumnRole.DIMENSION:
            figure["note"] = f"{first.label}: {_label(rows[0], categories_at)}"
        return figure
    if first.role is ColumnRole.DIMENSION and first.name in NOT_SUMMED_DIMENSIONS:
        figure["breakdown"] = [
            {"label": _label(row, categories_at), "value": jsonable(row[metric_index])}
            for row in rows[:MAX_BREAKDOWN]
        ]
        figure["value"] = figure["breakdown"][0]["value"]
        figure["note"] = f"one figure per {first.label.lower()}: they are not added up"
        return figure
    if not _additive(column, definition):
        raise WidgetShapeError(
            f"{column.label} is a rate or mean: over {len(rows)} rows it cannot be shown as one "
            "figure by adding up; give the source a time dimension or a single row"
        )
    figure["value"] = jsonable(_total([row[metric_index] for row in rows]))
    figure["note"] = f"total over {len(rows)} rows"
    return figure
