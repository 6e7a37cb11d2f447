"""Dashboard figures: widget data latency (cold and cached), page load in chromium, bundle size.

Starts PostgreSQL and the ClickHouse gateway in a temporary home on free ports, migrates the
report metadata, loads the hand-made dashboard marts (tests/support/dashboard_marts.py), writes
the demo's "Course overview" dashboard and measures, per widget, the data API's latency with an
empty cache (every request runs the report engine's query) and from the cache (median of
`--repeat` requests each). With Debian's chromium and playwright installed it also times the
page: navigation until every widget has drawn (cold cache, then warm). Prints the figures; no
target gates anything.

Usage: python benchmarks/dashboard_latency.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests" / "support"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from dashboard_marts import create_dashboard_marts  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from lms_analytics.settings import Settings  # noqa: E402
from lms_analytics.stack.clickhouse import ClickHouse  # noqa: E402
from lms_analytics.stack.manager import StackManager  # noqa: E402
from lms_analytics.stack.postgres import Postgres  # noqa: E402
from report_service.api.app import create_app  # noqa: E402
from report_service.dashboards import pages  # noqa: E402
from report_service.dashboards.demo import create_course_overview_dashboard  # noqa: E402
from report_service.dashboards.widget_data import WidgetDataService  # noqa: E402
from report_service.db.migrate import upgrade  # noqa: E402
from report_service.db.models import Dashboard  # noqa: E402
from report_service.engine import ReportEngine  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@contextlib.contextmanager
def local_stack() -> Iterator[Settings]:
    home = Path(tempfile.mkdtemp(prefix="dashboard-latency-"))
    postgres_port, kafka_port, clickhouse_port, smtp_port, api_port = free_ports(5)
    for key in [key for key in os.environ if key.upper().startswith("LMS_ANALYTICS_")]:
        del os.environ[key]
    settings = Settings(
        home=home,
        bind_host="127.0.0.1",
        postgres_port=postgres_port,
        kafka_port=kafka_port,
        clickhouse_port=clickhouse_port,
        smtp_port=smtp_port,
        api_port=api_port,
    )
    manager = StackManager(settings, services=[Postgres(settings), ClickHouse(settings)])
    try:
        manager.up()
        yield settings
    finally:
        manager.down()
        shutil.rmtree(home, ignore_errors=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def time_page(settings: Settings, app: object, url: str, service: WidgetDataService) -> None:
    try:
        import uvicorn
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("page load: skipped (playwright is not installed)")
        return
    if not CHROMIUM.exists():
        print(f"page load: skipped ({CHROMIUM} is missing)")
        return
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            for label in ("cold cache", "warm cache", "warm cache"):
                if label == "cold cache":
                    service.cache.clear()
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                started = time.perf_counter()
                page.goto(url)
                page.wait_for_function("() => Number(document.body.dataset.loaded || 0) >= 1")
                elapsed = time.perf_counter() - started
                in_page = int(page.evaluate("document.body.dataset.firstDrawnMs")) / 1000
                timing = page.evaluate(
                    "(() => { const t = performance.getEntriesByType('navigation')[0];"
                    " return [t.responseEnd, t.domContentLoadedEventEnd]; })()"
                )
                html, ready = (ms(value / 1000) for value in timing)
                print(
                    f"page load ({label}): every widget drawn {ms(in_page)} after navigation "
                    f"start (HTML {html}, DOMContentLoaded {ready}); {ms(elapsed)} as the test "
                    "driver sees it"
                )
                page.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    library = pages.CHART_LIBRARY
    if library.is_file():
        raw = library.read_bytes()
        print(f"ECharts {pages.library_version()}: {len(raw):,} bytes "
              f"({len(gzip.compress(raw, 9)):,} gzipped)")  # fmt: skip
    for name in ("dashboard.js", "dashboard.css"):
        print(f"{name}: {(pages.STATIC / name).stat().st_size:,} bytes")

    with local_stack() as settings:
        upgrade(settings)
        import clickhouse_connect

        client = clickhouse_connect.get_client(**settings.clickhouse_client_kwargs())
        marts = create_dashboard_marts(client)
        app = create_app(settings)
        service = WidgetDataService(ReportEngine.from_settings(settings, database=marts))
        app.state.widget_data_service = service
        dashboard_id, url = create_course_overview_dashboard(settings)
        with app.state.sessions() as session:
            widgets = list(session.get(Dashboard, dashboard_id).layout)
        token = url.split("share=", 1)[1]
        cold_all, warm_all = [], []
        with TestClient(app) as api:
            print(f"\n{'widget':28} {'cold (engine)':>14} {'cached':>12}")
            for widget in widgets:
                path = f"/api/dashboards/{dashboard_id}/widgets/{widget.id}/data?share={token}"
                cold, warm = [], []
                for _ in range(args.repeat):
                    service.cache.clear()
                    started = time.perf_counter()
                    assert api.get(path).headers["x-cache"] == "MISS"
                    cold.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    assert api.get(path).headers["x-cache"] == "HIT"
                    warm.append(time.perf_counter() - started)
                cold_all += cold
                warm_all += warm
                print(f"{widget.title:28} {ms(statistics.median(cold)):>14} "
                      f"{ms(statistics.median(warm)):>12}")  # fmt: skip
            print(f"{'median of all':28} {ms(statistics.median(cold_all)):>14} "
                  f"{ms(statistics.median(warm_all)):>12}\n")  # fmt: skip
        time_page(settings, app, url, service)
        client.close()


if __name__ == "__main__":
    main()
