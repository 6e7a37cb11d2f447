"""What every renderer gets (the data and the report's description) and gives back (a file)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from report_service.engine.query import Period


@dataclass(frozen=True)
class ReportMeta:
    """The report a file is about, as its reader sees it."""

    name: str
    type: str
    generated_at: datetime
    description: str = ""
    period: Period | None = None
    timezone: str = "UTC"
    report_id: str | None = None
    execution_id: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    sort_by: str | None = None
    sort_direction: str = "desc"
    limit: int | None = None


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    media_type: str
    extension: str

    def filename(self, meta: ReportMeta) -> str:
        """`course-completion_2024-03-01_2024-03-07.csv`: name, first and last day, format."""
        zone = ZoneInfo(meta.timezone)
        stem = slug(meta.name) or "report"
        if meta.period is None:
            stem += f"_{meta.generated_at.astimezone(zone):%Y-%m-%d}"
        else:
            first = meta.period.start.astimezone(zone).date()
            last = (meta.period.end.astimezone(zone) - timedelta(microseconds=1)).date()
            stem += f"_{first:%Y-%m-%d}" + (f"_{last:%Y-%m-%d}" if last != first else "")
        return f"{stem}.{self.extension}"


def slug(text: str, max_length: int = 60) -> str:
    """ASCII, lowercase, dashes: safe in file names, URLs and mail headers."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:max_length].strip("-")
