"""What a widget shows: a saved report, or a query definition in the report engine's terms.

`data_source_type = "report"`: `data_source` is the id of a saved report of the dashboard's
organisation; its type, metrics, dimensions, filters, sort and limit are used.

`data_source_type = "query"`: `data_source` is a JSON object with the fields of a report
(never SQL text; the engine compiles it from its catalog like any report):

    {"type": "course", "metrics": ["average_completion_rate"], "dimensions": ["course_id"],
     "filters": {"total_enrollments": {"gt": 0}}, "sort_by": "average_completion_rate",
     "sort_direction": "desc", "limit": 20}

plus, for charts, `"count_distinct": "<dimension>"`: the chart shows, per value of the first
dimension, how many distinct values of that dimension the result holds (e.g. dimensions
["day", "user_id"] with count_distinct "user_id" charts distinct active users per day).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from report_service.db.models import DashboardWidget, Report
from report_service.domain import DataSourceType, SortDirection
from report_service.engine.query import ReportDefinition
from report_service.errors import ReportServiceError

QUERY_FIELDS = {
    "type",
    "metrics",
    "dimensions",
    "filters",
    "sort_by",
    "sort_direction",
    "limit",
    "count_distinct",
}


class WidgetSourceError(ReportServiceError):
    """The widget's data source cannot be shown (deleted report, malformed query)."""


@dataclass(frozen=True)
class WidgetSource:
    kind: DataSourceType
    definition: ReportDefinition
    count_distinct: str | None = None
    report_id: uuid.UUID | None = None
    report_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        definition = self.definition
        return {
            "type": self.kind.value,
            "report_id": str(self.report_id) if self.report_id else None,
            "report_name": self.report_name,
            "definition": {
                "type": definition.type,
                "metrics": list(definition.metrics),
                "dimensions": list(definition.dimensions),
                "filters": dict(definition.filters),
                "sort_by": definition.sort_by,
                "sort_direction": definition.sort_direction,
                "limit": definition.limit,
            },
            "count_distinct": self.count_distinct,
        }


def widget_source(session: Session, widget: DashboardWidget, org_id: str) -> WidgetSource:
    if widget.data_source_type == DataSourceType.REPORT.value:
        return _report_source(session, widget, org_id)
    return parse_query(widget.data_source)


def _report_source(session: Session, widget: DashboardWidget, org_id: str) -> WidgetSource:
    if widget.report_id is None:
        raise WidgetSourceError(
            f"the saved report this widget showed ({widget.data_source}) was deleted"
        )
    report = session.scalar(
        select(Report).where(Report.id == widget.report_id, Report.org_id == org_id)
    )
    if report is None:
        raise WidgetSourceError(f"the saved report {widget.report_id} no longer exists")
    return WidgetSource(
        DataSourceType.REPORT,
        ReportDefinition.from_report(report),
        report_id=report.id,
        report_name=report.name,
    )


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WidgetSourceError(f"query field {name!r} must be a list of names")
    return value


def parse_query(text: str) -> WidgetSource:
    """A query source's definition; raw SQL and unknown fields are refused with the reason."""
    try:
        fields = json.loads(text)
    except ValueError:
        raise WidgetSourceError(
            "a query source is a report definition as JSON (type, metrics, dimensions, "
            "filters, ...), not SQL text: dashboards never run raw SQL"
        ) from None
    if not isinstance(fields, dict):
        raise WidgetSourceError("a query source must be a JSON object")
    unknown = sorted(set(fields) - QUERY_FIELDS)
    if unknown:
        raise WidgetSourceError(
            f"unknown query fields {unknown}; allowed: {', '.join(sorted(QUERY_FIELDS))}"
        )
    if not isinstance(fields.get("type"), str):
        raise WidgetSourceError("a query source needs a report 'type', e.g. \"course\"")
    filters = fields.get("filters", {})
    if not isinstance(filters, dict):
        raise WidgetSourceError("query field 'filters' must be a JSON object")
    limit = fields.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise WidgetSourceError("query field 'limit' must be a whole number")
    sort_by = fields.get("sort_by")
    if sort_by is not None and not isinstance(sort_by, str):
        raise WidgetSourceError("query field 'sort_by' must be a column name")
    direction = fields.get("sort_direction", SortDirection.DESC.value)
    if direction not in {d.value for d in SortDirection}:
        raise WidgetSourceError("query field 'sort_direction' must be 'asc' or 'desc'")
    dimensions = _strings(fields.get("dimensions", []), "dimensions")
    distinct = fields.get("count_distinct")
    if distinct is not None and (distinct not in dimensions[1:]):
        raise WidgetSourceError(
            "'count_distinct' must name one of the query's dimensions after the first"
        )
    definition = ReportDefinition(
        type=fields["type"],
        metrics=tuple(_strings(fields.get("metrics"), "metrics")),
        dimensions=tuple(dimensions),
        filters=filters,
        sort_by=sort_by,
        sort_direction=direction,
        limit=limit,
    )
    return WidgetSource(DataSourceType.QUERY, definition, count_distinct=distinct)
