"""PDF: a document a stakeholder opens and reads.

Page one: the report's name, its description, a box of facts (type, period, filters, rows,
generation time), the chart (first metric by first dimension), then the table (header repeated
on every page, numbers right-aligned with units, striped rows). Every page carries the report's
name and "Page N of M" in its footer. Landscape when the table has more than six columns.

Fonts: Bitstream Vera, shipped inside the reportlab wheel and embedded (subset) in the file:
nothing is fetched from the network and text beyond Latin-1 (e.g. "≥", dashes, accents) renders.
The table stops after `MAX_TABLE_ROWS` rows with a note pointing to the CSV/JSON formats.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from report_service.engine.catalog import FieldKind
from report_service.engine.query import ColumnRole, ResultColumn
from report_service.engine.runner import ReportData
from report_service.renderers.base import RenderedFile, ReportMeta
from report_service.renderers.chart import chart_drawing
from report_service.renderers.formatting import filters_text, human_value, period_text

MEDIA_TYPE = "application/pdf"
MAX_TABLE_ROWS = 2_000
FONT, BOLD = "LmsVera", "LmsVera-Bold"
ACCENT = colors.HexColor("#1F4E8C")
HEADER_BG = colors.HexColor("#E8EEF6")
STRIPE_BG = colors.HexColor("#F6F8FB")
RULE = colors.HexColor("#C9D2DE")
MUTED = colors.HexColor("#5B6570")
NUMERIC_KINDS = (FieldKind.INTEGER, FieldKind.FLOAT)
CELL_FONT_SIZE = 8
CELL_PADDING = 4


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    # Found on reportlab's own font path (the wheel's `fonts` folder).
    pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
    pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=12)
    return {
        "title": ParagraphStyle(
            "title", base, fontName=BOLD, fontSize=20, leading=24, textColor=ACCENT, spaceAfter=4
        ),
        "description": ParagraphStyle(
            "description", base, fontSize=10.5, leading=14, spaceAfter=10
        ),
        "fact_label": ParagraphStyle("fact_label", base, fontName=BOLD, textColor=MUTED),
        "fact": base,
        "heading": ParagraphStyle(
            "heading",
            base,
            fontName=BOLD,
            fontSize=12,
            leading=15,
            textColor=ACCENT,
            spaceBefore=12,
            spaceAfter=6,
        ),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=10),
        "cell_number": ParagraphStyle(
            "cell_number", base, fontSize=8, leading=10, alignment=TA_RIGHT
        ),
        "head": ParagraphStyle("head", base, fontName=BOLD, fontSize=8, leading=10),
        "head_number": ParagraphStyle(
            "head_number", base, fontName=BOLD, fontSize=8, leading=10, alignment=TA_RIGHT
        ),
        "note": ParagraphStyle("note", base, fontSize=8.5, textColor=MUTED, spaceBefore=6),
    }


def _numbered_canvas(meta: ReportMeta, zone: ZoneInfo) -> type[canvas.Canvas]:
    """A canvas that writes "Page N of M" once it knows M (pages are kept until `save`)."""
    generated = meta.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    left_text = f"{meta.name} · generated {generated} ({zone.key})"

    class NumberedCanvas(canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._footer(number, total)
                super().showPage()
            super().save()

        def _footer(self, number: int, total: int) -> None:
            width, _ = self._pagesize
            margin = 18 * mm
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(margin, 14 * mm, width - margin, 14 * mm)
            self.setFont(FONT, 7.5)
            self.setFillColor(MUTED)
            self.drawString(margin, 10 * mm, left_text[:120])
            self.drawRightString(width - margin, 10 * mm, f"Page {number} of {total}")
            self.restoreState()

    return NumberedCanvas


def _facts(data: ReportData, meta: ReportMeta, zone: ZoneInfo, styles: dict) -> Table:
    generated = meta.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    rows = len(data.rows)
    row_text = f"{rows:,}" + (" (row limit reached)" if data.limit_reached else "")
    facts = [
        ("Report type", meta.type),
        ("Period", period_text(meta.period, zone)),
        ("Filters", filters_text(meta.filters)),
        ("Rows", row_text),
        ("Generated", f"{generated} ({zone.key})"),
    ]
    table = Table(
        [
            [
                Paragraph(escape(label), styles["fact_label"]),
                Paragraph(escape(value), styles["fact"]),
            ]
            for label, value in facts
        ],
        colWidths=[32 * mm, None],
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), STRIPE_BG),
                ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _column_widths(columns: tuple[ResultColumn, ...], width: float) -> list[float]:
    """Numbers get a narrow share, text (ids, URLs, titles) a wide one."""
    weights = [
        1.0 if column.kind in NUMERIC_KINDS else 1.2 if column.kind is not FieldKind.STRING else 2.0
        for column in columns
    ]
    total = sum(weights)
    return [width * weight / total for weight in weights]


def _table(data: ReportData, zone: ZoneInfo, width: float, styles: dict) -> LongTable:
    """The rows; a cell is plain text when it fits its column (fast), a wrapping Paragraph
    otherwise (long URLs, titles)."""
    numeric = [column.kind in NUMERIC_KINDS for column in data.columns]
    widths = _column_widths(data.columns, width)
    room = [column_width - 2 * CELL_PADDING for column_width in widths]
    header = [
        Paragraph(escape(column.label), styles["head_number" if is_number else "head"])
        for column, is_number in zip(data.columns, numeric, strict=True)
    ]

    def cell(index: int, value: Any) -> Any:
        text = human_value(data.columns[index], value, zone)
        if "\n" not in text and pdfmetrics.stringWidth(text, FONT, CELL_FONT_SIZE) <= room[index]:
            return text
        style = styles["cell_number" if numeric[index] else "cell"]
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

    body = [[cell(i, value) for i, value in enumerate(row)] for row in data.rows[:MAX_TABLE_ROWS]]
    table = LongTable([header, *body], colWidths=widths, repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 1), (-1, -1), FONT),
        ("FONTSIZE", (0, 1), (-1, -1), CELL_FONT_SIZE),
        ("LEADING", (0, 1), (-1, -1), CELL_FONT_SIZE + 2),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
        ("LINEBELOW", (0, -1), (-1, -1), 0.5, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    style.extend(
        ("ALIGN", (index, 1), (index, -1), "RIGHT")
        for index, is_number in enumerate(numeric)
        if is_number
    )
    style.extend(
        ("BACKGROUND", (0, index), (-1, index), STRIPE_BG) for index in range(2, len(body) + 1, 2)
    )
    table.setStyle(TableStyle(style))
    return table


def render_pdf(data: ReportData, meta: ReportMeta) -> RenderedFile:
    _register_fonts()
    zone = ZoneInfo(meta.timezone)
    styles = _styles()
    pagesize = landscape(A4) if len(data.columns) > 6 else A4
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=20 * mm,
        title=meta.name,
        author="LMS Analytics",
        subject=meta.description or f"{meta.type} report",
        creator="lms-analytics report service",
    )
    width = document.width
    story: list[Any] = [Paragraph(escape(meta.name), styles["title"])]
    if meta.description:
        story.append(Paragraph(escape(meta.description), styles["description"]))
    story.append(_facts(data, meta, zone, styles))
    if data.chart is not None:
        drawing = chart_drawing(data.chart, width, zone, FONT, BOLD)
        if drawing is not None:
            story += [Spacer(1, 8 * mm), KeepTogether([drawing])]
    story.append(Paragraph("Data", styles["heading"]))
    if data.rows:
        story.append(_table(data, zone, width, styles))
        if len(data.rows) > MAX_TABLE_ROWS:
            story.append(
                Paragraph(
                    f"The table shows the first {MAX_TABLE_ROWS:,} of {len(data.rows):,} rows; "
                    "the CSV and JSON formats of this report hold every row.",
                    styles["note"],
                )
            )
        if any(c.role is ColumnRole.METRIC and c.aggregation for c in data.columns):
            story.append(
                Paragraph(
                    "Counts are summed per group; rates and averages are means over the "
                    "grouped rows (weighted by their own totals where the data holds them).",
                    styles["note"],
                )
            )
    else:
        story.append(Paragraph("No rows matched this period and these filters.", styles["note"]))
    document.build(story, canvasmaker=_numbered_canvas(meta, zone))
    return RenderedFile(buffer.getvalue(), MEDIA_TYPE, "pdf")
