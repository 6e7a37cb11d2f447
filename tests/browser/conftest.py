"""Browser test fixtures: the reports API served by uvicorn on a free port over a fresh
metadata database and the dashboard marts, and Debian's chromium driven by Playwright.

Chromium is never downloaded (no `playwright install`): the test uses /usr/bin/chromium
(Debian's package; .ci/run installs it). Without it the tests skip with the reason, except in
CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dashboard_marts import Served, create_dashboard_marts, drop_dashboard_marts
from psycopg import sql

from lms_analytics.settings import Settings
from lms_analytics.stack.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-test-secret-of-at-least-thirty-two-bytes"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
IMPORTED_AT = time.time()  # screenshots newer than this were taken by this run


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the browser test must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for this folder's tests only: Playwright's sync API keeps an event loop running
    in the main thread while it is open, and code run later (Dagster's automation evaluation
    calls asyncio.run) must not find one."""
    if not CHROMIUM.exists():
        _unavailable(
            f"Debian's chromium is not installed ({CHROMIUM} is missing): apt-get install chromium"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def served(local_stack: Settings) -> Iterator[Served]:
    """The API app (create_app) served by uvicorn, reading the dashboard marts."""
    import clickhouse_connect
    import uvicorn

    from report_service.api.app import create_app
    from report_service.dashboards.widget_data import WidgetDataService
    from report_service.db.migrate import upgrade
    from report_service.engine import ReportEngine

    name = f"rs_browser_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(local_stack.postgres_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    port = free_port()
    settings = Settings(
        **{
            **local_stack.model_dump(),
            "postgres_url": f"postgresql://postgres@{local_stack.bind_host}:"
            f"{local_stack.postgres_port}/{name}",
            "jwt_hs256_secret": SECRET,
            "api_port": port,
            "public_base_url": None,
        }
    )
    upgrade(settings)
    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    marts = create_dashboard_marts(client)
    app = create_app(settings)
    app.state.widget_data_service = WidgetDataService(
        ReportEngine.from_settings(settings, database=marts), cache_seconds=60
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.bind_host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="dashboards-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield Served(settings, f"http://{settings.bind_host}:{port}", app, marts)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        drop_dashboard_marts(client, marts)
        client.close()
        with psycopg.connect(local_stack.postgres_dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the screenshots the browser tests kept (tests/artifacts/, gitignored)."""
    shots = sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.is_dir() else []
    fresh = [shot for shot in shots if shot.stat().st_mtime >= IMPORTED_AT]
    if fresh:
        terminalreporter.write_sep("-", "dashboard screenshots")
        for shot in fresh:
            terminalreporter.write_line(str(shot))
