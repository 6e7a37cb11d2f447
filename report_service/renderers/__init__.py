"""Report files: CSV, JSON and PDF from the engine's `ReportData`.

rendered = render(ReportFormat.PDF, data, meta)   # RenderedFile(content, media_type, ...)
"""

from __future__ import annotations

from collections.abc import Callable

from report_service.domain import ReportFormat
from report_service.engine.runner import ReportData
from report_service.renderers.base import RenderedFile, ReportMeta
from report_service.renderers.csv import render_csv
from report_service.renderers.json import render_json
from report_service.renderers.pdf import render_pdf

RENDERERS: dict[ReportFormat, Callable[[ReportData, ReportMeta], RenderedFile]] = {
    ReportFormat.CSV: render_csv,
    ReportFormat.JSON: render_json,
    ReportFormat.PDF: render_pdf,
}


def render(report_format: ReportFormat | str, data: ReportData, meta: ReportMeta) -> RenderedFile:
    return RENDERERS[ReportFormat(report_format)](data, meta)


__all__ = ["RENDERERS", "RenderedFile", "ReportMeta", "render"]
