"""The report engine: the catalog of report types, the query compiler and the runner.

engine = ReportEngine.from_settings(settings)
data = engine.run(ReportDefinition.from_report(report), Period(start, end), chart=True)
"""

from report_service.engine.catalog import CATALOG, Aggregation, FieldKind, Operator, spec_for
from report_service.engine.errors import (
    InvalidFilterError,
    ReportValidationError,
    UnknownNameError,
)
from report_service.engine.query import (
    CompiledQuery,
    Period,
    ReportDefinition,
    ResultColumn,
    compile_chart,
    compile_report,
)
from report_service.engine.runner import (
    ChartData,
    ClickHouseRunner,
    QueryError,
    ReportData,
    ReportEngine,
)

__all__ = [
    "CATALOG",
    "Aggregation",
    "ChartData",
    "ClickHouseRunner",
    "CompiledQuery",
    "FieldKind",
    "InvalidFilterError",
    "Operator",
    "Period",
    "QueryError",
    "ReportData",
    "ReportDefinition",
    "ReportEngine",
    "ReportValidationError",
    "ResultColumn",
    "UnknownNameError",
    "compile_chart",
    "compile_report",
    "spec_for",
]
