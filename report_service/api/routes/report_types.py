"""/v1/report-types: the catalog, so clients know what a report of each type may ask for."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from report_service.api.deps import not_found
from report_service.domain import ReportType
from report_service.engine.catalog import CATALOG, describe

router = APIRouter(prefix="/v1/report-types", tags=["report types"])


@router.get("")
def list_report_types() -> list[dict[str, Any]]:
    """Every report type with its mart, metrics (and their aggregation), dimensions, filterable
    fields with their operators, date field and row key."""
    return [describe(spec) for spec in CATALOG.values()]


@router.get("/{report_type}")
def get_report_type(report_type: str) -> dict[str, Any]:
    try:
        return describe(CATALOG[ReportType(report_type)])
    except ValueError:
        not_found("report type", report_type)
