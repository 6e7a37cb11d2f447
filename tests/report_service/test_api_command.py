"""`lms-analytics api`: serves the API on the configured port, only on an upgraded schema."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
from rs_helpers import settings_for

from lms_analytics.settings import Settings
from lms_analytics.stack.environment import child_environment
from report_service.auth import issue_dev_token

# The command as the root CLI registers it: `app.command("api")(api)`.
COMMAND = [sys.executable, "-c", "import typer; from report_service.cli import api; typer.run(api)"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_api_command_serves_on_the_configured_port(api_settings: Settings) -> None:
    settings = settings_for(api_settings, api_port=_free_port())
    process = subprocess.Popen(
        COMMAND,
        env=child_environment(settings, os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://{settings.bind_host}:{settings.api_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "the API did not answer /health in 30 s"
            time.sleep(0.1)
        token = issue_dev_token(settings, "alice", "viewer", "org-served")
        response = httpx.get(f"{base}/v1/reports", headers={"Authorization": f"Bearer {token}"})
        assert response.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
        assert httpx.get(f"{base}/v1/reports").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_api_command_refuses_a_schema_that_is_not_upgraded(
    fresh_database: Callable[[str], Settings],
) -> None:
    settings = fresh_database("unmigrated")
    result = subprocess.run(
        COMMAND,
        env=child_environment(settings, os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "run `lms-analytics db upgrade`" in result.stderr
