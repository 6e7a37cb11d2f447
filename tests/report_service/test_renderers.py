"""Renderers: CSV parses back equal, JSON validates against its schema, the PDF opens and
reads as the report (title, period, chart title, every row's values, page numbers)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import jsonschema
import pypdf
import pytest
from mart_fixtures import COURSE_ROWS_FOR_FILES as COURSE_ROWS
from mart_fixtures import course_data, meta

from report_service.domain import ReportType
from report_service.engine import ChartData, ReportData, ReportDefinition, compile_report
from report_service.renderers import pdf as pdf_renderer
from report_service.renderers import render
from report_service.renderers.csv import render_csv
from report_service.renderers.json import JSON_SCHEMA, render_json
from report_service.renderers.pdf import render_pdf


def pdf_text(content: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


# --- CSV --------------------------------------------------------------------------------------


def test_csv_parses_back_to_the_same_rows() -> None:
    rendered = render_csv(course_data(), meta())

    parsed = list(csv.reader(io.StringIO(rendered.content.decode("utf-8"), newline="")))

    assert rendered.media_type.startswith("text/csv")
    assert parsed[0] == [
        "course_id",
        "total_enrollments",
        "average_completion_rate",
        "revenue",
        "average_time_to_complete",
    ]
    expected = [
        ["c-1", "4", "0.75", "100.0", "3600"],
        ['c-2, "quoted"', "2", "0.25", "50.5", ""],
        ["line\nbreak ünïcödé", "0", "", "", ""],
        ['\'=HYPERLINK("http://evil")', "6", "1.0", "300.0", "7200"],  # formula neutralised
    ]
    assert parsed[1:] == expected
    numbers = [[float(v) if v else None for v in row[1:]] for row in parsed[1:]]
    assert numbers == [[None if v is None else float(v) for v in row[1:]] for row in COURSE_ROWS]


def test_csv_follows_rfc_4180_line_ends_and_quoting() -> None:
    text = render_csv(course_data(), meta()).content.decode("utf-8")

    assert text.endswith("\r\n")
    assert text.count("\r\n") == 1 + len(COURSE_ROWS)  # the quoted line break is a bare \n
    assert '"c-2, ""quoted"""' in text


def test_csv_writes_datetimes_as_utc_iso_and_booleans_as_words() -> None:
    query = compile_report(ReportDefinition("page_views", ["time_on_page"], ["entry_page", "day"]))
    data = ReportData(
        query.columns,
        [(True, date(2024, 3, 1), 12.5), (False, date(2024, 3, 2), None)],
        ReportType.PAGE_VIEWS,
    )
    rows_query = compile_report(ReportDefinition("sessions", ["duration"]))
    started = datetime(2024, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)
    listed = ReportData(rows_query.columns, [(started, "s-1", "u-1", 600)], ReportType.SESSIONS)

    grouped = render_csv(data, meta()).content.decode()
    rows = render_csv(listed, meta()).content.decode()

    assert grouped.splitlines()[1:] == ["true,2024-03-01,12.5", "false,2024-03-02,"]
    assert rows.splitlines()[1] == "2024-03-01T09:00:00.250000Z,s-1,u-1,600"


# --- JSON -------------------------------------------------------------------------------------


