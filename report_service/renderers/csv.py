"""CSV (RFC 4180): a header row of column names, then one line per row; CRLF line ends,
fields quoted when they hold a comma, a quote or a line break (Python's `csv` module), UTF-8.

Cells: empty for NULL; ISO 8601 UTC datetimes (`2024-03-01T08:00:00Z`); numbers at full
precision; `true`/`false`. Text that a spreadsheet would run as a formula (starting with `=`,
`+`, `-`, `@`, tab or carriage return: tracked page titles and URLs come from browsers) gets a
leading `'`, as OWASP recommends against CSV injection; numbers are never altered.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from report_service.engine.runner import ReportData
from report_service.renderers.base import RenderedFile, ReportMeta
from report_service.renderers.formatting import machine_value

MEDIA_TYPE = "text/csv; charset=utf-8"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int,)):
        return str(value)
    value = machine_value(value)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def render_csv(data: ReportData, meta: ReportMeta) -> RenderedFile:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(data.column_names)
    for row in data.rows:
        writer.writerow([cell(value) for value in row])
    return RenderedFile(buffer.getvalue().encode("utf-8"), MEDIA_TYPE, "csv")
