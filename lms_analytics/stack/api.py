"""The reports API of the local stack: REST API, result downloads and dashboards over HTTP.

It runs `report_service.api.app:create_app` under uvicorn on `settings.bind_host:api_port`, so
the links the stack hands out (a report mail's result URL, a dashboard's URL) open while the
stack runs. External when `LMS_ANALYTICS_PUBLIC_BASE_URL` names a host that is not loopback:
the API is then deployed elsewhere (`lms-analytics api` under a process manager) and the stack
starts none. Health: `GET /health` answers 200 (it also reaches PostgreSQL).
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import httpx

from lms_analytics.stack.service import Launch, Service
from lms_analytics.stack.smtp import is_loopback


class ReportApi(Service):
    name = "api"
    port_variable = "LMS_ANALYTICS_API_PORT"
    url_variable = "LMS_ANALYTICS_PUBLIC_BASE_URL"
    note = "reports API, downloads and dashboards (docs at /docs)"

    @property
    def is_external(self) -> bool:
        base = self.settings.public_base_url
        return base is not None and not is_loopback(urlsplit(base).hostname or "")

    @property
    def port(self) -> int:
        return self.settings.api_port

    @property
    def endpoint(self) -> str:
        return f"http://{self.settings.bind_host}:{self.port}"

    def prepare(self) -> None:
        self.settings.artifacts_path.mkdir(parents=True, exist_ok=True)

    def launch(self) -> Launch:
        # No schema check at start: `stack up` migrates once every service is healthy.
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "report_service.api.app:create_app",
            "--host",
            self.settings.bind_host,
            "--port",
            str(self.port),
            "--no-access-log",
        ]
        return Launch(command, self.default_cwd(), self.environment())

    def is_healthy(self, timeout: float) -> bool:
        try:
            return httpx.get(f"{self.endpoint}/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False
