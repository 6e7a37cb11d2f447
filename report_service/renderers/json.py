"""JSON: the rows (objects keyed by column name) with what a program needs to read them.

The document follows `JSON_SCHEMA` (draft 2020-12): `report` (id, name, description, type),
`period` (`start`, `end`: ISO 8601 UTC, the half-open interval [start, end), or null),
`generated_at`, `timezone`, `filters`, `sort`, `limit`, `columns` (name, label, role, kind,
unit, aggregation), `rows`, `row_count` and `limit_reached` (true when the row limit cut the
result). Datetimes are ISO 8601 UTC text with `Z`; NULL is null.
"""

from __future__ import annotations

import json
from typing import Any

from report_service.engine.runner import ReportData
from report_service.renderers.base import RenderedFile, ReportMeta
from report_service.renderers.formatting import iso_datetime, machine_value

MEDIA_TYPE = "application/json"

_NULLABLE_TEXT = {"type": ["string", "null"]}
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "LMS analytics report",
    "type": "object",
    "required": [
        "report",
        "period",
        "generated_at",
        "timezone",
        "filters",
        "columns",
        "rows",
        "row_count",
        "limit_reached",
    ],
    "properties": {
        "report": {
            "type": "object",
            "required": ["id", "name", "description", "type"],
            "properties": {
                "id": _NULLABLE_TEXT,
                "execution_id": _NULLABLE_TEXT,
                "name": {"type": "string"},
                "description": {"type": "string"},
                "type": {"type": "string"},
            },
        },
        "period": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["start", "end"],
                    "properties": {
                        "start": {"type": "string", "format": "date-time"},
                        "end": {"type": "string", "format": "date-time"},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "generated_at": {"type": "string", "format": "date-time"},
        "timezone": {"type": "string"},
        "filters": {"type": "object"},
        "sort": {
            "type": "object",
            "properties": {"by": _NULLABLE_TEXT, "direction": {"enum": ["asc", "desc"]}},
        },
        "limit": {"type": ["integer", "null"]},
        "columns": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "label", "role", "kind"],
                "properties": {
                    "name": {"type": "string"},
                    "label": {"type": "string"},
                    "role": {"enum": ["key", "dimension", "metric"]},
                    "kind": {"type": "string"},
                    "unit": _NULLABLE_TEXT,
                    "aggregation": _NULLABLE_TEXT,
                },
            },
        },
        "rows": {"type": "array", "items": {"type": "object"}},
        "row_count": {"type": "integer", "minimum": 0},
        "limit_reached": {"type": "boolean"},
    },
}


def report_document(data: ReportData, meta: ReportMeta) -> dict[str, Any]:
    names = data.column_names
    return {
        "report": {
            "id": meta.report_id,
            "execution_id": meta.execution_id,
            "name": meta.name,
            "description": meta.description,
            "type": meta.type,
        },
        "period": None
        if meta.period is None
        else {"start": iso_datetime(meta.period.start), "end": iso_datetime(meta.period.end)},
        "generated_at": iso_datetime(meta.generated_at),
        "timezone": meta.timezone,
        "filters": meta.filters,
        "sort": {"by": meta.sort_by, "direction": meta.sort_direction},
        "limit": meta.limit,
        "columns": [
            {
                "name": column.name,
                "label": column.label,
                "role": column.role.value,
                "kind": column.kind.value,
                "unit": column.unit.value if column.unit else None,
                "aggregation": column.aggregation.value if column.aggregation else None,
            }
            for column in data.columns
        ],
        "rows": [
            {name: machine_value(value) for name, value in zip(names, row, strict=True)}
            for row in data.rows
        ],
        "row_count": len(data.rows),
        "limit_reached": data.limit_reached,
    }


def render_json(data: ReportData, meta: ReportMeta) -> RenderedFile:
    text = json.dumps(report_document(data, meta), ensure_ascii=False, allow_nan=False, indent=2)
    return RenderedFile(text.encode("utf-8"), MEDIA_TYPE, "json")
