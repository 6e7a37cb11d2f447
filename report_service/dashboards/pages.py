"""HTML of the dashboard pages: Jinja2 templates, the static files, the charting library check.

The pages load only files this app serves (`/dashboards/static/...`): the page script, the
style sheet, and ECharts, which `make install` brings from the npm registry into
`static/vendor/` (package-lock.json in `frontend/`). Nothing comes from a CDN, so a dashboard
works offline, and the Content-Security-Policy of the pages allows no other origin.
If the library is missing the page says so in a banner and every widget shows the same message
(and the app logs an error), instead of drawing blank charts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
CHART_LIBRARY = VENDOR / "echarts.min.js"
STATIC_PREFIX = "/dashboards/static"
MISSING_LIBRARY = (
    "The charting library is not installed ({path} is missing): run `make install` "
    "(npm ci in report_service/dashboards/frontend, then npm run build)."
)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'; form-action 'self'"
)

log = logging.getLogger(__name__)


@cache
def _fingerprint(name: str) -> str:
    """A short hash of a static file's content: its URL changes when the file does."""
    try:
        return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


def static_url(name: str) -> str:
    """The URL of a static file, fingerprinted so browsers may cache it for good."""
    return f"{STATIC_PREFIX}/{name}?v={_fingerprint(name)}"


class CachedStaticFiles(StaticFiles):
    """Static files with long-lived caching: page URLs carry a content fingerprint."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_app() -> ASGIApp:
    """The static files, gzipped for clients that accept it (ECharts: 1.1 MB -> ~0.37 MB)."""
    return GZipMiddleware(
        CachedStaticFiles(directory=STATIC, check_dir=False), minimum_size=1024, compresslevel=6
    )


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.filters["tojson_attr"] = lambda value: json.dumps(value, separators=(",", ":"))
    return env


def library_version() -> str | None:
    try:
        return json.loads((VENDOR / "versions.json").read_text())["echarts"]
    except (OSError, ValueError, KeyError):
        return None


def library_problem() -> str | None:
    """None when the charting library is in place, else what is wrong and how to fix it."""
    if CHART_LIBRARY.is_file() and CHART_LIBRARY.stat().st_size > 0:
        return None
    message = MISSING_LIBRARY.format(path=CHART_LIBRARY)
    log.error("dashboards: %s", message)
    return message


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # share tokens stay in this origin
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status_code: int, title: str, message: str, **context: Any) -> HTMLResponse:
    return render(
        "error.html", status_code, status=status_code, title=title, message=message, **context
    )
