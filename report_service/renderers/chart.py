"""The PDF's chart: the first metric by the first dimension, drawn as vector graphics
(reportlab's own chart library: no raster images, no extra dependency).

Categories (course ids, browsers, ...) are horizontal bars, largest first, values written at
the bar ends; time buckets (day, week, month) are vertical bars in time order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from report_service.engine.runner import ChartData
from report_service.renderers.formatting import human_value

BAR_COLOR = colors.HexColor("#2F6DB5")
GRID_COLOR = colors.HexColor("#D9DEE5")
TEXT_COLOR = colors.HexColor("#333B45")
MAX_LABEL_CHARS = 28


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    return None


def _label(value: Any, chart: ChartData, zone: ZoneInfo) -> str:
    text = " ".join(human_value(chart.dimension, value, zone).split())
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def chart_drawing(
    chart: ChartData, width: float, zone: ZoneInfo, font: str, bold_font: str
) -> Drawing | None:
    """The chart as a reportlab Drawing `width` points wide; None when nothing has a value."""
    points = [(key, _number(value)) for key, value in chart.points]
    if not any(value is not None for _, value in points):
        return None
    title = f"{chart.metric.label} by {chart.dimension.label}"
    values = [value for _, value in points]
    known = [value for value in values if value is not None]
    low, high = min(0.0, *known), max(0.0, *known)
    if low == high:
        high = low + 1.0
    labels = [_label(key, chart, zone) for key, _ in points]

    def value_text(value: float | None) -> str:
        return "" if value is None else human_value(chart.metric, value, zone)

    if chart.by_time:
        height = 230.0
        drawing = Drawing(width, height)
        bars = VerticalBarChart()
        bars.x, bars.y = 45, 55
        bars.width, bars.height = width - 60, height - 85
        step = max(1, -(-len(labels) // 16))  # at most 16 labels
        bars.categoryAxis.categoryNames = [
            label if index % step == 0 else "" for index, label in enumerate(labels)
        ]
        bars.categoryAxis.labels.angle = 45
        bars.categoryAxis.labels.boxAnchor = "ne"
        bars.categoryAxis.labels.dx, bars.categoryAxis.labels.dy = 4, -2
        bars.valueAxis.labelTextFormat = value_text
        bars.valueAxis.visibleGrid = True
        bars.valueAxis.gridStrokeColor = GRID_COLOR
    else:
        height = 50.0 + 16.0 * len(points)
        drawing = Drawing(width, height)
        bars = HorizontalBarChart()
        label_width = min(170.0, 10 + 5.2 * max(len(label) for label in labels))
        bars.x, bars.y = label_width, 10
        bars.width, bars.height = width - label_width - 70, height - 40
        bars.categoryAxis.categoryNames = labels
        bars.categoryAxis.reverseDirection = 1  # first (largest) at the top
        bars.categoryAxis.labels.boxAnchor = "e"
        bars.categoryAxis.labels.dx = -4
        bars.valueAxis.visible = False
        bars.barLabelFormat = value_text
        bars.barLabels.boxAnchor = "w"
        bars.barLabels.dx = 3
        bars.barLabels.fontName = font
        bars.barLabels.fontSize = 7
        bars.barLabels.fillColor = TEXT_COLOR
    bars.data = [values]
    bars.valueAxis.valueMin, bars.valueAxis.valueMax = low, high
    bars.bars[0].fillColor = BAR_COLOR
    bars.bars[0].strokeColor = None
    bars.barSpacing = 2
    for axis in (bars.categoryAxis, bars.valueAxis):
        axis.labels.fontName = font
        axis.labels.fontSize = 7
        axis.labels.fillColor = TEXT_COLOR
        axis.strokeColor = GRID_COLOR
    drawing.add(bars)
    drawing.add(
        String(0, height - 12, title, fontName=bold_font, fontSize=10, fillColor=TEXT_COLOR)
    )
    return drawing