def test_json_validates_against_its_schema_and_holds_rows_and_metadata() -> None:
    rendered = render_json(course_data(), meta(execution_id="e-1"))
    document = json.loads(rendered.content)

    jsonschema.Draft202012Validator(
        JSON_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
    assert rendered.media_type == "application/json"
    assert document["report"] == {
        "id": "6f1c1a8e-3b7e-4c55-9d0a-2b8f0c1d2e3f",
        "execution_id": "e-1",
        "name": "Weekly course completion",
        "description": "Enrolments and completion per course, for the deans.",
        "type": "course",
    }
    assert document["period"] == {"start": "2024-03-01T00:00:00Z", "end": "2024-03-08T00:00:00Z"}
    assert document["generated_at"] == "2024-03-08T07:30:00Z"
    assert [c["name"] for c in document["columns"]][:2] == ["course_id", "total_enrollments"]
    assert document["columns"][2] == {
        "name": "average_completion_rate",
        "label": "Average completion rate",
        "role": "metric",
        "kind": "float",
        "unit": "rate",
        "aggregation": "weighted_avg",
    }
    assert document["row_count"] == 4
    assert document["rows"][1] == {
        "course_id": 'c-2, "quoted"',
        "total_enrollments": 2,
        "average_completion_rate": 0.25,
        "revenue": 50.5,
        "average_time_to_complete": None,
    }


def test_json_without_period_says_null() -> None:
    document = json.loads(render_json(course_data([]), meta(period=None)).content)

    jsonschema.validate(document, JSON_SCHEMA)
    assert document["period"] is None and document["rows"] == [] and document["row_count"] == 0


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_opens_and_holds_title_period_chart_and_every_row() -> None:
    rendered = render_pdf(course_data(), meta())

    reader, text = pdf_text(rendered.content)

    assert rendered.media_type == "application/pdf"
    assert reader.metadata.title == "Weekly course completion"
    assert "Weekly course completion" in text
    assert "Enrolments and completion per course, for the deans." in text
    assert "2024-03-01 \u2013 2024-03-07" in text  # the period (en dash), end day included
    assert "revenue ≥ 0" in text
    assert "Total enrollments by Course ID" in text  # the chart's title
    for expected in [
        "c-1",
        "75.0%",
        "100.00",
        "1 h 00 min",
        'c-2, "quoted"',
        "25.0%",
        "50.50",
        "=HYPERLINK",
        "300.00",
        "2 h 00 min",
    ]:
        assert expected in text, expected
    assert "Page 1 of 1" in text


def test_long_pdf_numbers_every_page_and_caps_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = 300
    monkeypatch.setattr(pdf_renderer, "MAX_TABLE_ROWS", cap)
    rows = [(f"course-{i:05d}", i, i / 1000, float(i), i) for i in range(cap + 10)]

    reader, text = pdf_text(render_pdf(course_data(rows, chart=False), meta()).content)

    pages = len(reader.pages)
    assert pages > 3
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "course-00000" in text and f"course-{cap - 1:05d}" in text
    assert f"course-{cap:05d}" not in text
    assert f"first {cap:,} of {cap + 10:,} rows" in text
    assert text.count("Course ID") >= pages  # the header row repeats on every page


def test_pdf_of_an_empty_report_says_so() -> None:
    _, text = pdf_text(render_pdf(course_data([]), meta(period=None)).content)

    assert "No rows matched this period and these filters." in text
    assert "all data" in text


def test_pdf_time_chart_and_wide_tables_render() -> None:
    query = compile_report(
        ReportDefinition(
            "sessions",
            ["count", "duration", "page_views"],
            ["day", "client_browser", "client_device_type", "utm_source", "user_id"],
        )
    )
    rows = [
        (date(2024, 3, day), "Firefox", "desktop", "newsletter", f"u-{day}", day, 60.0 * day, day)
        for day in range(1, 31)
    ]
    chart = ChartData(query.columns[0], query.columns[5], [(r[0], r[5]) for r in rows], True)
    data = ReportData(query.columns, rows, ReportType.SESSIONS, chart)

    reader, text = pdf_text(
        render_pdf(data, meta(name="Sessions per day", type="sessions")).content
    )

    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert width > height  # eight columns: landscape
    assert "Count by Day" in text and "2024-03-30" in text and "30 min 00 s" in text


@pytest.mark.parametrize("report_format", ["csv", "json", "pdf"])
def test_file_name_carries_report_name_and_period_days(report_format: str) -> None:
    rendered = render(report_format, course_data(), meta(name="Weekly: Course ✓ completion"))

    assert rendered.filename(meta(name="Weekly: Course ✓ completion")) == (
        f"weekly-course-completion_2024-03-01_2024-03-07.{report_format}"
    )
